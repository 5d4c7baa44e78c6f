"""A sync: write, audit, publish (pipeline, publish), generations and rollback
(generations), and dbt (dbt)."""

from __future__ import annotations

from crm_replica.sync.generations import pg_dump_binary

__all__ = [
    "pg_dump_binary",
]
