"""The sync report: what one run did, read back from the replica's run log.

``gather`` reads ``replica_meta`` (runs, table_loads, deleted_rows, build_results,
sync_steps) and the ``merge_conflicts`` model into a plain ``Report``; ``to_markdown``
and ``to_json`` render it here, ``crm_replica.reports.html.to_html`` as a self-contained
page. Only the replica is read: the report needs no master connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from crm_replica.db import connect_replica, redact
from crm_replica.errors import ReplicaError
from crm_replica.load import META_SCHEMA, verdict
from crm_replica.load import runlog as meta
from crm_replica.settings import DEFAULT_TABLES

#: Runs shown in the sync history (the reported one and those before it).
HISTORY = 30
#: Where dbt builds merge_conflicts (var local_archive_schema), then the fallback.
CONFLICT_SCHEMAS = ("local_archive", "public")
#: dbt node statuses that are not a problem.
OK_STATUSES = frozenset({"success", "pass", "skipped", "no-op"})


@dataclass
class Run:
    run_id: int
    mode: str
    status: str
    master: str
    snapshot_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    schema_changes: list[str]
    error: str | None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class TableLine:
    table: str
    master_rows: int
    replica_rows: int
    master_checksum: str | None
    replica_checksum: str | None
    bytes: int
    seconds: float

    @property
    def match(self) -> str:
        """match, DIFFERS, or "not taken" (a checksum was not recorded)."""
        return verdict(
            self.master_rows,
            self.replica_rows,
            self.master_checksum,
            self.replica_checksum,
        )


@dataclass
class Change:
    table: str
    previous_rows: int
    rows: int

    @property
    def delta(self) -> int:
        return self.rows - self.previous_rows


@dataclass
class Conflict:
    table: str
    id: str
    column: str
    local_value: str | None
    master_value: str | None
    resolution: str


@dataclass
class NodeResult:
    unique_id: str
    status: str
    message: str | None
    seconds: float | None


@dataclass
class Step:
    step: str
    status: str
    seconds: float
    detail: str | None


@dataclass
class HistoryRun:
    run_id: int
    mode: str
    status: str
    started_at: datetime
    #: The sync's steps summed where recorded, else the load's duration.
    seconds: float | None


@dataclass
class Report:
    run: Run
    tables: list[TableLine]
    previous_run_id: int | None = None
    changes: list[Change] = field(default_factory=list)
    tables_added: list[str] = field(default_factory=list)
    tables_removed: list[str] = field(default_factory=list)
    #: None: the merge_conflicts model is not built in this replica.
    conflicts: list[Conflict] | None = None
    conflicts_relation: str | None = None
    build: list[NodeResult] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    #: Rows master deleted that this run kept and flagged, per table.
    deleted: dict[str, int] = field(default_factory=dict)
    history: list[HistoryRun] = field(default_factory=list)
    #: This run published the replica's models (a sync's publish, a rollback).
    published: bool = False
    #: The last run that published the replica before this one (None: none had).
    published_before: int | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def build_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.build:
            counts[node.status] = counts.get(node.status, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def build_failures(self) -> list[NodeResult]:
        return [n for n in self.build if n.status not in OK_STATUSES]

    @property
    def mismatches(self) -> list[str]:
        return [t.table for t in self.tables if t.match == "DIFFERS"]


def _q(text: str) -> sql.Composed:
    return sql.SQL(text).format(schema=sql.Identifier(META_SCHEMA))


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    found = conn.execute("select to_regclass(%s) is not null as ok", (relation,))
    return found.fetchone()["ok"]


def _text(value: object) -> str | None:
    return None if value is None else redact(str(value))


def _table_order(name: str) -> tuple[int, str]:
    return (DEFAULT_TABLES.index(name) if name in DEFAULT_TABLES else 99, name)


def gather(replica_url: str, run_id: int | None = None) -> Report:
    """Read the report of ``run_id`` (default: the latest run) from the replica.

    Raises ReplicaError when there is no run log or no such run.
    """
    with connect_replica(replica_url) as conn:
        conn.row_factory = dict_row
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        report = _gather(conn, run_id)
        conn.rollback()
    return report


def _gather(conn: psycopg.Connection, run_id: int | None) -> Report:
    if not _exists(conn, f"{META_SCHEMA}.runs"):
        raise ReplicaError(
            f"no run log in this replica ({META_SCHEMA}.runs is missing): "
            "run `replica sync` first"
        )
    if run_id is None:
        found = conn.execute(_q("select max(run_id) as id from {schema}.runs"))
        run_id = found.fetchone()["id"]
        if run_id is None:
            raise ReplicaError(
                "the run log is empty: nothing has been published yet;"
                " run `replica sync` first"
            )
    row = conn.execute(
        _q("select * from {schema}.runs where run_id = %s"), (run_id,)
    ).fetchone()
    if row is None:
        last = conn.execute(_q("select max(run_id) as id from {schema}.runs"))
        raise ReplicaError(
            f"no run {run_id} in the run log (the last is run {last.fetchone()['id']})"
        )
    run = Run(
        row["run_id"],
        row["mode"],
        row["status"],
        row["master"],
        row["snapshot_at"],
        row["started_at"],
        row["finished_at"],
        list(row["schema_changes"] or []),
        _text(row["error"]),
    )
    report = Report(run, _loads(conn, run_id))
    report.published = meta.published(conn, run_id)
    report.published_before = meta.last_published(conn, before=run_id)
    _changes(conn, report)
    _conflicts(conn, report)
    report.build = [
        NodeResult(r["unique_id"], r["status"], _text(r["message"]), r["seconds"])
        for r in conn.execute(
            _q(
                "select * from {schema}.build_results where run_id = %s"
                " order by unique_id"
            ),
            (run_id,),
        )
    ]
    report.steps = [
        Step(r["step"], r["status"], r["seconds"], _text(r["detail"]))
        for r in conn.execute(
            _q("select * from {schema}.sync_steps where run_id = %s order by ctid"),
            (run_id,),
        )
    ]
    report.deleted = {
        r["table_name"]: r["n"]
        for r in conn.execute(
            _q(
                "select table_name, count(*) as n from {schema}.deleted_rows"
                " where run_id = %s group by table_name order by table_name"
            ),
            (run_id,),
        )
    }
    report.history = [
        HistoryRun(
            r["run_id"],
            r["mode"],
            r["status"],
            r["started_at"],
            None if r["seconds"] is None else float(r["seconds"]),
        )
        for r in reversed(
            conn.execute(
                _q(
                    "select run_id, mode, status, started_at, coalesce((select"
                    " sum(s.seconds) from {schema}.sync_steps as s where s.run_id"
                    " = r.run_id), extract(epoch from finished_at - started_at))"
                    " as seconds from {schema}.runs as r"
                    " where run_id <= %s order by run_id desc limit %s"
                ),
                (run_id, HISTORY),
            ).fetchall()
        )
    ]
    return report


def _loads(conn: psycopg.Connection, run_id: int) -> list[TableLine]:
    rows = conn.execute(
        _q("select * from {schema}.table_loads where run_id = %s"), (run_id,)
    ).fetchall()
    lines = [
        TableLine(
            r["table_name"],
            r["master_rows"],
            r["replica_rows"],
            None if r["master_checksum"] is None else str(r["master_checksum"]),
            None if r["replica_checksum"] is None else str(r["replica_checksum"]),
            r["bytes"],
            r["seconds"],
        )
        for r in rows
    ]
    return sorted(lines, key=lambda t: _table_order(t.table))


def _changes(conn: psycopg.Connection, report: Report) -> None:
    """Row counts against the previous succeeded run's loads."""
    previous = conn.execute(
        _q(
            "select max(run_id) as id from {schema}.runs"
            " where status = 'succeeded' and run_id < %s"
        ),
        (report.run.run_id,),
    ).fetchone()["id"]
    report.previous_run_id = previous
    if previous is None or not report.tables:
        return
    before = {
        r["table_name"]: r["master_rows"]
        for r in conn.execute(
            _q(
                "select table_name, master_rows from {schema}.table_loads"
                " where run_id = %s"
            ),
            (previous,),
        )
    }
    now = {t.table: t.master_rows for t in report.tables}
    report.changes = [Change(t, before[t], now[t]) for t in now if t in before]
    report.tables_added = [t for t in now if t not in before]
    report.tables_removed = sorted(
        (t for t in before if t not in now), key=_table_order
    )


def _conflicts(conn: psycopg.Connection, report: Report) -> None:
    for schema in CONFLICT_SCHEMAS:
        name = sql.Identifier(schema, "merge_conflicts")
        if not _exists(conn, name.as_string(conn)):
            continue
        report.conflicts_relation = f"{schema}.merge_conflicts"
        conflicts = [
            Conflict(
                r["table_name"],
                str(r["id"]),
                r["column_name"],
                r["local_value"],
                r["master_value"],
                r["resolution"],
            )
            for r in conn.execute(
                sql.SQL(
                    "select * from {} order by table_name, id::text, column_name"
                ).format(name)
            )
        ]
        report.conflicts = sorted(conflicts, key=lambda c: _table_order(c.table))
        return


# --- renderings --------------------------------------------------------------
