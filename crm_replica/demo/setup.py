"""Set up the demo: a synthetic master, and the application's database the
replica lives in.

The synthetic master is written only into a database that is empty of the CRM's
tables or that the demo itself filled before (it leaves a ``synthetic.generated``
marker): never into a real master.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from crm_replica.db import connect
from crm_replica.demo import application, synthetic
from crm_replica.errors import ReplicaError
from crm_replica.settings import CRM_TABLES, CRM_TIME_ZONE, DASHBOARD_VIEWS

MARKER = "synthetic.generated"
_DROP_ORDER = DASHBOARD_VIEWS + ("message_queue",) + tuple(reversed(CRM_TABLES))


def _exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]


def ensure_master(
    url: str,
    seed: int,
    scale: int,
    on_rows: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    time_zone: str = CRM_TIME_ZONE,
) -> str:
    """Create the synthetic master at ``url`` unless the same one is there.

    ``on_total`` hears how many rows will be written, ``on_rows`` each batch;
    "today"'s leads are the CRM's (``time_zone``). Returns "created" or "reused".
    """
    with connect(url, "demo master", read_only=False, autocommit=True) as conn:
        if _exists(conn, MARKER):
            row = conn.execute(f"select seed, scale from {MARKER}").fetchone()
            if row == (seed, scale):
                return "reused"
        elif any(_exists(conn, f"public.{t}") for t in CRM_TABLES):
            raise ReplicaError(
                "refusing to write the synthetic master: that database already holds "
                "CRM tables the demo did not create"
            )
        conn.autocommit = False
        with conn.transaction():
            for name in _DROP_ORDER:
                kind = "view" if name in DASHBOARD_VIEWS else "table"
                conn.execute(
                    sql.SQL(f"drop {kind} if exists {{}}").format(
                        sql.Identifier("public", name)
                    )
                )
            conn.execute("drop schema if exists synthetic cascade")
        rows = synthetic.master_rows(seed=seed, scale=scale, time_zone=time_zone)
        if on_total:
            on_total(sum(len(t) for t in rows.tables.values()))
        synthetic.create_master(conn, rows, on_rows)
        with conn.transaction():
            conn.execute("create schema synthetic")
            conn.execute(
                f"create table {MARKER} (seed integer, scale integer,"
                " generated_at timestamptz default now())"
            )
            conn.execute(
                f"insert into {MARKER} (seed, scale) values (%s, %s)", (seed, scale)
            )
    return "created"


def ensure_application(replica_url: str, master_url: str, seed: int) -> bool:
    """Make a brand-new replica database the CRM application's own, in small
    (crm_replica.demo.application: its tables, legacy rows, memberships, policies,
    grants, a webhook trigger, a view, the realtime publication), as a developer's
    local Supabase project is before its first sync.

    Only when the replica has never been synced (no run in its log, no archive, no
    leads or clients table); returns True when it created them. Supabase's API
    roles are made where they are missing (the replica's server is the demo's).
    """
    with connect(replica_url, "replica", read_only=False) as replica:
        # A run log with no run in it is not a sync: a command's run lock makes
        # the schema before anything runs.
        synced = (
            replica.execute(
                "select to_regclass('replica_meta.runs') is not null"
            ).fetchone()[0]
            and replica.execute(
                "select exists (select from replica_meta.runs)"
            ).fetchone()[0]
        )
        fresh = not synced and not any(
            replica.execute(
                "select to_regnamespace(%s) is not null or to_regclass(%s) is not null",
                (schema, table),
            ).fetchone()[0]
            for schema, table in (
                ("local_archive", "public.leads"),
                ("local_archive", "public.clients"),
            )
        )
        replica.rollback()
        if not fresh:
            return False
        with replica.transaction():
            application.create_roles(replica)
        application.create(replica, master_ids(master_url), seed)
    return True


def master_ids(master_url: str) -> dict[str, list]:
    """Master's client, project and lead ids (the legacy local rows reuse some)."""
    with connect(master_url, "master", read_only=True) as master:
        return {
            t: [
                r[0]
                for r in master.execute(
                    sql.SQL("select id from {} order by id").format(
                        sql.Identifier("public", t)
                    )
                ).fetchall()
            ]
            for t in ("clients", "projects", "leads")
        }
