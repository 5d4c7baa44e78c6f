"""The checks: verify (counts and checksums against master or the snapshot) and
status (what changed on master since the last sync)."""

from __future__ import annotations

from crm_replica.checks.status import parse_duration
from crm_replica.checks.verify import against_loads

__all__ = [
    "against_loads",
    "parse_duration",
]
