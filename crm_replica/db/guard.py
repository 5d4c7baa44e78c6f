"""Refuse to run when the replica is in fact the master, or when master would hand
over a silently filtered subset of a table (row-level security)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from crm_replica.db.connect import connect, row_security_error
from crm_replica.errors import ReplicaError


@dataclass(frozen=True)
class Identity:
    """What makes a database the same one, whatever URL reaches it."""

    system_identifier: str
    dbname: str
    server_version: str


def identify(conn: psycopg.Connection) -> Identity:
    row = conn.execute(
        "select (select system_identifier::text from pg_control_system()),"
        " current_database(), current_setting('server_version')"
    ).fetchone()
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.rollback()
    return Identity(*row)


def same_database(a: Identity, b: Identity) -> bool:
    return (a.system_identifier, a.dbname) == (b.system_identifier, b.dbname)


def refusal(identity: Identity) -> ReplicaError:
    return ReplicaError(
        "refusing to run: the replica URL reaches the master database itself "
        f"(database {identity.dbname!r} on cluster {identity.system_identifier})"
    )


def refuse_same_database(
    master: psycopg.Connection, replica: psycopg.Connection
) -> Identity:
    """Raise when both connections reach one database; return master's identity."""
    m, r = identify(master), identify(replica)
    if same_database(m, r):
        raise refusal(m)
    return m


#: Tables whose rows the session's role would read through row-level security
#: policies: RLS on, the role neither superuser nor BYPASSRLS, and not the owner
#: (or the owner under FORCE ROW LEVEL SECURITY).
_FILTERED = """
select n.nspname, c.relname, pg_get_userbyid(c.relowner)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %s and c.relname = any(%s) and c.relrowsecurity
  and not exists (
      select from pg_roles r
      where r.rolname = current_user and (r.rolsuper or r.rolbypassrls))
  and (c.relforcerowsecurity or not pg_has_role(current_user, c.relowner, 'USAGE'))
order by c.relname
"""


def refuse_row_security(
    conn: psycopg.Connection, schema: str, tables: Sequence[str]
) -> None:
    """Raise when reading any of ``schema.tables`` would be filtered by a policy."""
    rows = conn.execute(_FILTERED, (schema, list(tables))).fetchall()
    if rows:
        role = conn.execute("select current_user").fetchone()[0]
        raise row_security_error([f"{s}.{t}" for s, t, _ in rows], role)


def refuse_same_urls(master_url: str, replica_url: str) -> Identity:
    """refuse_same_database over two fresh read-only sessions (nothing written)."""
    with (
        connect(master_url, "master", read_only=True) as master,
        connect(replica_url, "replica", read_only=True) as replica,
    ):
        return refuse_same_database(master, replica)
