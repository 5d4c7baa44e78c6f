"""Whole tables: loaded into fresh replica tables by worker threads, all in one
master snapshot, with their checksums, key and carried-over indexes; the caller
swaps them in."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

import psycopg
from psycopg import sql

from crm_replica.db import catalog as schema
from crm_replica.db import (
    connect_master,
    connect_replica,
    count_and_checksum,
    count_checksum_max,
)
from crm_replica.db import time_zone as db_time_zone
from crm_replica.load import runlock, stream
from crm_replica.load import runlog as meta
from crm_replica.load.run import Cancelled, Progress, Snapshot, begin_snapshot
from crm_replica.settings.schemas import CRM_TIME_ZONE

FRESH_PREFIX = runlock.FRESH_PREFIX


@dataclass
class _Session:
    """One worker's connections: copy and check on each side, and a helper thread
    that takes the checksums while the copy and the index build run."""

    master: psycopg.Connection
    master_check: psycopg.Connection
    replica: psycopg.Connection
    replica_check: psycopg.Connection
    side: ThreadPoolExecutor


class _Worker:
    """Loads tables into fresh replica tables (not visible until the swap)."""

    def __init__(
        self,
        master_url: str,
        replica_url: str,
        snapshot: Snapshot,
        landing: str,
        progress: Progress,
        stop: threading.Event,
        time_zone: str = CRM_TIME_ZONE,
    ) -> None:
        self.master_url, self.replica_url = master_url, replica_url
        self.snapshot, self.landing = snapshot, landing
        self.progress, self.stop = progress, stop
        self.time_zone = time_zone
        self.local = threading.local()
        self.lock = threading.Lock()
        self.sessions: list[_Session] = []
        #: Per fresh table, the indexes it carries over from the table it replaces:
        #: (its temporary name, the name to take at the swap).
        self.renames: dict[str, list[tuple[str, str]]] = {}

    def _session(self) -> _Session:
        if not hasattr(self.local, "session"):
            conns = [
                connect_master(self.master_url),
                connect_master(self.master_url),
                connect_replica(self.replica_url),
                connect_replica(self.replica_url, autocommit=True),
            ]
            session = _Session(*conns, side=ThreadPoolExecutor(max_workers=2))
            with self.lock:
                self.sessions.append(session)
            for conn in conns[:2]:
                begin_snapshot(conn, self.snapshot.id)
            self.local.session = session
        return self.local.session

    def _connections(self) -> list[psycopg.Connection]:
        with self.lock:
            return [
                c
                for s in self.sessions
                for c in (s.master, s.master_check, s.replica, s.replica_check)
            ]

    def cancel(self) -> None:
        """Interrupt whatever the workers' connections are running."""
        for conn in self._connections():
            if not conn.closed:
                with contextlib.suppress(psycopg.Error, OSError):
                    conn.cancel_safe(timeout=5)

    def close(self) -> None:
        for conn in self._connections():
            conn.close()
        with self.lock:
            for session in self.sessions:
                session.side.shutdown(wait=True)
            self.sessions.clear()

    def load(
        self, rel: schema.Relation, fresh: str, cursor: str | None
    ) -> meta.TableLoad:
        s = self._session()
        if rel.has_stable_content:
            return self._load(s, rel, fresh, cursor)
        # A view computes on read: read it as the CRM does, in the CRM's time zone
        # (master's dashboards count "today" in their session's).
        with db_time_zone((s.master, s.master_check), self.time_zone):
            return self._load(s, rel, fresh, cursor)

    def _load(
        self, s: _Session, rel: schema.Relation, fresh: str, cursor: str | None
    ) -> meta.TableLoad:
        started = time.perf_counter()
        self.progress.table_started(rel.name, rel.size)
        target = sql.Identifier(self.landing, fresh)
        with s.replica.transaction():
            # Created in this transaction, so COPY may FREEZE (and, where
            # wal_level is minimal, skip the WAL).
            stream.create_table(s.replica, target, rel)
            nbytes = stream.copy_table(
                s.master, s.replica, rel, target, self._tick(rel.name)
            )
            # Checksums after the copy, not beside it: the copy keeps both cores
            # busy, and master's checksum then overlaps the commit and the key.
            master_sum = s.side.submit(
                count_and_checksum, s.master_check, rel.schema, rel.name
            )
        # The same scan finds the cursor's highest value: the next incremental
        # run starts there.
        replica_sum = s.side.submit(
            count_checksum_max, s.replica_check, self.landing, fresh, cursor
        )
        if rel.primary_key:
            self._add_primary_key(s.replica, target, fresh, rel.primary_key)
        renames = carry_indexes(s.replica, self.landing, rel.name, fresh)
        with self.lock:
            self.renames[fresh] = renames
        m_rows, m_sum = master_sum.result()
        r_rows, r_sum, cursor_max = replica_sum.result()
        if not rel.has_stable_content:
            m_sum = None
        load = meta.TableLoad(
            rel.name,
            m_rows,
            m_sum,
            r_rows,
            r_sum,
            nbytes,
            time.perf_counter() - started,
            cursor,
            cursor_max,
        )
        self.progress.table_done(rel.name, load)
        return load

    def _tick(self, table: str):
        def tick(nbytes: int) -> None:
            if self.stop.is_set():
                raise Cancelled()
            self.progress.table_advanced(table, nbytes)

        return tick

    @staticmethod
    def _add_primary_key(
        conn: psycopg.Connection, target: sql.Identifier, fresh: str, key: list[str]
    ) -> None:
        """Build the key's index after the rows are in. CREATE INDEX only blocks
        writers, so the checksum reads alongside; the constraint then adopts it."""
        index = sql.Identifier(f"{fresh}_pkey")
        with conn.transaction():
            conn.execute(
                sql.SQL("create unique index {} on {} ({})").format(
                    index, target, sql.SQL(", ").join(map(sql.Identifier, key))
                )
            )
        with conn.transaction():
            conn.execute(
                sql.SQL(
                    "alter table {} add constraint {} primary key using index {}"
                ).format(target, index, index)
            )


def carry_indexes(
    conn: psycopg.Connection, schema_name: str, table: str, fresh: str
) -> list[tuple[str, str]]:
    """Build on ``fresh`` the indexes (other than the primary key) that the table it
    replaces has: the application's, so that a reload keeps its reads fast. They
    get temporary names; returns (temporary, final) pairs for the swap."""
    with conn.transaction():
        rows = conn.execute(
            "select c.relname, i.indisunique, pg_get_indexdef(i.indexrelid)"
            " from pg_index i join pg_class c on c.oid = i.indexrelid"
            " where i.indrelid = to_regclass(%s) and not i.indisprimary"
            " order by c.relname",
            (sql.Identifier(schema_name, table).as_string(conn),),
        ).fetchall()
    renames = []
    for n, (name, unique, definition) in enumerate(rows):
        method = definition.split(" USING ", 1)[1]
        temporary = f"{fresh}_i{n}"
        with conn.transaction():
            conn.execute(
                sql.SQL("create {}index {} on {} using {}").format(
                    sql.SQL("unique " if unique else ""),
                    sql.Identifier(temporary),
                    sql.Identifier(schema_name, fresh),
                    sql.SQL(method),
                )
            )
        renames.append((temporary, name))
    return renames


def drop_leftovers(conn: psycopg.Connection, landing: str) -> None:
    """Drop fresh tables that a killed run left behind (we hold the run lock)."""
    for (name,) in conn.execute(
        "select c.relname from pg_class c join pg_namespace n"
        " on n.oid = c.relnamespace where n.nspname = %s and c.relname like %s"
        " and c.relkind in ('r', 'p')",
        (landing, FRESH_PREFIX + "%"),
    ).fetchall():
        conn.execute(
            sql.SQL("drop table if exists {}").format(sql.Identifier(landing, name))
        )


def fresh_names(run_id: int, relations: list[schema.Relation]) -> dict[str, str]:
    """The fresh table each relation loads into (dropped if the run fails)."""
    return {r.name: f"{FRESH_PREFIX}{run_id}_{i}" for i, r in enumerate(relations)}


def load_fresh(
    master_url: str,
    replica_url: str,
    snapshot: Snapshot,
    relations: list[schema.Relation],
    fresh: dict[str, str],
    landing: str,
    jobs: int,
    progress: Progress,
    cursors: dict[str, str | None],
    time_zone: str = CRM_TIME_ZONE,
) -> tuple[dict[str, meta.TableLoad], dict[str, list[tuple[str, str]]]]:
    """Load ``relations`` into their ``fresh`` tables with ``jobs`` workers in the
    snapshot (views read in ``time_zone``); the caller swaps them in (renaming the
    indexes each carries over, the second value). Stops every worker at the first
    failure."""
    stop = threading.Event()
    worker = _Worker(
        master_url, replica_url, snapshot, landing, progress, stop, time_zone
    )
    # Largest first keeps every worker busy to the end.
    order = sorted(relations, key=lambda r: r.size, reverse=True)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    futures = {
        pool.submit(worker.load, r, fresh[r.name], cursors[r.name]): r.name
        for r in order
    }
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        if any(f.exception() is not None for f in done):
            raise next(f.exception() for f in done if f.exception() is not None)
        loads = {name: future.result() for future, name in futures.items()}
        return loads, worker.renames
    except BaseException:
        stop.set()
        worker.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        worker.close()
