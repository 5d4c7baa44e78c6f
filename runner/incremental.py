"""Incremental mode: merge what changed on master since the last load, by key.

Per table, in one replica transaction and the run's master snapshot:

1. rows whose cursor column (``updated_at``, else ``created_at``, or as configured)
   is at or after the landing table's highest value less a look-back window are
   copied into a temporary table and merged by primary key (insert or update);
2. deleted rows are found without shipping every key: keys are hashed into
   buckets and counted on both sides; only the buckets whose counts differ have
   their keys compared. Deletes are applied, or kept and listed in
   ``replica_meta.deleted_rows`` (policy ``flag``).

A table that cannot be merged (a view, no key, no cursor column, a new table, a
changed shape) is reloaded whole, still inside the same transaction.

Checksums are not taken in this mode (they would read every row on both sides);
counts are exact. ``replica verify`` compares content.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from runner import meta, schema, stream
from runner.checksum import count_and_checksum
from runner.config import TableSpec
from runner.db import connect_replica
from runner.swap import swap_in

#: Rows whose cursor is up to this much older than the newest loaded one are read
#: again: a transaction that committed late with an earlier timestamp is not lost.
LOOKBACK = timedelta(minutes=15)
#: Key hash buckets for finding deletes (a power of two).
BUCKETS = 1 << 16


def _cursor(rel: schema.Relation, spec: TableSpec) -> str | None:
    names = {c.name for c in rel.columns}
    return next((c for c in spec.cursor if c in names), None)


def run(
    coordinator: psycopg.Connection,
    replica_url: str,
    run_id: int,
    snapshot,
    relations: list[schema.Relation],
    specs: list[TableSpec],
    landing: str,
    progress,
) -> object:
    from runner.extract_load import FRESH_PREFIX, RunResult

    by_name = {s.name: s for s in specs}
    loads, notes = [], []
    with connect_replica(replica_url) as replica, replica.transaction():
        for i, rel in enumerate(relations):
            spec = by_name[rel.name]
            before = schema.landing_columns(replica, landing, rel.name)
            cursor = _cursor(rel, spec)
            key = list(spec.key) or rel.primary_key
            progress.table_started(rel.name, rel.size)
            started = time.perf_counter()
            if before == rel.columns and rel.is_table and cursor and key:
                load = _merge(
                    coordinator, replica, rel, spec, landing, cursor, key, run_id
                )
            else:
                notes += [f"{rel.name}: {c}" for c in schema.drift(before, rel.columns)]
                load = _reload(
                    coordinator, replica, rel, landing, f"{FRESH_PREFIX}{run_id}_{i}"
                )
                notes += swap_in(
                    replica, landing, [(rel.name, f"{FRESH_PREFIX}{run_id}_{i}")]
                )
            load.seconds = time.perf_counter() - started
            loads.append(load)
            progress.table_done(rel.name, load)
        bad = [t.table_name for t in loads if not t.matches]
        if bad:
            from runner.errors import ReplicaError

            raise ReplicaError(
                "replica differs from the master snapshot after "
                "merging: " + ", ".join(bad)
            )
        meta.finish_run(
            replica,
            run_id,
            master_version=snapshot.server_version,
            snapshot_at=snapshot.taken_at,
            loads=loads,
            notes=notes,
        )
    return RunResult(run_id, "incremental", snapshot.taken_at, loads, notes)


def _reload(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    rel: schema.Relation,
    landing: str,
    fresh: str,
) -> meta.TableLoad:
    target = sql.Identifier(landing, fresh)
    stream.create_table(replica, target, rel)
    nbytes = stream.copy_table(master, replica, rel, target)
    if rel.primary_key:
        replica.execute(
            sql.SQL("alter table {} add primary key ({})").format(
                target, sql.SQL(", ").join(map(sql.Identifier, rel.primary_key))
            )
        )
    m_rows, m_sum = count_and_checksum(master, rel.schema, rel.name)
    r_rows, r_sum = count_and_checksum(replica, landing, fresh)
    if not rel.is_table and rel.kind != "m":
        m_sum = None  # a view's volatile columns differ on every read
    return meta.TableLoad(rel.name, m_rows, m_sum, r_rows, r_sum, nbytes, 0.0)


def _keys(key: list[str]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, key))


def _bucket(key: list[str], alias: str = "t") -> sql.Composable:
    """The hash bucket of a row's key (same text, same bucket, on both sides)."""
    row = sql.SQL("row({})::text").format(
        sql.SQL(", ").join(sql.Identifier(alias, k) for k in key)
    )
    return sql.SQL("(hashtextextended({}, 0) & {})").format(
        row, sql.Literal(BUCKETS - 1)
    )


def _bucket_counts(
    conn: psycopg.Connection, table: sql.Identifier, key: list[str]
) -> dict[int, int]:
    rows = conn.execute(
        sql.SQL("select {} as bucket, count(*) from {} as t group by 1").format(
            _bucket(key), table
        )
    ).fetchall()
    return dict(rows)


def _merge(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    rel: schema.Relation,
    spec: TableSpec,
    landing: str,
    cursor: str,
    key: list[str],
    run_id: int,
) -> meta.TableLoad:
    target = sql.Identifier(landing, rel.name)
    since = replica.execute(
        sql.SQL("select max({}) from {}").format(sql.Identifier(cursor), target)
    ).fetchone()[0]
    delta = sql.Identifier("_crm_delta")
    replica.execute(
        sql.SQL("create temporary table {} (like {}) on commit drop").format(
            delta, target
        )
    )
    where = None
    if since is not None:
        low = since - LOOKBACK if isinstance(since, datetime) else since
        where = sql.SQL("{} >= {} or {} is null").format(
            sql.Identifier(cursor), sql.Literal(low), sql.Identifier(cursor)
        )
    nbytes = stream.copy_table(master, replica, rel, delta, where=where)
    columns = [c.name for c in rel.columns]
    updates = (
        sql.SQL(", ").join(
            sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c))
            for c in columns
            if c not in key
        )
        or None
    )
    action = (
        sql.SQL("do update set {}").format(updates)
        if updates
        else sql.SQL("do nothing")
    )
    replica.execute(
        sql.SQL("insert into {} select * from {} on conflict ({}) {}").format(
            target, delta, _keys(key), action
        )
    )
    replica.execute(sql.SQL("drop table {}").format(delta))
    m_counts = _bucket_counts(master, sql.Identifier(rel.schema, rel.name), key)
    r_counts = _bucket_counts(replica, target, key)
    differing = [b for b, n in r_counts.items() if m_counts.get(b, 0) != n]
    if differing:
        _deletes(master, replica, rel, spec, target, key, differing, run_id)
    m_rows = sum(m_counts.values())
    r_rows = replica.execute(
        sql.SQL("select count(*) from {}").format(target)
    ).fetchone()[0]
    flagged = 0
    if spec.deletes == "flag":
        flagged = replica.execute(
            "select count(*) from replica_meta.deleted_rows where table_name = %s",
            (rel.name,),
        ).fetchone()[0]
    return meta.TableLoad(rel.name, m_rows, None, r_rows - flagged, None, nbytes, 0.0)


def _deletes(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    rel: schema.Relation,
    spec: TableSpec,
    target: sql.Identifier,
    key: list[str],
    buckets: list[int],
    run_id: int,
) -> None:
    """Remove (or flag) replica rows, in ``buckets``, whose key master lacks."""
    keys = sql.Identifier("_crm_master_keys")
    replica.execute(
        sql.SQL("create temporary table {} as select {} from {} limit 0").format(
            keys, _keys(key), target
        )
    )
    out = sql.SQL(
        "copy (select {} from {} as t where {} = any({})) to stdout (format binary)"
    ).format(
        _keys(key),
        sql.Identifier(rel.schema, rel.name),
        _bucket(key),
        sql.Literal(buckets),
    )
    with (
        master.cursor() as mcur,
        replica.cursor() as rcur,
        mcur.copy(out) as reader,
        rcur.copy(sql.SQL("copy {} from stdin (format binary)").format(keys)) as writer,
    ):
        for block in reader:
            writer.write(block)
    gone = sql.SQL(
        "{bucket} = any({buckets}) and not exists (select from {keys} as k"
        " where {match})"
    ).format(
        bucket=_bucket(key),
        buckets=sql.Literal(buckets),
        keys=keys,
        match=sql.SQL(" and ").join(
            sql.SQL("k.{c} = t.{c}").format(c=sql.Identifier(c)) for c in key
        ),
    )
    if spec.deletes == "flag":
        replica.execute(
            sql.SQL(
                "insert into replica_meta.deleted_rows (table_name, key, run_id)"
                " select {name}, to_jsonb(row({cols})), {run} from {target} as t"
                " where {gone} on conflict do nothing"
            ).format(
                name=sql.Literal(rel.name),
                cols=sql.SQL(", ").join(sql.Identifier("t", c) for c in key),
                run=sql.Literal(run_id),
                target=target,
                gone=gone,
            )
        )
    else:
        replica.execute(sql.SQL("delete from {} as t where {}").format(target, gone))
    replica.execute(sql.SQL("drop table {}").format(keys))
