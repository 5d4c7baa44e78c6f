"""What a run is: its target, snapshot, progress and result, shared by the load's
whole-table and merging paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql

from crm_replica.db import catalog
from crm_replica.errors import ReplicaError
from crm_replica.load import runlog as meta
from crm_replica.settings.schemas import CRM_TIME_ZONE


@dataclass
class RunResult:
    run_id: int
    mode: str
    snapshot_at: datetime
    loads: list[meta.TableLoad]
    schema_changes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(load.matches for load in self.loads)


class Progress:
    """What a run reports as it goes; the CLI draws it, tests may watch it."""

    def table_started(self, table: str, size: int) -> None:
        """``size`` is master's estimate of the table's bytes (0 for a view)."""

    def table_advanced(self, table: str, nbytes: int) -> None:
        """Another ``nbytes`` of the table's COPY stream went through."""

    def table_done(self, table: str, load: meta.TableLoad) -> None:
        """The table is loaded (not yet visible: the swap comes at the end)."""


class Cancelled(Exception):
    """Another worker failed: stop this one."""


@dataclass(frozen=True)
class Target:
    """Where a run loads and what it does at the end.

    ``schema``: where the tables land; ``types``: where master's enums, domains,
    composite and range types are made (the live landing schema: tables anywhere
    may use them, and they are never moved); ``publish``: swap the tables in and
    record the run succeeded when they are loaded (``replica extract-load``), or
    leave them there for the sync to build on and publish with everything else;
    ``since_run``: the run whose loads the tables at ``schema`` hold (incremental
    runs start from its cursors; None: the latest succeeded run's); ``time_zone``:
    the CRM's, in which master's views are read (they count "today" in their
    session's time zone).
    """

    schema: str
    types: str
    publish: bool = True
    since_run: int | None = None
    time_zone: str = CRM_TIME_ZONE

    @classmethod
    def live(cls, landing: str, time_zone: str = CRM_TIME_ZONE) -> Target:
        return cls(landing, landing, time_zone=time_zone)

    def columns_before(
        self, conn: psycopg.Connection, table: str
    ) -> list[catalog.Column]:
        """The columns ``table`` had before the run, for its schema notes: where
        it lands, else in the live landing schema (a sync lands beside it, in a
        build area that starts empty)."""
        return catalog.landing_columns(
            conn, self.schema, table
        ) or catalog.landing_columns(conn, self.types, table)


@dataclass
class Snapshot:
    """The coordinator's view of master: its exported snapshot and identity."""

    id: str
    taken_at: datetime
    server_version: str


def begin_snapshot(conn: psycopg.Connection, snapshot_id: str | None) -> None:
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    if snapshot_id:
        conn.execute(
            sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot_id))
        )


def refuse_mismatches(loads: list[meta.TableLoad]) -> None:
    """Raise when a table's count or checksum differs from master's snapshot."""
    bad = [t.table_name for t in loads if not t.matches]
    if bad:
        raise ReplicaError(
            "replica differs from the master snapshot after loading: " + ", ".join(bad)
        )


def finish(
    conn: psycopg.Connection,
    run_id: int,
    mode: str,
    snapshot: Snapshot,
    loads: list[meta.TableLoad],
    notes: list[str],
    target: Target,
) -> RunResult:
    """Record what the run loaded (in the caller's transaction), and the run as
    succeeded when the target publishes; a sync's publish records that later."""
    meta.record_load(
        conn,
        run_id,
        master_version=snapshot.server_version,
        snapshot_at=snapshot.taken_at,
        loads=loads,
        notes=notes,
    )
    if target.publish:
        meta.succeed(conn, run_id)
    return RunResult(run_id, mode, snapshot.taken_at, loads, notes)
