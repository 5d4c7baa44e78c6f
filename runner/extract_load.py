"""Copy master's tables into the replica's landing schema, all from one snapshot.

Full mode: a coordinator opens one REPEATABLE READ READ ONLY transaction on master
and exports its snapshot (``pg_export_snapshot()``, as pg_dump does); ``jobs``
workers import it, so every table comes from the same instant. Each table streams
by binary ``COPY … TO STDOUT`` into ``COPY … FROM STDIN (FREEZE)`` on a fresh table
created in the same replica transaction (text COPY for a table with a column of an
extension's type whose version differs on the replica), and its primary key is
built after the rows are in. Before that, runner.landtypes lands each column's type
on the replica (creating the types and extensions it needs) or, where the replica
cannot have it, as text. When every table is loaded, one replica transaction swaps
the fresh tables in and records the run: a failure anywhere leaves the previous
load in place.

Incremental mode (runner.incremental) merges changed rows by key instead.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql

from runner import incremental, landtypes, meta, runlock, schema, stream
from runner.checksum import count_and_checksum, count_checksum_max
from runner.config import Config, TableSpec, selected
from runner.db import (
    connect_master,
    connect_replica,
    database_error,
    describe,
    explain,
)
from runner.errors import ReplicaError
from runner.guard import refuse_row_security, refuse_same_database
from runner.incremental import cursor_column
from runner.secrets import one_line
from runner.swap import swap_in

FRESH_PREFIX = runlock.FRESH_PREFIX


@dataclass
class RunResult:
    run_id: int
    mode: str
    snapshot_at: datetime
    loads: list[meta.TableLoad]
    schema_changes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(load.matches for load in self.loads)


class Progress:
    """What a run reports as it goes; the CLI draws it, tests may watch it."""

    def table_started(self, table: str, size: int) -> None:
        """``size`` is master's estimate of the table's bytes (0 for a view)."""

    def table_advanced(self, table: str, nbytes: int) -> None:
        """Another ``nbytes`` of the table's COPY stream went through."""

    def table_done(self, table: str, load: meta.TableLoad) -> None:
        """The table is loaded (not yet visible: the swap comes at the end)."""


class Cancelled(Exception):
    """Another worker failed: stop this one."""


@dataclass(frozen=True)
class Target:
    """Where a run loads and what it does at the end.

    ``schema``: where the tables land; ``types``: where master's enums, domains,
    composite and range types are made (the live landing schema: tables anywhere
    may use them, and they are never moved); ``publish``: swap the tables in and
    record the run succeeded when they are loaded (``replica extract-load``), or
    leave them there for the sync to build on and publish with everything else;
    ``since_run``: the run whose loads the tables at ``schema`` hold (incremental
    runs start from its cursors; None: the latest succeeded run's).
    """

    schema: str
    types: str
    publish: bool = True
    since_run: int | None = None

    @classmethod
    def live(cls, landing: str) -> Target:
        return cls(landing, landing)


@dataclass
class Snapshot:
    """The coordinator's view of master: its exported snapshot and identity."""

    id: str
    taken_at: datetime
    server_version: str


def begin_snapshot(conn: psycopg.Connection, snapshot_id: str | None) -> None:
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    if snapshot_id:
        conn.execute(
            sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot_id))
        )


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
    ) -> None:
        self.master_url, self.replica_url = master_url, replica_url
        self.snapshot, self.landing = snapshot, landing
        self.progress, self.stop = progress, stop
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


def extract_load(
    master_url: str,
    replica_url: str,
    tables: Sequence[str | TableSpec] | None = None,
    *,
    config: Config | None = None,
    jobs: int = 1,
    mode: str = "full",
    progress: Progress | None = None,
    target: Target | None = None,
) -> RunResult:
    """Copy ``tables`` (names or specs; default: the configured ones) from master
    into the landing schema (or ``target``), atomically. Raises ReplicaError, with
    the run recorded as failed, on any failure."""
    config = config or Config()
    specs = (
        selected(config, None)
        if tables is None
        else [t if isinstance(t, TableSpec) else config.spec(t) for t in tables]
    )
    progress = progress or Progress()
    target = target or Target.live(config.landing)
    started = time.perf_counter()
    with (
        connect_master(master_url) as coordinator,
        connect_replica(replica_url, autocommit=True) as control,
    ):
        identity = refuse_same_database(coordinator, control)
        with runlock.hold(replica_url):
            run_id = meta.start_run(
                control, mode, str(describe(master_url, "master")), target.types
            )
            try:
                result = _run(
                    coordinator,
                    control,
                    master_url,
                    replica_url,
                    run_id,
                    identity,
                    specs,
                    config,
                    target,
                    mode,
                    jobs,
                    progress,
                )
            except BaseException as exc:
                _fail(control, run_id, target.schema, exc)
                if isinstance(exc, psycopg.Error):
                    raise database_error(exc, f"extract-load (run {run_id})") from None
                raise
    result.seconds = time.perf_counter() - started
    return result


def _run(
    coordinator: psycopg.Connection,
    control: psycopg.Connection,
    master_url: str,
    replica_url: str,
    run_id: int,
    identity,
    specs: list[TableSpec],
    config: Config,
    target: Target,
    mode: str,
    jobs: int,
    progress: Progress,
) -> RunResult:
    """The run itself: snapshot, describe, guard the read, load (full or
    incremental), swap in (and record, when the target publishes)."""
    begin_snapshot(coordinator, None)
    snap_id, taken_at = coordinator.execute(
        "select pg_export_snapshot(), now()"
    ).fetchone()
    snapshot = Snapshot(snap_id, taken_at, identity.server_version)
    relations = [
        schema.describe_relation(coordinator, config.master_schema, s.name)
        for s in specs
    ]
    check_keys(relations, specs)
    refuse_row_security(coordinator, config.master_schema, [r.name for r in relations])
    lock_relations(coordinator, relations)
    with control.transaction():
        for name in dict.fromkeys((target.types, target.schema)):
            control.execute(
                sql.SQL("create schema if not exists {}").format(sql.Identifier(name))
            )
    # Each column's type as the replica has it; what is missing there is created
    # (in the live landing schema, each in a transaction of its own).
    types = landtypes.TypeLanding(
        coordinator, control, target.types, tables=[r.name for r in relations]
    )
    for rel in relations:
        types.land(rel)
    types_notes = types.notes
    if mode == "incremental" or target.since_run is not None:
        # Tables a generation holds are merged: by cursor (incremental), or by
        # comparing every row (full). Others are loaded whole.
        return incremental.run(
            coordinator,
            master_url,
            replica_url,
            run_id,
            snapshot,
            relations,
            specs,
            target,
            jobs,
            progress,
            types_notes,
            compare="cursor" if mode == "incremental" else "rows",
        )
    return _full(
        master_url,
        replica_url,
        control,
        run_id,
        snapshot,
        relations,
        target,
        jobs,
        progress,
        {r.name: cursor_column(r, s) for r, s in zip(relations, specs, strict=True)},
        types_notes,
    )


def check_keys(relations: list[schema.Relation], specs: list[TableSpec]) -> None:
    """A configured key must name columns master's table has."""
    for rel, spec in zip(relations, specs, strict=True):
        names = {c.name for c in rel.columns}
        missing = [k for k in spec.key if k not in names]
        if missing:
            raise ReplicaError(
                f"replication.yml: table {rel.name}: key column "
                f"{', '.join(map(repr, missing))} is not a column of master's "
                f"{rel.schema}.{rel.name}"
            )


def lock_relations(
    coordinator: psycopg.Connection, relations: list[schema.Relation]
) -> None:
    """Take ACCESS SHARE locks on every relation in the snapshot's transaction, as
    pg_dump does: no one drops or alters them until the run ends. A lock that
    does not come within the lock timeout fails the run (a clear line)."""
    for rel in relations:
        coordinator.execute(
            sql.SQL("lock table {} in access share mode").format(
                sql.Identifier(rel.schema, rel.name)
            )
        )


def _fail(
    control: psycopg.Connection, run_id: int, landing: str, exc: BaseException
) -> None:
    if isinstance(exc, ReplicaError):
        message = exc.message
    elif isinstance(exc, psycopg.Error):
        message = explain(exc)
    elif isinstance(exc, KeyboardInterrupt):
        message = "interrupted"
    else:
        message = one_line(exc)
    # Record the failure first: tidying up may fail where recording does not.
    with contextlib.suppress(psycopg.Error):
        if control.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            control.rollback()
        meta.fail_run(control, run_id, message)
    with contextlib.suppress(psycopg.Error), control.transaction():
        drop_leftovers(control, landing)


def _full(
    master_url: str,
    replica_url: str,
    control: psycopg.Connection,
    run_id: int,
    snapshot: Snapshot,
    relations: list[schema.Relation],
    target: Target,
    jobs: int,
    progress: Progress,
    cursors: dict[str, str | None],
    types_notes: list[str],
) -> RunResult:
    before = {
        r.name: schema.landing_columns(control, target.schema, r.name)
        for r in relations
    }
    fresh = fresh_names(run_id, relations)
    loads, renames = load_fresh(
        master_url,
        replica_url,
        snapshot,
        relations,
        fresh,
        target.schema,
        jobs,
        progress,
        cursors,
    )
    ordered = [loads[r.name] for r in relations]
    refuse_mismatches(ordered)
    notes = types_notes + schema.landing_notes(relations)
    notes += schema.drift_notes(before, relations)
    with control.transaction():
        notes += swap_in(
            control,
            target.schema,
            [(r.name, fresh[r.name]) for r in relations],
            renames,
        )
        return finish(control, run_id, "full", snapshot, ordered, notes, target)


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
) -> tuple[dict[str, meta.TableLoad], dict[str, list[tuple[str, str]]]]:
    """Load ``relations`` into their ``fresh`` tables with ``jobs`` workers in the
    snapshot; the caller swaps them in (renaming the indexes each carries over, the
    second value). Stops every worker at the first failure."""
    stop = threading.Event()
    worker = _Worker(master_url, replica_url, snapshot, landing, progress, stop)
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


def refuse_mismatches(loads: list[meta.TableLoad]) -> None:
    """Raise when a table's count or checksum differs from master's snapshot."""
    bad = [t.table_name for t in loads if not t.matches]
    if bad:
        raise ReplicaError(
            "replica differs from the master snapshot after loading: " + ", ".join(bad)
        )


def finish(
    conn: psycopg.Connection,
    run_id: int,
    mode: str,
    snapshot: Snapshot,
    loads: list[meta.TableLoad],
    notes: list[str],
    target: Target,
) -> RunResult:
    """Record what the run loaded (in the caller's transaction), and the run as
    succeeded when the target publishes; a sync's publish records that later."""
    meta.record_load(
        conn,
        run_id,
        master_version=snapshot.server_version,
        snapshot_at=snapshot.taken_at,
        loads=loads,
        notes=notes,
    )
    if target.publish:
        meta.succeed(conn, run_id)
    return RunResult(run_id, mode, snapshot.taken_at, loads, notes)
