"""One run at a time holds a replica, for the whole command.

A command that writes to the replica (sync, extract-load, build, backup, rollback,
the demo's replica side) holds a session-level advisory lock on the replica database
from before its first write to its end, on a connection of its own. A second run
refuses at once, naming the holder (its pid and when it started), or waits for it
(``wait``). Holding is re-entrant within a process: the engine's functions take the
lock too, and under a command they find it held.

Whoever takes the lock knows that no other run is going on: runs the log still
calls ``running`` were stopped without finishing (a SIGKILL, a lost machine) and are
marked ``abandoned``, and the tables they were loading are dropped.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from crm_replica.db import connect_replica
from crm_replica.errors import ReplicaError
from crm_replica.load import runlog as meta
from crm_replica.settings import BUILD_PREFIX

#: Names of the tables a run loads before it swaps them in (any schema).
FRESH_PREFIX = "_crm_fresh_"

_held: dict[str, int] = {}
_held_lock = threading.Lock()
#: The backends holding this process's run locks.
_holders: set[int] = set()

_HOLDER = """
select a.pid, a.application_name, a.backend_start
from pg_locks l join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'advisory' and l.granted and l.classid = 0 and l.objid = %s
  and l.database = (select oid from pg_database where datname = current_database())
limit 1
"""


def _holder(conn: psycopg.Connection) -> str:
    """``pid 1234, started at …`` of the run holding the lock, as far as visible."""
    row = conn.execute(_HOLDER, (meta.RUN_LOCK_KEY,)).fetchone()
    if row is None:
        return "unknown"
    pid, application, started = row
    runner_pid = (application or "").rpartition("pid ")[2].rstrip(")")
    who = f"pid {runner_pid}" if runner_pid.isdigit() else f"backend {pid}"
    when = f", started at {started:%Y-%m-%d %H:%M:%S %Z}" if started else ""
    return who + when


def _acquire(conn: psycopg.Connection, wait: float | None) -> None:
    if wait is None:
        taken = conn.execute(
            "select pg_try_advisory_lock(%s)", (meta.RUN_LOCK_KEY,)
        ).fetchone()[0]
        if not taken:
            raise ReplicaError(
                f"another run ({_holder(conn)}) holds this replica; try again "
                "later, or wait for it with --wait"
            )
        return
    conn.execute(
        sql.SQL("set lock_timeout = {}").format(sql.Literal(int(max(wait, 0) * 1000)))
    )
    try:
        conn.execute("select pg_advisory_lock(%s)", (meta.RUN_LOCK_KEY,))
    except psycopg.errors.LockNotAvailable:
        raise ReplicaError(
            f"another run ({_holder(conn)}) still holds this replica after "
            f"{wait:g} s of waiting"
        ) from None
    conn.execute("reset lock_timeout")


def check_held(conn: psycopg.Connection) -> None:
    """Raise unless this process still holds the run lock of ``conn``'s database
    (its session may have been terminated): a publish must not race another run."""
    with _held_lock:
        pids = list(_holders)
    held = conn.execute(
        "select exists (select from pg_locks where locktype = 'advisory' and granted"
        " and classid = 0 and objid = %s and pid = any(%s) and database ="
        " (select oid from pg_database where datname = current_database()))",
        (meta.RUN_LOCK_KEY, pids),
    ).fetchone()[0]
    if not held:
        raise ReplicaError(
            "the run lock was lost (its session ended): nothing was published"
        )


def tidy(conn: psycopg.Connection) -> list[int]:
    """Under the lock: mark runs left ``running`` as abandoned and drop the tables
    and build schemas they were making. Returns the abandoned runs."""
    meta.ensure_schema(conn)
    with conn.transaction():
        abandoned = meta.abandon_running(conn)
        drop_build_area(conn)
        for schema, name in conn.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n"
            " on n.oid = c.relnamespace where c.relname like %s"
            " and c.relkind in ('r', 'p')",
            (FRESH_PREFIX.replace("_", "\\_") + "%",),
        ).fetchall():
            conn.execute(
                sql.SQL("drop table if exists {}").format(sql.Identifier(schema, name))
            )
    return abandoned


@contextmanager
def hold(replica_url: str, wait: float | None = None) -> Iterator[None]:
    """Hold the replica's run lock for the block (re-entrant in this process).

    ``wait``: None refuses at once when another run holds it; a number of seconds
    waits that long (0: as long as it takes).
    """
    with _held_lock:
        if _held.get(replica_url):
            _held[replica_url] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _held_lock:
                _held[replica_url] -= 1
        return
    conn = connect_replica(
        replica_url,
        autocommit=True,
        application_name=f"crm-replica run lock (pid {os.getpid()})",
    )
    try:
        _acquire(conn, wait)
        tidy(conn)
        with _held_lock:
            _held[replica_url] = 1
            _holders.add(conn.info.backend_pid)
        try:
            yield
        finally:
            with _held_lock:
                _held.pop(replica_url, None)
                _holders.discard(conn.info.backend_pid)
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.close()  # the session's end releases the lock


def drop_build_area(conn: psycopg.Connection) -> list[str]:
    """Drop every build schema (a run that did not publish left it)."""
    dropped = [
        r[0]
        for r in conn.execute(
            "select nspname from pg_namespace where nspname like %s",
            (BUILD_PREFIX.replace("_", "\\_") + "%",),
        ).fetchall()
    ]
    for schema in dropped:
        conn.execute(
            sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema))
        )
    return dropped
