"""Copy master's tables into the replica's landing schema, all from one snapshot.

Full mode: a coordinator opens one REPEATABLE READ READ ONLY transaction on master
and exports its snapshot (``pg_export_snapshot()``, as pg_dump does); ``jobs``
workers import it, so every table comes from the same instant. Each table streams
by binary ``COPY … TO STDOUT`` into ``COPY … FROM STDIN (FREEZE)`` on a fresh table
created in the same replica transaction (text COPY for a table with a column of an
extension's type whose version differs on the replica), and its primary key is
built after the rows are in. Before that, db.landtypes lands each
column's type on the replica (creating the types and extensions it needs) or, where
the replica cannot have it, as text. When every table is loaded, one replica
transaction swaps the fresh tables in and records the run: a failure anywhere
leaves the previous load in place.

Incremental mode (crm_replica.load.incremental) merges changed rows by key instead.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import psycopg
from psycopg import sql

from crm_replica.db import (
    TypeLanding,
    access,
    connect_master,
    connect_replica,
    database_error,
    describe,
    explain,
    one_line,
    refuse_row_security,
    refuse_same_database,
)
from crm_replica.db import catalog as schema
from crm_replica.errors import ReplicaError
from crm_replica.load import incremental, runlock
from crm_replica.load import runlog as meta
from crm_replica.load.fresh import drop_leftovers, fresh_names, load_fresh
from crm_replica.load.incremental import cursor_column
from crm_replica.load.run import (
    Progress,
    RunResult,
    Snapshot,
    Target,
    begin_snapshot,
    finish,
    refuse_mismatches,
)
from crm_replica.load.swap import swap_in
from crm_replica.settings import Config, TableSpec, selected


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
    rules = access.read(coordinator, config.master_schema, [r.name for r in relations])
    with control.transaction():
        for name in dict.fromkeys((target.types, target.schema)):
            control.execute(
                sql.SQL("create schema if not exists {}").format(sql.Identifier(name))
            )
        # Who master lets read its tables, for the publish to give the same.
        access.record(control, run_id, rules)
    # Each column's type as the replica has it; what is missing there is created
    # (in the live landing schema, each in a transaction of its own).
    types = TypeLanding(
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
    before = {r.name: target.columns_before(control, r.name) for r in relations}
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
        target.time_zone,
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
