"""Extract-load: master's tables into the replica, all from one snapshot: whole
(fresh), merged by cursor or compared row by row (incremental), swapped in
(swap); the run log (runlog) and the run lock (runlock); the engine's entry
point is engine.extract_load."""

from __future__ import annotations

from crm_replica.load.engine import (
    Progress,
    RunResult,
    Target,
    extract_load,
)
from crm_replica.load.runlock import drop_build_area
from crm_replica.load.runlog import (
    META_SCHEMA,
    RUN_LOCK_KEY,
    verdict,
)
from crm_replica.load.swap import (
    View,
    dependent_views,
    recreate_views,
)

__all__ = [
    "META_SCHEMA",
    "Progress",
    "RUN_LOCK_KEY",
    "RunResult",
    "Target",
    "View",
    "dependent_views",
    "drop_build_area",
    "extract_load",
    "recreate_views",
    "verdict",
]
