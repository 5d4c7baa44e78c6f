"""Copy master's tables into the replica's landing schema, all from one snapshot.

Master is read in one REPEATABLE READ READ ONLY transaction, so every table comes
from the same instant. Each table streams by binary ``COPY … TO STDOUT`` straight
into ``COPY … FROM STDIN`` on the replica. The whole load is one replica
transaction: a failure anywhere rolls back and leaves the previous load in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql

from runner import meta
from runner.checksum import count_and_checksum
from runner.db import connect_master, connect_replica, database_error, describe, redact
from runner.errors import ReplicaError
from runner.guard import refuse_same_database
from runner.tables import DEFAULT_TABLES, LANDING_SCHEMA, MASTER_SCHEMA


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass
class RunResult:
    run_id: int
    snapshot_at: datetime
    loads: list[meta.TableLoad]
    schema_changes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(load.matches for load in self.loads)


Progress = Callable[[str, meta.TableLoad], None]


def master_columns(
    conn: psycopg.Connection, schema: str, table: str
) -> tuple[str, list[Column]]:
    """The relation's kind (pg_class.relkind) and columns in order."""
    rows = conn.execute(
        "select c.relkind, a.attname, format_type(a.atttypid, a.atttypmod)"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " join pg_attribute a on a.attrelid = c.oid"
        " where n.nspname = %s and c.relname = %s and a.attnum > 0"
        " and not a.attisdropped order by a.attnum",
        (schema, table),
    ).fetchall()
    if not rows:
        raise ReplicaError(f"table {schema}.{table} not found on the master")
    return rows[0][0], [Column(r[1], r[2]) for r in rows]


def _replica_columns(conn: psycopg.Connection, schema: str, table: str) -> list[Column]:
    rows = conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a"
        " where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped"
        " order by a.attnum",
        (sql.Identifier(schema, table).as_string(conn),),
    ).fetchall()
    return [Column(r[0], r[1]) for r in rows]


def _prepare_landing(
    conn: psycopg.Connection, schema: str, table: str, columns: list[Column]
) -> str | None:
    """Empty the landing table, or (re)create it when master's columns differ.

    Returns a note when the landing table's shape changed.
    """
    target = sql.Identifier(schema, table)
    existing = _replica_columns(conn, schema, table)
    if existing == columns:
        conn.execute(sql.SQL("truncate {}").format(target))
        return None
    # Views built on the landing table (dbt staging) go too; dbt build recreates them.
    conn.execute(sql.SQL("drop table if exists {} cascade").format(target))
    conn.execute(
        sql.SQL("create table {} ({})").format(
            target,
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.type))
                for c in columns
            ),
        )
    )
    if not existing:
        return f"{table}: created"
    before = {c.name: c.type for c in existing}
    after = {c.name: c.type for c in columns}
    changes = [f"+{n}" for n in after if n not in before]
    changes += [f"-{n}" for n in before if n not in after]
    changes += [
        f"{n} {before[n]} -> {after[n]}"
        for n in after
        if n in before and before[n] != after[n]
    ]
    return f"{table}: " + (", ".join(changes) or "columns reordered")


def _copy_table(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    source: sql.Composable,
    target: sql.Composable,
    columns: list[Column],
) -> int:
    cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    out = sql.SQL("copy (select {} from {}) to stdout (format binary)").format(
        cols, source
    )
    into = sql.SQL("copy {} ({}) from stdin (format binary)").format(target, cols)
    nbytes = 0
    with (
        master.cursor() as mcur,
        replica.cursor() as rcur,
        mcur.copy(out) as reader,
        rcur.copy(into) as writer,
    ):
        for block in reader:
            writer.write(block)
            nbytes += len(block)
    return nbytes


def _load_table(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    table: str,
    master_schema: str,
    landing: str,
) -> tuple[meta.TableLoad, str | None]:
    started = time.perf_counter()
    kind, columns = master_columns(master, master_schema, table)
    m_rows, m_sum = count_and_checksum(master, master_schema, table)
    if kind not in ("r", "p", "m"):
        # A view may compute volatile values (gen_random_uuid()) on every read, so
        # only its row count can be compared; now() is fixed by the snapshot.
        m_sum = None
    note = _prepare_landing(replica, landing, table, columns)
    nbytes = _copy_table(
        master,
        replica,
        sql.Identifier(master_schema, table),
        sql.Identifier(landing, table),
        columns,
    )
    r_rows, r_sum = count_and_checksum(replica, landing, table)
    load = meta.TableLoad(
        table, m_rows, m_sum, r_rows, r_sum, nbytes, time.perf_counter() - started
    )
    return load, note


def extract_load(
    master_url: str,
    replica_url: str,
    tables: Sequence[str] = DEFAULT_TABLES,
    *,
    master_schema: str = MASTER_SCHEMA,
    landing: str = LANDING_SCHEMA,
    on_table: Progress | None = None,
) -> RunResult:
    """Copy ``tables`` from master into ``landing`` on the replica, atomically.

    Raises ReplicaError (with the run recorded as failed) on any failure, and when
    a table's count or checksum differs after the load.
    """
    with (
        connect_master(master_url) as master,
        connect_replica(replica_url, autocommit=True) as control,
        connect_replica(replica_url) as loader,
    ):
        identity = refuse_same_database(master, control)
        meta.ensure_schema(control)
        if not meta.try_lock_runs(control):
            raise ReplicaError("another run is loading this replica; try again later")
        run_id = meta.start_run(
            control, "full", str(describe(master_url, "master")), landing
        )
        try:
            result = _run(
                master,
                loader,
                run_id,
                tables,
                master_schema,
                landing,
                on_table,
                identity.server_version,
            )
        except BaseException as exc:
            loader.rollback()
            message = (
                exc.message
                if isinstance(exc, ReplicaError)
                else redact(
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                )
            )
            meta.fail_run(control, run_id, message)
            if isinstance(exc, psycopg.Error):
                raise database_error(exc, f"extract-load (run {run_id})") from None
            raise
    return result


def _run(
    master: psycopg.Connection,
    loader: psycopg.Connection,
    run_id: int,
    tables: Sequence[str],
    master_schema: str,
    landing: str,
    on_table: Progress | None,
    master_version: str,
) -> RunResult:
    master.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    master.read_only = True
    snapshot_at = master.execute("select now()").fetchone()[0]
    loader.execute(
        sql.SQL("create schema if not exists {}").format(sql.Identifier(landing))
    )
    loads, notes = [], []
    for table in tables:
        load, note = _load_table(master, loader, table, master_schema, landing)
        loads.append(load)
        if note:
            notes.append(note)
        if on_table:
            on_table(table, load)
    bad = [t.table_name for t in loads if not t.matches]
    if bad:
        raise ReplicaError(
            "replica differs from the master snapshot after loading: " + ", ".join(bad)
        )
    meta.finish_run(
        loader,
        run_id,
        master_version=master_version,
        snapshot_at=snapshot_at,
        loads=loads,
    )
    loader.commit()
    master.rollback()
    return RunResult(run_id, snapshot_at, loads, notes)
