"""The replica's metadata schema: one row per run, one per table loaded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

META_SCHEMA = "replica_meta"
#: Serialises runs on one replica (pg_advisory_lock key).
RUN_LOCK_KEY = 0x43524D52  # "CRMR"

DDL = """
create schema if not exists {schema};
create table if not exists {schema}.runs (
    run_id bigint generated always as identity primary key,
    mode text not null,
    status text not null,
    master text not null,
    master_version text,
    landing_schema text not null,
    snapshot_at timestamptz,
    started_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    schema_changes text[] not null default '{{}}',
    error text
);
alter table {schema}.runs
    add column if not exists schema_changes text[] not null default '{{}}';
-- What built the run's models (settings.fingerprint): a sync builds only what
-- changed on a generation built by the same project.
alter table {schema}.runs add column if not exists project_fingerprint text;
alter table {schema}.runs drop constraint if exists runs_status_check;
alter table {schema}.runs drop constraint if exists runs_status;
alter table {schema}.runs add constraint runs_status
    check (status in ('running', 'succeeded', 'failed', 'abandoned'));
create table if not exists {schema}.table_loads (
    run_id bigint not null references {schema}.runs (run_id) on delete cascade,
    table_name text not null,
    master_rows bigint not null,
    master_checksum numeric,  -- null for views: volatile columns (ids, now())
    replica_rows bigint not null,
    replica_checksum numeric,  -- null when not taken (incremental runs)
    bytes bigint not null,
    seconds double precision not null,
    primary key (run_id, table_name)
);
alter table {schema}.table_loads alter column replica_checksum drop not null;
alter table {schema}.table_loads add column if not exists cursor_column text;
-- The cursor's highest value loaded, as text: where the next incremental run starts.
alter table {schema}.table_loads add column if not exists cursor_max text;
create table if not exists {schema}.deleted_rows (
    table_name text not null,
    key jsonb not null,
    run_id bigint not null,
    detected_at timestamptz not null default now(),
    primary key (table_name, key)
);
-- One row per dbt node of the build that followed a run (replica sync).
create table if not exists {schema}.build_results (
    run_id bigint not null references {schema}.runs (run_id) on delete cascade,
    unique_id text not null,
    status text not null,
    message text,
    seconds double precision,
    primary key (run_id, unique_id)
);
-- What a sync did, step by step: backup, extract-load, build, verify.
create table if not exists {schema}.sync_steps (
    run_id bigint not null references {schema}.runs (run_id) on delete cascade,
    step text not null,
    status text not null check (status in ('succeeded', 'failed', 'skipped')),
    seconds double precision not null,
    detail text,
    primary key (run_id, step)
);
"""


def verdict(
    master_rows: int,
    replica_rows: int,
    master_checksum: object,
    replica_checksum: object,
) -> str:
    """How a table compares: match, DIFFERS, or "not taken" (counts equal, but a
    checksum was not taken on one side: merged tables, master's views)."""
    if master_rows != replica_rows:
        return "DIFFERS"
    if master_checksum is None or replica_checksum is None:
        return "not taken"
    return "match" if master_checksum == replica_checksum else "DIFFERS"


@dataclass
class TableLoad:
    table_name: str
    master_rows: int
    master_checksum: int | None
    replica_rows: int
    replica_checksum: int | None
    bytes: int
    seconds: float
    cursor_column: str | None = None
    cursor_max: object = None
    #: Rows a merge inserted, updated or deleted (not recorded; None: the table
    #: was loaded whole).
    changed_rows: int | None = None

    @property
    def verdict(self) -> str:
        return verdict(
            self.master_rows,
            self.replica_rows,
            self.master_checksum,
            self.replica_checksum,
        )

    @property
    def matches(self) -> bool:
        """Counts equal, and checksums too where master's could be taken."""
        return self.master_rows == self.replica_rows and self.master_checksum in (
            None,
            self.replica_checksum,
        )


def _q(text: str) -> sql.Composed:
    return sql.SQL(text).format(schema=sql.Identifier(META_SCHEMA))


def ensure_schema(conn: psycopg.Connection) -> None:
    with conn.transaction():
        # Serialise concurrent first runs creating the schema.
        conn.execute("select pg_advisory_xact_lock(%s)", (RUN_LOCK_KEY + 1,))
        conn.execute(_q(DDL))


def abandon_running(conn: psycopg.Connection) -> list[int]:
    """Mark runs still ``running`` as abandoned (call with the run lock held: no
    run is going on, so they were stopped without finishing)."""
    return [
        r[0]
        for r in conn.execute(
            _q(
                "update {schema}.runs set status = 'abandoned', finished_at ="
                " clock_timestamp(), error = coalesce(error, 'stopped without"
                " finishing (killed?); nothing it loaded was kept')"
                " where status = 'running' returning run_id"
            )
        ).fetchall()
    ]


def start_run(conn: psycopg.Connection, mode: str, master: str, landing: str) -> int:
    with conn.transaction():
        row = conn.execute(
            _q(
                "insert into {schema}.runs (mode, status, master, landing_schema)"
                " values (%s, 'running', %s, %s) returning run_id"
            ),
            (mode, master, landing),
        ).fetchone()
    return int(row[0])


def record_load(
    conn: psycopg.Connection,
    run_id: int,
    *,
    master_version: str,
    snapshot_at: datetime,
    loads: list[TableLoad],
    notes: list[str] | None = None,
) -> None:
    """Record what a run loaded, its snapshot and its figures; the run stays
    ``running`` (a sync's build reads them before the publish)."""
    conn.execute(
        _q(
            "update {schema}.runs set snapshot_at = %s, master_version = %s,"
            " schema_changes = %s where run_id = %s"
        ),
        (snapshot_at, master_version, notes or [], run_id),
    )
    with conn.cursor() as cur:
        cur.executemany(
            _q(
                "insert into {schema}.table_loads (run_id, table_name, master_rows,"
                " master_checksum, replica_rows, replica_checksum, bytes, seconds,"
                " cursor_column, cursor_max)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            [
                (
                    run_id,
                    t.table_name,
                    t.master_rows,
                    t.master_checksum,
                    t.replica_rows,
                    t.replica_checksum,
                    t.bytes,
                    t.seconds,
                    t.cursor_column,
                    None if t.cursor_max is None else str(t.cursor_max),
                )
                for t in loads
            ],
        )


def succeed(
    conn: psycopg.Connection, run_id: int, notes: list[str] | None = None
) -> None:
    """The run is what the replica holds now (the publishing transaction's)."""
    conn.execute(
        _q(
            "update {schema}.runs set status = 'succeeded', finished_at ="
            " clock_timestamp(), schema_changes = schema_changes || %s::text[]"
            " where run_id = %s"
        ),
        (notes or [], run_id),
    )


def fail_run(conn: psycopg.Connection, run_id: int, error: str) -> None:
    with conn.transaction():
        conn.execute(
            _q(
                "update {schema}.runs set status = 'failed', finished_at ="
                " clock_timestamp(), error = %s where run_id = %s"
            ),
            (error, run_id),
        )


def unfinished_runs(
    conn: psycopg.Connection, after: int
) -> list[tuple[int, str, str | None]]:
    """Runs after run ``after`` that did not succeed: (run, status, error). A run
    the log calls running while no run holds the lock was stopped without
    finishing: it shows as abandoned (the next writing run records it so)."""
    if not conn.execute(
        "select to_regclass(%s) is not null", (f"{META_SCHEMA}.runs",)
    ).fetchone()[0]:
        return []
    locked = conn.execute(
        "select exists (select from pg_locks where locktype = 'advisory'"
        " and granted and classid = 0 and objid = %s and database ="
        " (select oid from pg_database where datname = current_database()))",
        (RUN_LOCK_KEY,),
    ).fetchone()[0]
    rows = conn.execute(
        _q(
            "select run_id, status, error from {schema}.runs"
            " where run_id > %s and status <> 'succeeded' order by run_id"
        ),
        (after,),
    ).fetchall()
    return [
        (run, "abandoned" if status == "running" and not locked else status, error)
        for run, status, error in rows
    ]


def loads_of(conn: psycopg.Connection, run_id: int) -> dict[str, TableLoad]:
    """Run ``run_id``'s table loads by table."""
    rows = conn.execute(
        _q(
            "select table_name, master_rows, master_checksum, replica_rows,"
            " replica_checksum, bytes, seconds from {schema}.table_loads"
            " where run_id = %s"
        ),
        (run_id,),
    ).fetchall()
    return {
        r[0]: TableLoad(r[0], r[1], _int(r[2]), r[3], _int(r[4]), r[5], r[6])
        for r in rows
    }


def fingerprint_of(conn: psycopg.Connection, run_id: int) -> str | None:
    row = conn.execute(
        _q("select project_fingerprint from {schema}.runs where run_id = %s"),
        (run_id,),
    ).fetchone()
    return row[0] if row else None


def set_fingerprint(
    conn: psycopg.Connection, run_id: int, fingerprint: str | None
) -> None:
    conn.execute(
        _q("update {schema}.runs set project_fingerprint = %s where run_id = %s"),
        (fingerprint, run_id),
    )


def last_loads(conn: psycopg.Connection) -> list[TableLoad]:
    """The table loads of the latest succeeded run (empty before the first)."""
    rows = conn.execute(
        _q(
            "select table_name, master_rows, master_checksum, replica_rows,"
            " replica_checksum, bytes, seconds from {schema}.table_loads"
            " where run_id = (select max(run_id) from {schema}.runs"
            " where status = 'succeeded') order by table_name"
        )
    ).fetchall()
    return [
        TableLoad(
            r[0],
            r[1],
            _int(r[2]),
            r[3],
            _int(r[4]),
            r[5],
            r[6],
        )
        for r in rows
    ]


#: A run whose models were published: a sync whose publishing transaction
#: committed (it records the run's steps, ``publish`` among them, in that very
#: transaction), or a rollback. An extract-load alone publishes landing tables only.
_PUBLISHED = (
    "runs.status = 'succeeded' and (runs.mode = 'rollback' or exists (select from"
    " {schema}.sync_steps as steps where steps.run_id = runs.run_id"
    " and steps.step = 'publish' and steps.status = 'succeeded'))"
)


def _tuples(conn: psycopg.Connection) -> psycopg.Cursor:
    """A cursor with plain rows, whatever the connection's row factory."""
    return conn.cursor(row_factory=tuple_row)


def has_run_log(conn: psycopg.Connection) -> bool:
    found = _tuples(conn).execute(
        "select to_regclass(%s) is not null and to_regclass(%s) is not null",
        (f"{META_SCHEMA}.runs", f"{META_SCHEMA}.sync_steps"),
    )
    return found.fetchone()[0]


def last_published(conn: psycopg.Connection, before: int | None = None) -> int | None:
    """The latest run that published the replica's models (a sync or a rollback;
    before run ``before`` when given); None: nothing was ever published (or there
    is no run log)."""
    if not has_run_log(conn):
        return None
    query = _q(
        "select max(run_id) from {schema}.runs as runs where "
        + _PUBLISHED
        + " and run_id < coalesce(%s, 'infinity'::numeric)"
    )
    return _int(_tuples(conn).execute(query, (before,)).fetchone()[0])


def published(conn: psycopg.Connection, run_id: int) -> bool:
    """Whether run ``run_id`` published the replica's models."""
    if not has_run_log(conn):
        return False
    query = _q(
        "select exists (select from {schema}.runs as runs where run_id = %s and "
        + _PUBLISHED
        + ")"
    )
    return _tuples(conn).execute(query, (run_id,)).fetchone()[0]


def models_published(conn: psycopg.Connection) -> bool:
    """Whether the replica's models were ever published: by a sync or a rollback,
    or by ``replica build``, which records what it published (the
    ``published`` table, crm_replica.sync.publish) but no run."""
    if last_published(conn) is not None:
        return True
    found = _tuples(conn).execute(
        "select to_regclass(%s) is not null", (f"{META_SCHEMA}.published",)
    )
    if not found.fetchone()[0]:
        return False
    query = _q("select exists (select from {schema}.published)")
    return _tuples(conn).execute(query).fetchone()[0]


def last_cursor(
    conn: psycopg.Connection, table: str, column: str, run_id: int | None = None
) -> str | None:
    """The highest cursor value loaded for ``table`` by run ``run_id`` (default:
    the latest succeeded run that recorded one for ``column``); None: none did."""
    if run_id is not None:
        row = conn.execute(
            _q(
                "select cursor_max from {schema}.table_loads where run_id = %s"
                " and table_name = %s and cursor_column = %s"
            ),
            (run_id, table, column),
        ).fetchone()
        return row[0] if row else None
    row = conn.execute(
        _q(
            "select loads.cursor_max from {schema}.table_loads as loads"
            " join {schema}.runs as runs using (run_id)"
            " where runs.status = 'succeeded' and loads.table_name = %s"
            " and loads.cursor_column = %s order by loads.run_id desc limit 1"
        ),
        (table, column),
    ).fetchone()
    return row[0] if row else None


def _int(value: object) -> int | None:
    return None if value is None else int(value)
