"""What changed on master since the last succeeded sync, without copying data.

Per table, from one read-only master snapshot: rows added (``created_at`` after
the run's snapshot), changed (``updated_at`` after it, created before), and
deleted (the rows recorded by the run that are no longer counted: recorded minus
the rows master still has from before the snapshot). Tables without those columns
fall back to the net change of their count; ``checksums=True`` also compares each
table's content checksum with the one the run recorded, which catches changes the
cursors cannot see (an update that left ``updated_at`` alone) at the cost of
reading every row. Schema changes compare master's columns, typed as a load would
land them (db.landtypes: a recreated enum, a column held as text), with the
landing tables'. Staleness is master's ``now()`` minus the run's snapshot time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from crm_replica import format as summary
from crm_replica.db import (
    TypeLanding,
    connect_master,
    connect_replica,
    count_and_checksum,
    describe_relation,
    landing_columns,
    refuse_row_security,
    same_type,
)
from crm_replica.load import runlog as meta
from crm_replica.settings import DEFAULT_TABLES, MASTER_SCHEMA

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``"24h"``, ``"90m"``, ``"1d12h"``, ``"3600s"`` -> a timedelta."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration like 24h, 90m, 2d or 1d12h")
    return sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), timedelta())


def format_age(age: timedelta) -> str:
    """A short human age: ``45s``, ``12m``, ``3h 05m``, ``2d 04h``."""
    seconds = max(0, int(age.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else f"{secs}s"


@dataclass
class TableStatus:
    table: str
    kind: str  # "table", "view", or "missing" (gone from master)
    synced_rows: int
    master_rows: int | None
    added: int | None = None
    changed: int | None = None
    deleted: int | None = None
    estimated_by: str = ""  # "created_at, updated_at", "count", …
    content: str | None = None  # "same" / "changed" with checksums, else None
    schema_changes: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(
            self.added
            or self.changed
            or self.deleted
            or self.schema_changes
            or self.content == "changed"
            or self.kind == "missing"
            or self.master_rows != self.synced_rows
        )


@dataclass
class StatusResult:
    run_id: int | None
    snapshot_at: datetime | None
    finished_at: datetime | None
    checked_at: datetime | None
    tables: list[TableStatus]
    max_age: timedelta | None = None
    #: Runs after the last succeeded one that did not succeed: (run, status, error).
    unfinished: list[tuple[int, str, str | None]] = field(default_factory=list)
    #: ``run_id`` is a sync (or rollback) that published the replica; False: none
    #: ever did, and ``run_id`` (if any) is the last extract-load, which loaded the
    #: landing tables only.
    published: bool = True

    @property
    def age(self) -> timedelta | None:
        if self.snapshot_at is None or self.checked_at is None:
            return None
        return self.checked_at - self.snapshot_at

    @property
    def stale(self) -> bool:
        """Nothing published yet, or synced longer ago than ``max_age``."""
        if self.run_id is None or not self.published:
            return True
        return (
            self.max_age is not None
            and self.age is not None
            and (self.age > self.max_age)
        )

    @property
    def changed_tables(self) -> list[str]:
        return [t.table for t in self.tables if t.has_changes]


def _last_run(replica: psycopg.Connection) -> tuple[tuple | None, bool]:
    """The run to compare master with, and whether it published: the last sync
    (or rollback) that published the replica; when none did, the last succeeded
    extract-load (what the landing tables hold). (None, False): no run at all."""
    if not meta.has_run_log(replica):
        return None, False
    published = meta.last_published(replica)
    row = replica.execute(
        sql.SQL(
            "select run_id, snapshot_at, finished_at, landing_schema from {}.runs"
            " where status = 'succeeded' and run_id = coalesce(%s, (select"
            " max(run_id) from {}.runs where status = 'succeeded'))"
        ).format(sql.Identifier(meta.META_SCHEMA), sql.Identifier(meta.META_SCHEMA)),
        (published,),
    ).fetchone()
    return row, published is not None


def _columns(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    return {c.name: c.type for c in landing_columns(conn, schema, table)}


def _schema_changes(master: dict[str, str], landing: dict[str, str]) -> list[str]:
    """``master``: master's columns with the types they land as."""
    if not landing:
        return ["not loaded in the replica"]
    changes = [f"+{c} {t}" for c, t in master.items() if c not in landing]
    changes += [f"-{c}" for c in landing if c not in master]
    changes += [
        f"{c} {landing[c]} -> {t}"
        for c, t in master.items()
        if c in landing and not same_type(landing[c], t)
    ]
    return changes


def _estimate(
    master: psycopg.Connection,
    table: str,
    columns: dict[str, str],
    synced_rows: int,
    snapshot_at: datetime,
) -> TableStatus:
    has_created = "created_at" in columns
    has_updated = "updated_at" in columns
    new = sql.SQL("created_at > %(snap)s")
    old = sql.SQL("(created_at is null or created_at <= %(snap)s)")
    query = sql.SQL("select count(*), {}, {} from {}").format(
        sql.SQL("count(*) filter (where {})").format(new)
        if has_created
        else sql.SQL("null"),
        sql.SQL("count(*) filter (where updated_at > %(snap)s and {})").format(
            old if has_created else sql.SQL("true")
        )
        if has_updated
        else sql.SQL("null"),
        sql.Identifier(MASTER_SCHEMA, table),
    )
    rows, new_rows, changed = master.execute(query, {"snap": snapshot_at}).fetchone()
    status = TableStatus(table, "table", synced_rows, rows, changed=changed)
    if has_created:
        still_there = rows - new_rows
        status.deleted = max(0, synced_rows - still_there)
        # Rows created "before" the snapshot but not in it: back-dated inserts.
        status.added = new_rows + max(0, still_there - synced_rows)
        status.estimated_by = "created_at" + (", updated_at" if has_updated else "")
    else:
        status.added = max(0, rows - synced_rows)
        status.deleted = max(0, synced_rows - rows)
        status.estimated_by = "count" + (", updated_at" if has_updated else "")
    return status


def _table_order(load: meta.TableLoad) -> tuple[int, str]:
    name = load.table_name
    return (DEFAULT_TABLES.index(name) if name in DEFAULT_TABLES else 99, name)


def status(
    master_url: str,
    replica_url: str,
    *,
    checksums: bool = False,
    max_age: timedelta | None = None,
) -> StatusResult:
    """Compare master now with what the last published sync recorded (when no
    sync ever published, with the last extract-load's figures, and say so)."""
    with connect_replica(replica_url) as replica:
        run, published = _last_run(replica)
        loads = list(meta.loads_of(replica, run[0]).values()) if run else []
        landing = {t.table_name: _columns(replica, run[3], t.table_name) for t in loads}
        unfinished = meta.unfinished_runs(replica, run[0] if run else 0)
        replica.rollback()
    if run is None:
        return StatusResult(None, None, None, None, [], max_age, unfinished, False)
    run_id, snapshot_at, finished_at, landing_schema = run
    with (
        connect_master(master_url) as master,
        connect_replica(replica_url) as replica,
        # How master's types would land, tried and undone.
        replica.transaction(force_rollback=True),
    ):
        master.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        master.read_only = True
        checked_at = master.execute("select now()").fetchone()[0]
        refuse_row_security(master, MASTER_SCHEMA, [t.table_name for t in loads])
        types = TypeLanding(master, replica, landing_schema, dry_run=True)
        tables = [
            _table_status(
                master, types, load, landing[load.table_name], snapshot_at, checksums
            )
            for load in sorted(loads, key=_table_order)
        ]
        master.rollback()
    return StatusResult(
        run_id,
        snapshot_at,
        finished_at,
        checked_at,
        tables,
        max_age,
        unfinished,
        published,
    )


def _table_status(
    master: psycopg.Connection,
    types: TypeLanding,
    load: meta.TableLoad,
    landing: dict[str, str],
    snapshot_at: datetime,
    checksums: bool,
) -> TableStatus:
    table = load.table_name
    kind = master.execute(
        "select c.relkind::text from pg_class c join pg_namespace n"
        " on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s",
        (MASTER_SCHEMA, table),
    ).fetchone()
    if kind is None:
        return TableStatus(
            table,
            "missing",
            load.master_rows,
            None,
            deleted=load.master_rows,
            schema_changes=["table gone from master"],
        )
    columns = _columns(master, MASTER_SCHEMA, table)
    if kind[0] not in ("r", "p", "m") or load.master_checksum is None:
        rows = master.execute(
            sql.SQL("select count(*) from {}").format(
                sql.Identifier(MASTER_SCHEMA, table)
            )
        ).fetchone()[0]
        result = TableStatus(table, "view", load.master_rows, rows)
        result.estimated_by = "count (a view)"
    else:
        result = _estimate(master, table, columns, load.master_rows, snapshot_at)
        if checksums:
            _, checksum = count_and_checksum(master, MASTER_SCHEMA, table)
            result.content = "same" if checksum == load.master_checksum else "changed"
    landed = describe_relation(master, MASTER_SCHEMA, table, types).columns
    result.schema_changes = _schema_changes({c.name: c.type for c in landed}, landing)
    return result


def _unfinished_lines(result: StatusResult) -> list[str]:
    return [
        f"run {run} {status}" + (f": {error}" if error else "")
        for run, status, error in result.unfinished
    ]


#: What status says of a replica no sync has published.
NOTHING_PUBLISHED = "nothing published yet: no sync has succeeded on this replica"


def to_text(result: StatusResult) -> str:
    if result.run_id is None:
        return "\n".join(
            [
                f"{NOTHING_PUBLISHED}"
                " (never synced: no succeeded run in replica_meta.runs)"
            ]
            + _unfinished_lines(result)
        )
    assert result.snapshot_at and result.age is not None
    snapshot = (
        f"master snapshot at {result.snapshot_at:%Y-%m-%d %H:%M:%S %Z}"
        f" ({format_age(result.age)} ago)"
    )
    since = "the sync" if result.published else "the load"
    lines = [
        f"last published sync: run {result.run_id}, {snapshot}"
        if result.published
        else f"{NOTHING_PUBLISHED}; last extract-load (landing tables only):"
        f" run {result.run_id}, {snapshot}",
        *_unfinished_lines(result),
    ]
    numbers = [
        _right([getattr(t, name) for t in result.tables])
        for name in ("synced_rows", "master_rows", "added", "changed", "deleted")
    ]
    rows = [
        (t.table, *(col[i] for col in numbers), t.content or "-")
        + ("; ".join(t.schema_changes),)
        for i, t in enumerate(result.tables)
    ]
    headers = ["table", "synced", "master", "added", "changed", "deleted"]
    lines.append(summary.table([*headers, "content", "schema"], rows))
    changed = result.changed_tables
    lines.append(
        f"\nmaster changed since {since}: {', '.join(changed)}"
        if changed
        else f"\nno change on master since {since}"
    )
    return "\n".join(lines)


def _right(values: list[int | None]) -> list[str]:
    """Numbers as text, right-aligned to one width ("-" where unknown)."""
    text = ["-" if v is None else f"{v:,}" for v in values]
    width = max((len(t) for t in text), default=0)
    return [t.rjust(width) for t in text]


def to_json(result: StatusResult) -> str:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    age = result.age
    return json.dumps(
        {
            "run_id": result.run_id,
            # run_id published the replica (a sync or a rollback); false: nothing
            # was ever published, run_id (if any) is the last extract-load.
            "published": result.published,
            "snapshot_at": iso(result.snapshot_at),
            "finished_at": iso(result.finished_at),
            "checked_at": iso(result.checked_at),
            "age_seconds": None if age is None else round(age.total_seconds()),
            "max_age_seconds": None
            if result.max_age is None
            else round(result.max_age.total_seconds()),
            "stale": result.stale,
            "unfinished_runs": [
                {"run_id": r, "status": st, "error": e}
                for r, st, e in result.unfinished
            ],
            "changed_tables": result.changed_tables,
            "tables": [
                {
                    "table": t.table,
                    "kind": t.kind,
                    "synced_rows": t.synced_rows,
                    "master_rows": t.master_rows,
                    "added": t.added,
                    "changed": t.changed,
                    "deleted": t.deleted,
                    "estimated_by": t.estimated_by,
                    "content": t.content,
                    "schema_changes": t.schema_changes,
                }
                for t in result.tables
            ],
        },
        indent=2,
    )
