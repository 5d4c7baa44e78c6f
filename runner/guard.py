"""Refuse to run when the replica is in fact the master."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from runner.errors import ReplicaError


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


def refuse_same_database(
    master: psycopg.Connection, replica: psycopg.Connection
) -> Identity:
    """Raise when both connections reach one database; return master's identity."""
    m, r = identify(master), identify(replica)
    if (m.system_identifier, m.dbname) == (r.system_identifier, r.dbname):
        raise ReplicaError(
            f"refusing to run: the replica URL reaches the master database itself "
            f"(database {m.dbname!r} on cluster {m.system_identifier})"
        )
    return m
