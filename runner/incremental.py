"""Incremental mode: merge what changed on master since the last load, by key.

Per table, in one replica transaction and the run's master snapshot:

1. rows whose cursor column (``updated_at``, else ``created_at``, or as configured)
   is at or after the landing table's highest value less a look-back window are
   copied into a temporary table and merged by primary key (insert or update);
2. deletes: after the merge every master row is in the replica, so the replica
   has more rows than master exactly when master deleted some; only then are
   master's keys streamed into a temporary table and an anti-join finds the rows
   to delete, or to keep and list in ``replica_meta.deleted_rows`` (policy
   ``flag``).

A table that cannot be merged (a view, no key, no cursor column, a new table, a
changed shape) is reloaded whole, still inside the same transaction.

Checksums are not taken in this mode (they would read every row on both sides);
counts are exact. ``replica verify`` compares content.
"""

from __future__ import annotations

import time
from datetime import timedelta

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


def cursor_column(rel: schema.Relation, spec: TableSpec) -> str | None:
    """The first of the spec's cursor columns that the relation has."""
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
    from runner.extract_load import (  # the engine imports this module
        FRESH_PREFIX,
        finish,
        refuse_mismatches,
    )

    by_name = {s.name: s for s in specs}
    loads, notes = [], []
    with connect_replica(replica_url) as replica, replica.transaction():
        # Room for the key comparison's hash and the temporary tables in memory
        # (this session only).
        replica.execute("set local work_mem = '256MB'")
        replica.execute("set local temp_buffers = '256MB'")
        for i, rel in enumerate(relations):
            spec = by_name[rel.name]
            before = schema.landing_columns(replica, landing, rel.name)
            cursor = cursor_column(rel, spec)
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
        refuse_mismatches(loads)
        return finish(replica, run_id, "incremental", snapshot, loads, notes)


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
    if not rel.has_stable_content:
        m_sum = None
    return meta.TableLoad(rel.name, m_rows, m_sum, r_rows, r_sum, nbytes, 0.0)


def _keys(key: list[str], alias: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.Identifier(alias, k) if alias else sql.Identifier(k) for k in key
    )


def _count(conn: psycopg.Connection, table: sql.Composable) -> int:
    return conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]


def _flagged(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(
        "select count(*) from replica_meta.deleted_rows where table_name = %s", (table,)
    ).fetchone()[0]


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
    column = sql.Identifier(cursor)
    kind = sql.SQL(next(c.type for c in rel.columns if c.name == cursor))
    since = meta.last_cursor(replica, rel.name, cursor)
    if since is None:  # no run recorded it: read it off the landing table
        found = replica.execute(
            sql.SQL("select max({})::text from {}").format(column, target)
        ).fetchone()[0]
        since = found
    delta = sql.Identifier("_crm_delta")
    replica.execute(
        sql.SQL("create temporary table {} (like {}) on commit drop").format(
            delta, target
        )
    )
    where = None
    if since is not None:
        low = sql.SQL("{}::{}").format(sql.Literal(since), kind)
        if kind.as_string(replica).startswith(("timestamp", "date")):
            low = sql.SQL("{} - {}::interval").format(low, sql.Literal(str(LOOKBACK)))
        where = sql.SQL("{} >= {} or {} is null").format(column, low, column)
    nbytes = stream.copy_table(master, replica, rel, delta, where=where)
    updates = sql.SQL(", ").join(
        sql.SQL("{} = excluded.{}").format(
            sql.Identifier(c.name), sql.Identifier(c.name)
        )
        for c in rel.columns
        if c.name not in key
    )
    action = (
        sql.SQL("do update set {}").format(updates)
        if len(key) < len(rel.columns)
        else sql.SQL("do nothing")
    )
    replica.execute(
        sql.SQL("insert into {} select * from {} on conflict ({}) {}").format(
            target, delta, _keys(key), action
        )
    )
    newest = replica.execute(
        sql.SQL("select max({})::text from {}").format(column, delta)
    ).fetchone()[0]
    if since is not None and newest is not None:
        newest = replica.execute(
            sql.SQL("select greatest({}::{}, {}::{})::text").format(
                sql.Literal(since), kind, sql.Literal(newest), kind
            )
        ).fetchone()[0]
    replica.execute(sql.SQL("drop table {}").format(delta))
    # Every master row is now in the replica (new ones came with the cursor), so
    # the replica has more rows exactly when master deleted some.
    m_rows = _count(master, sql.Identifier(rel.schema, rel.name))
    flagged = _flagged(replica, rel.name) if spec.deletes == "flag" else 0
    r_rows = _count(replica, target)
    if r_rows - flagged != m_rows:
        deleted = _deletes(master, replica, rel, spec, target, key, run_id)
        if spec.deletes == "flag":
            flagged = _flagged(replica, rel.name)
        else:
            r_rows -= deleted
    return meta.TableLoad(
        rel.name,
        m_rows,
        None,
        r_rows - flagged,
        None,
        nbytes,
        0.0,
        cursor,
        newest or since,
    )


def _ship_keys(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    rel: schema.Relation,
    target: sql.Identifier,
    key: list[str],
) -> sql.Composable:
    """Stream master's keys into a temporary table; return a relation (with the
    key columns) to anti-join against.

    A single-column key travels as arrays, one per 1,024 heap pages, so Python
    handles a few dozen messages instead of a message per row.
    """
    keys = sql.Identifier("_crm_master_keys")
    source = sql.Identifier(rel.schema, rel.name)
    if len(key) == 1:
        column = sql.Identifier(key[0])
        replica.execute(
            sql.SQL(
                "create temporary table {} on commit drop as"
                " select array[{}] as keys from {} limit 0"
            ).format(keys, column, target)
        )
        out = sql.SQL(
            "copy (select array_agg({}) from {}"
            " group by (ctid::text::point)[0]::bigint >> 10) to stdout (format binary)"
        ).format(column, source)
        relation = sql.SQL("(select unnest(keys) as {} from {})").format(column, keys)
    else:
        replica.execute(
            sql.SQL(
                "create temporary table {} on commit drop as select {} from {} limit 0"
            ).format(keys, _keys(key), target)
        )
        out = sql.SQL("copy (select {} from {}) to stdout (format binary)").format(
            _keys(key), source
        )
        relation = keys
    into = sql.SQL("copy {} from stdin (format binary)").format(keys)
    with replica.cursor() as rcur, rcur.copy(into) as writer:
        for batch in stream.read_copy(master, out):
            writer.write(batch)
    replica.execute(sql.SQL("analyze {}").format(keys))
    return relation


def _deletes(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    rel: schema.Relation,
    spec: TableSpec,
    target: sql.Identifier,
    key: list[str],
    run_id: int,
) -> int:
    """Remove (or flag) replica rows whose key master no longer has; returns how
    many rows were deleted (0 when flagging)."""
    keys = _ship_keys(master, replica, rel, target, key)
    # The keys missing from master, read off the landing table's primary key
    # index (an index-only scan: COPY FREEZE left its pages all-visible).
    missing = sql.SQL(
        "select {cols} from {target} as l where not exists"
        " (select from {keys} as k where {match})"
    ).format(
        cols=_keys(key, "l"),
        target=target,
        keys=keys,
        match=sql.SQL(" and ").join(
            sql.SQL("k.{c} = l.{c}").format(c=sql.Identifier(c)) for c in key
        ),
    )
    deleted = 0
    if spec.deletes == "flag":
        replica.execute(
            sql.SQL(
                "insert into replica_meta.deleted_rows (table_name, key, run_id)"
                " select {name}, to_jsonb(row({cols})), {run} from ({missing}) as m"
                " on conflict do nothing"
            ).format(
                name=sql.Literal(rel.name),
                cols=_keys(key, "m"),
                run=sql.Literal(run_id),
                missing=missing,
            )
        )
    else:
        deleted = replica.execute(
            sql.SQL("delete from {target} as t where ({cols}) in ({missing})").format(
                target=target, cols=_keys(key, "t"), missing=missing
            )
        ).rowcount
    replica.execute("drop table _crm_master_keys")
    return deleted
