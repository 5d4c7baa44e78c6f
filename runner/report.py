"""The sync report: what one run did, read back from the replica's run log.

``gather`` reads ``replica_meta`` (runs, table_loads, deleted_rows, build_results,
sync_steps) and the ``merge_conflicts`` model into a plain ``Report``; ``to_markdown``
and ``to_json`` render it here, ``runner.report_html.to_html`` as a self-contained
page. Only the replica is read: the report needs no master connection.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from runner.db import connect_replica, redact
from runner.errors import ReplicaError
from runner.meta import META_SCHEMA, verdict
from runner.settings import DEFAULT_TABLES

#: Runs shown in the sync history (the reported one and those before it).
HISTORY = 30
#: Where dbt builds merge_conflicts (var local_archive_schema), then the fallback.
CONFLICT_SCHEMAS = ("local_archive", "public")
#: dbt node statuses that are not a problem.
OK_STATUSES = frozenset({"success", "pass", "skipped", "no-op"})
FORMATS = {"md": ".md", "json": ".json", "html": ".html"}


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
            raise ReplicaError("the run log is empty: run `replica sync` first")
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


def when(value: datetime | None) -> str:
    return "-" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def size(nbytes: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:,} {unit}" if unit == "B" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1000
    raise AssertionError  # pragma: no cover


def signed(value: int) -> str:
    return f"{value:+,}" if value else "0"


def durations(report: Report) -> list[tuple[str, str]]:
    """The load's duration (runs.started_at to finished_at) and, for a sync that
    recorded its steps, the whole sync's (their sum: backup, load, build, …)."""
    load = (
        "load duration" if report.steps else "duration",
        duration(report.run.seconds),
    )
    if not report.steps:
        return [load]
    return [("sync duration", duration(sum(s.seconds for s in report.steps))), load]


def headline(report: Report) -> str:
    """One sentence: how the run went."""
    run = report.run
    if run.status != "succeeded":
        return f"Run {run.run_id} {run.status}" + (
            f": {run.error}" if run.error else ""
        )
    parts = [f"{len(report.tables)} tables loaded"]
    bad = report.mismatches
    parts.append(f"{len(bad)} differ ({', '.join(bad)})" if bad else "all match")
    if report.build:
        failed = len(report.build_failures)
        parts.append(
            f"dbt: {failed} of {len(report.build)} nodes failed"
            if failed
            else f"dbt: {len(report.build)} nodes passed"
        )
    return f"Run {run.run_id} succeeded: " + ", ".join(parts)


def _md_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[object]], right: set[int]) -> str:
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(report: Report) -> str:
    run = report.run
    out = [f"# Sync report: run {run.run_id}", "", f"**{headline(report)}**", ""]
    facts = [
        ("mode", run.mode),
        ("status", run.status),
        ("master", f"`{run.master}`"),
        ("snapshot", when(run.snapshot_at)),
        ("started", when(run.started_at)),
        ("finished", when(run.finished_at)),
        *durations(report),
    ]
    if run.error:
        facts.append(("error", run.error))
    out += [_md_table(["", ""], [list(f) for f in facts], set()), ""]

    out += ["## Tables", ""]
    if report.tables:
        rows = [
            [
                t.table,
                f"{t.master_rows:,}",
                f"{t.replica_rows:,}",
                t.master_checksum or "-",
                t.replica_checksum or "-",
                t.match,
                size(t.bytes),
                f"{t.seconds:.2f}",
            ]
            for t in report.tables
        ]
        headers = ["table", "master rows", "replica rows", "master checksum"]
        headers += ["replica checksum", "match", "bytes", "seconds"]
        out += [_md_table(headers, rows, {1, 2, 6, 7}), ""]
    else:
        out += ["No table was loaded by this run.", ""]

    out += ["## Changes since the previous sync", "", *_md_changes(report), ""]
    out += ["## Conflicts resolved", "", *_md_conflicts(report), ""]
    out += ["## dbt tests", "", *_md_build(report), ""]
    if report.steps:
        rows = [
            [s.step, s.status, f"{s.seconds:.2f}", s.detail or ""] for s in report.steps
        ]
        out += ["## Sync steps", ""]
        out += [_md_table(["step", "status", "seconds", "detail"], rows, {2}), ""]
    out += ["## Deleted rows flagged", ""]
    if report.deleted:
        rows = [[t, f"{n:,}"] for t, n in report.deleted.items()]
        out += [_md_table(["table", "rows"], rows, {1}), ""]
    else:
        out += ["None flagged by this run.", ""]
    out += [
        "## Sync history",
        "",
        "Duration: the sync's steps where recorded, else the load's.",
        "",
    ]
    rows = [
        [h.run_id, h.mode, h.status, when(h.started_at), duration(h.seconds)]
        for h in report.history
    ]
    out += [_md_table(["run", "mode", "status", "started", "duration"], rows, {0, 4})]
    out += ["", f"_Generated {when(report.generated_at)} from `{META_SCHEMA}`._", ""]
    return "\n".join(out)


def _md_changes(report: Report) -> list[str]:
    out = []
    if report.previous_run_id is None:
        out.append("No previous succeeded run to compare with.")
    elif not report.tables:
        out.append("This run loaded no table.")
    else:
        out.append(f"Compared with run {report.previous_run_id} (master rows).")
        out.append("")
        rows = [
            [c.table, f"{c.previous_rows:,}", f"{c.rows:,}", signed(c.delta)]
            for c in report.changes
        ]
        headers = ["table", f"run {report.previous_run_id}", "this run", "change"]
        out.append(_md_table(headers, rows, {1, 2, 3}))
        out.append("")
        out.append("- tables added: " + (", ".join(report.tables_added) or "none"))
        out.append(
            "- tables not loaded this time: "
            + (", ".join(report.tables_removed) or "none")
        )
    changes = report.run.schema_changes
    out.append("- schema changes:" + ("" if changes else " none"))
    out += [f"  - {c}" for c in changes]
    return out


def _md_conflicts(report: Report) -> list[str]:
    if report.conflicts is None:
        return ["`merge_conflicts` is not built in this replica (run `replica build`)."]
    if not report.conflicts:
        return [f"None (`{report.conflicts_relation}` is empty)."]
    rows = [
        [c.table, c.id, c.column, c.local_value, c.master_value, c.resolution]
        for c in report.conflicts
    ]
    headers = ["table", "id", "column", "local value", "master value", "resolution"]
    return [
        f"{len(report.conflicts)} differing columns in `{report.conflicts_relation}`"
        " (as of the latest dbt build):",
        "",
        _md_table(headers, rows, set()),
    ]


def _md_build(report: Report) -> list[str]:
    if not report.build:
        return ["No build recorded for this run."]
    counts = ", ".join(f"{s} {n}" for s, n in report.build_counts.items())
    out = [f"{len(report.build)} nodes: {counts}."]
    failures = report.build_failures
    if failures:
        rows = [
            [n.unique_id, n.status, n.message or "", _seconds(n.seconds)]
            for n in failures
        ]
        out += ["", _md_table(["node", "status", "message", "seconds"], rows, {3})]
    return out


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def to_dict(report: Report) -> dict:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat()

    run = report.run
    return {
        "run": {
            **asdict(run),
            "snapshot_at": iso(run.snapshot_at),
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
            "seconds": run.seconds,
        },
        "headline": headline(report),
        "tables": [{**asdict(t), "match": t.match} for t in report.tables],
        "changes": {
            "previous_run_id": report.previous_run_id,
            "tables": [{**asdict(c), "delta": c.delta} for c in report.changes],
            "tables_added": report.tables_added,
            "tables_removed": report.tables_removed,
            "schema_changes": run.schema_changes,
        },
        "conflicts": {
            "relation": report.conflicts_relation,
            "built": report.conflicts is not None,
            "rows": [asdict(c) for c in report.conflicts or []],
        },
        "build": {
            "recorded": bool(report.build),
            "counts": report.build_counts,
            "failures": [asdict(n) for n in report.build_failures],
            "nodes": [asdict(n) for n in report.build],
        },
        "sync_steps": [asdict(s) for s in report.steps],
        "deleted_rows": report.deleted,
        "history": [
            {**asdict(h), "started_at": iso(h.started_at)} for h in report.history
        ],
        "generated_at": iso(report.generated_at),
    }


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False)


def render(report: Report, fmt: str) -> str:
    if fmt == "md":
        return to_markdown(report)
    if fmt == "json":
        return to_json(report) + "\n"
    if fmt == "html":
        from runner.report_html import to_html

        return to_html(report)
    raise ValueError(f"unknown format {fmt!r}")


def output_paths(out: Path, fmt: str | None, run_id: int) -> dict[str, Path]:
    """Where ``--out`` puts each format: a directory (an existing one, or a name
    without a suffix) gets report-run-N.<ext> for ``fmt`` or all three; a file
    takes ``fmt``, else the format its suffix names, else Markdown."""
    if out.is_dir() or not out.suffix:
        formats = [fmt] if fmt else list(FORMATS)
        return {f: out / f"report-run-{run_id}{FORMATS[f]}" for f in formats}
    by_suffix = {ext: f for f, ext in FORMATS.items()} | {".htm": "html"}
    return {fmt or by_suffix.get(out.suffix.lower(), "md"): out}


def write(report: Report, out: Path, fmt: str | None) -> list[Path]:
    paths = output_paths(out, fmt, report.run.run_id)
    for f, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(report, f), encoding="utf-8")
    return list(paths.values())
