"""analyze: master's schema and rows against the replica's (compare), and the DDL,
report and plan written from that (write)."""

from __future__ import annotations

from crm_replica.analyze.write import (
    DDL_FILE,
    PLAN_FILE,
    REPORT_FILE,
)

__all__ = [
    "DDL_FILE",
    "PLAN_FILE",
    "REPORT_FILE",
]
