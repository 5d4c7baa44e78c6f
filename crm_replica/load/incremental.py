"""Incremental mode: merge what changed on master since the last load, by key.

All merges in one replica transaction, all reads in the run's master snapshot; per
table:

1. a second master session (importing the snapshot) reads every master key as a
   64-bit key hash (the checksums' typed hash: the same functions and results in
   PostgreSQL 16 and 18), packed into one value, and in the same scan lists the
   keys whose cursor column (``updated_at``, else ``created_at``, or as
   configured) is at or after the highest value loaded less a look-back window;
   a second replica session meanwhile reads the replica's key hashes with each
   row's ctid;
2. the picked rows are copied into a temporary table, fetched by key through
   master's primary key (or, for a key of several columns or of a type that is not
   built in, or a delta over a twentieth of the table, by a cursor scan), and
   merged by key (insert or update); a key column the replica holds as text
   (db.landtypes) hashes as master's text output on both sides;
3. meanwhile the runner compares the key sets: a replica key master no longer has
   was deleted there (removed by ctid, or kept and listed in
   ``replica_meta.deleted_rows`` under policy ``flag``); a master key the replica
   lacks after the merge is a row the cursor missed (an insert with an old cursor
   value), fetched by its key hash and merged too.

Counts come from the key reads (exact, both sides) and the merge's own counts.
A table that cannot be merged (a view, no key, no cursor column, a new table, a
changed shape) is loaded whole into a fresh table by the full mode's workers (with
its checksums) and swapped in by the transaction that commits the merges.

Merged tables take no checksums (they would read every row on both sides);
``replica verify`` compares content.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
from array import array
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from itertools import compress
from operator import not_

import psycopg
from psycopg import sql

from crm_replica.db import catalog as schema
from crm_replica.db import connect_master, connect_replica, row_hash
from crm_replica.load import runlog as meta
from crm_replica.load import stream
from crm_replica.load.fresh import fresh_names, load_fresh
from crm_replica.load.run import begin_snapshot, finish, refuse_mismatches
from crm_replica.load.swap import swap_in
from crm_replica.settings import TableSpec

#: Rows whose cursor is up to this much older than the newest loaded one are read
#: again: a transaction that committed late with an earlier timestamp is not lost.
LOOKBACK = timedelta(minutes=15)

_DELTA = sql.Identifier("_crm_delta")
#: Numbers the work tables of a run's row comparisons.
_WORK_TABLES = itertools.count()


def cursor_column(rel: schema.Relation, spec: TableSpec) -> str | None:
    """The first of the spec's cursor columns that the relation has."""
    names = {c.name for c in rel.columns}
    return next((c for c in spec.cursor if c in names), None)


class _KeyReaders:
    """A second master session in the run's snapshot and a second replica session,
    opened on first use, each read by its own thread while the merge runs."""

    def __init__(self, master_url: str, replica_url: str, snapshot_id: str) -> None:
        self.urls = master_url, replica_url
        self.snapshot_id = snapshot_id
        self.master: psycopg.Connection | None = None
        self.replica: psycopg.Connection | None = None
        self.pool = ThreadPoolExecutor(max_workers=2)

    def open(self) -> None:
        if self.master is None:
            self.master = connect_master(self.urls[0])
            begin_snapshot(self.master, self.snapshot_id)
            self.replica = connect_replica(self.urls[1], autocommit=True)
            # They run beside the delta's copy and merge: parallel workers would
            # only contend for the same cores.
            for conn in (self.master, self.replica):
                conn.execute("set max_parallel_workers_per_gather = 0")

    def close(self) -> None:
        """Stop whatever they still run (the run failed or was interrupted), then
        close them."""
        conns = [c for c in (self.master, self.replica) if c is not None]
        for conn in conns:
            with contextlib.suppress(psycopg.Error, OSError):
                conn.cancel_safe(timeout=5)
        self.pool.shutdown(wait=True, cancel_futures=True)
        for conn in conns:
            with contextlib.suppress(psycopg.Error):
                conn.close()


def run(
    coordinator: psycopg.Connection,
    master_url: str,
    replica_url: str,
    run_id: int,
    snapshot,
    relations: list[schema.Relation],
    specs: list[TableSpec],
    target,
    jobs: int,
    progress,
    types_notes: list[str],
    compare: str = "cursor",
) -> object:
    landing = target.schema
    by_name = {s.name: s for s in specs}
    cursors = {r.name: cursor_column(r, by_name[r.name]) for r in relations}
    keys = {r.name: list(by_name[r.name].key) or r.primary_key for r in relations}
    readers = _KeyReaders(master_url, replica_url, snapshot.id)
    try:
        with connect_replica(replica_url) as replica:
            with replica.transaction():
                before = {
                    r.name: schema.landing_columns(replica, landing, r.name)
                    for r in relations
                }
            # What cannot be merged (a view, no key or cursor, a new table, a
            # changed shape) is loaded whole into a fresh table, as a full run
            # does, and swapped in with the merges below.
            whole = [
                r
                for r in relations
                if not (
                    schema.same_columns(before[r.name], r.columns)
                    and r.is_table
                    and (cursors[r.name] or compare == "rows")
                    and keys[r.name]
                )
            ]
            fresh = fresh_names(run_id, whole)
            loads, renames = load_fresh(
                master_url,
                replica_url,
                snapshot,
                whole,
                fresh,
                landing,
                jobs,
                progress,
                cursors,
                target.time_zone,
            )
            notes = types_notes + schema.landing_notes(relations)
            notes += schema.drift_notes(
                {r.name: target.columns_before(replica, r.name) for r in whole}, whole
            )
            with replica.transaction():
                # Room for the merge's temporary table in memory (this session).
                replica.execute("set local temp_buffers = '256MB'")
                merge = _Diff if compare == "rows" else _Merge
                for rel in relations:
                    if rel.name not in loads:
                        readers.open()
                        loads[rel.name] = merge(
                            coordinator,
                            replica,
                            readers,
                            rel,
                            by_name[rel.name],
                            landing,
                            keys[rel.name],
                            run_id,
                            target.since_run,
                        ).run(cursors[rel.name], progress)
                ordered = [loads[r.name] for r in relations]
                refuse_mismatches(ordered)
                notes += swap_in(
                    replica,
                    landing,
                    [(r.name, fresh[r.name]) for r in whole],
                    renames,
                )
                mode = "full" if compare == "rows" else "incremental"
                return finish(replica, run_id, mode, snapshot, ordered, notes, target)
    finally:
        readers.close()


def _keys(key: list[str], alias: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.Identifier(alias, k) if alias else sql.Identifier(k) for k in key
    )


def _hashes(packed: bytes | None) -> array:
    """Key hashes packed by ``int8send`` (big-endian) as native 64-bit integers."""
    values = array("q", packed or b"")
    if sys.byteorder == "little":
        values.byteswap()
    return values


def _ctid(packed: bytes, i: int) -> str:
    """The ``i``-th row location of ones packed by ``tidsend`` (6 bytes each)."""
    raw = packed[6 * i : 6 * i + 6]
    return f"({int.from_bytes(raw[:4], 'big')},{int.from_bytes(raw[4:], 'big')})"


@dataclass
class _Delta:
    nbytes: int
    inserted: int
    updated: int
    hashes: array
    newest: str | None


class _Merge:
    """One table's incremental merge (see the module's docstring)."""

    def __init__(
        self,
        master: psycopg.Connection,
        replica: psycopg.Connection,
        readers: _KeyReaders,
        rel: schema.Relation,
        spec: TableSpec,
        landing: str,
        key: list[str],
        run_id: int,
        since_run: int | None,
    ) -> None:
        self.master, self.replica, self.readers = master, replica, readers
        self.rel, self.spec, self.key, self.run_id = rel, spec, key, run_id
        self.since_run = since_run
        self.landing = landing
        self.target = sql.Identifier(landing, rel.name)
        self.source = sql.Identifier(rel.schema, rel.name)
        self.key_hash = row_hash(replica, landing, rel.name, key)

    def run(self, cursor: str, progress) -> meta.TableLoad:
        started = time.perf_counter()
        progress.table_started(self.rel.name, self.rel.size)
        load = self._load(cursor)
        load.seconds = time.perf_counter() - started
        progress.table_done(self.rel.name, load)
        return load

    def _load(self, cursor: str) -> meta.TableLoad:
        since = meta.last_cursor(self.replica, self.rel.name, cursor, self.since_run)
        if since is None:  # no run recorded it: read it off the landing table
            since = self.replica.execute(
                sql.SQL("select max({})::text from {}").format(
                    sql.Identifier(cursor), self.target
                )
            ).fetchone()[0]
        picked = self._picked(cursor, since)
        packed_key_hashes = sql.SQL("string_agg(int8send({}), '')").format(
            self.key_hash
        )
        # Master's keys, and which of them the cursor picks, in one scan; the
        # replica's keys meanwhile, read before the merge commits (so as the last
        # run left them) and compared with master's in that reader's thread while
        # the delta is copied and merged.
        by_key = self._key_type() if picked is not None else None
        picked_keys = (
            sql.SQL(
                "count(*) filter (where {}), (array_agg({}) filter (where {}))::text"
            ).format(picked, sql.Identifier(self.key[0]), picked)
            if by_key
            else sql.SQL("null, null")
        )
        on_master = self.readers.pool.submit(
            _fetch,
            self.readers.master,
            sql.SQL("select {}, {} from {} as t").format(
                packed_key_hashes, picked_keys, self.source
            ),
        )
        on_replica = self.readers.pool.submit(
            _compare_keys,
            self.readers.replica,
            sql.SQL("select {}, string_agg(tidsend(ctid), '') from {} as t").format(
                packed_key_hashes, self.target
            ),
            on_master,
        )
        where = picked
        if by_key:
            m_packed, n_picked, keys_text = on_master.result()
            # Few rows: fetch them by key (the primary key's index); many: scan.
            if n_picked * 20 <= len(m_packed or b"") // 8:
                where = sql.SQL("{} = any({}::{}[])").format(
                    sql.Identifier(self.key[0]),
                    sql.Literal(keys_text or "{}"),
                    sql.SQL(by_key),
                )
        delta = self._merge_rows(where, cursor)
        m_rows, present, before, gone = on_replica.result()
        inserted, updated = delta.inserted, delta.updated
        # Master's rows are the replica's less the gone ones plus the inserted
        # ones, unless the cursor missed some: then find (by key hash) and merge
        # those.
        if m_rows != len(before) - len(gone) + inserted:
            missed = present.difference(before, delta.hashes)
            if missed:
                again = self._merge_rows(
                    sql.SQL("{} = any({}::bigint[])").format(
                        self.key_hash, sql.Literal(sorted(missed))
                    ),
                    cursor,
                )
                inserted += again.inserted
                updated += again.updated
        removed = self._apply_deletes(gone)
        # Flagged rows stay in the landing table; the count is master's rows.
        flagged = len(gone) if self.spec.deletes == "flag" else 0
        load = meta.TableLoad(
            self.rel.name,
            m_rows,
            None,
            len(before) + inserted - removed - flagged,
            None,
            delta.nbytes,
            0.0,
            cursor,
            self._later(cursor, since, delta.newest),
        )
        load.changed_rows = inserted + updated + removed + flagged
        return load

    def _type(self, column: str) -> str:
        return next(c.type for c in self.rel.columns if c.name == column)

    def _picked(self, cursor: str, since: str | None) -> sql.Composable | None:
        """The rows at or after ``since`` less the look-back (None: every row)."""
        if since is None:
            return None
        column = sql.Identifier(cursor)
        kind = self._type(cursor)
        low = sql.SQL("{}::{}").format(sql.Literal(since), sql.SQL(kind))
        if kind.startswith(("timestamp", "date")):
            low = sql.SQL("{} - {}::interval").format(low, sql.Literal(str(LOOKBACK)))
        return sql.SQL("({} >= {} or {} is null)").format(column, low, column)

    def _key_type(self) -> str | None:
        """The key's type when rows can be fetched by it (one column of a built-in
        type, which master and replica name alike), else None."""
        if len(self.key) != 1:
            return None
        column = next(c for c in self.rel.columns if c.name == self.key[0])
        return column.type if column.landed == "builtin" else None

    def _later(self, cursor: str, since: str | None, newest: str | None) -> str | None:
        """The cursor's new watermark: the later of ``since`` and ``newest``."""
        if since is None or newest is None:
            return newest or since
        kind = sql.SQL(self._type(cursor))
        return self.replica.execute(
            sql.SQL("select greatest({}::{}, {}::{})::text").format(
                sql.Literal(since), kind, sql.Literal(newest), kind
            )
        ).fetchone()[0]

    def _merge_rows(self, where: sql.Composable | None, cursor: str) -> _Delta:
        """Copy master's rows matching ``where`` (all when None) into a temporary
        table and merge them by key."""
        self._create_delta()
        nbytes = stream.copy_table(
            self.master, self.replica, self.rel, _DELTA, where=where
        )
        inserted, updated = self._upsert()
        packed, newest = self.replica.execute(
            sql.SQL(
                "select string_agg(int8send({}), ''), max({})::text from {} as t"
            ).format(self.key_hash, sql.Identifier(cursor), _DELTA)
        ).fetchone()
        self.replica.execute(sql.SQL("drop table {}").format(_DELTA))
        return _Delta(nbytes, inserted, updated, _hashes(packed), newest)

    def _create_delta(self) -> None:
        self.replica.execute(
            sql.SQL("create temporary table {} (like {}) on commit drop").format(
                _DELTA, self.target
            )
        )

    def _on_conflict(self, only_changed: bool) -> sql.Composable:
        """The upsert's ON CONFLICT action: update every column but the key's
        (``only_changed``: where the row differs; rows compare by their text, as
        json has no equality and the session settings make equal values' text
        equal)."""
        if len(self.key) >= len(self.rel.columns):
            return sql.SQL("do nothing")
        updates = sql.SQL(", ").join(
            sql.SQL("{} = excluded.{}").format(
                sql.Identifier(c.name), sql.Identifier(c.name)
            )
            for c in self.rel.columns
            if c.name not in self.key
        )
        where = sql.SQL(
            " where (t.*)::text is distinct from (excluded.*)::text"
            if only_changed
            else ""
        )
        return sql.SQL("do update set {}{}").format(updates, where)

    def _upsert(self) -> tuple[int, int]:
        """Merge the delta table by key; returns how many rows were new and how
        many changed (a row the look-back read again, unchanged, is left alone)."""
        action = self._on_conflict(only_changed=True)
        # A row the insert created has no xmax; one it updated has ours.
        created, changed = self.replica.execute(
            sql.SQL(
                "with merged as (insert into {} as t select * from {}"
                " on conflict ({}) {} returning xmax = 0 as created)"
                " select count(*) filter (where created),"
                " count(*) filter (where not created) from merged"
            ).format(self.target, _DELTA, _keys(self.key), action)
        ).fetchone()
        return created, changed

    def _apply_deletes(self, ctids: list[str]) -> int:
        """Remove (or, policy ``flag``, list) the replica rows at ``ctids``: rows
        master deleted. Returns how many were removed."""
        if self.spec.deletes != "flag":
            if not ctids:
                return 0
            return self.replica.execute(
                sql.SQL("delete from {} where ctid = any(%s::tid[])").format(
                    self.target
                ),
                (ctids,),
            ).rowcount
        # The list is what master lacks now: a key master has again is unlisted.
        listed = sql.SQL(
            "select to_jsonb(row({})) as key from {} as l where ctid = any(%s::tid[])"
        ).format(_keys(self.key, "l"), self.target)
        self.replica.execute(
            sql.SQL(
                "delete from replica_meta.deleted_rows where table_name = {}"
                " and key not in (select key from ({}) as gone)"
            ).format(sql.Literal(self.rel.name), listed),
            (ctids,),
        )
        self.replica.execute(
            sql.SQL(
                "insert into replica_meta.deleted_rows (table_name, key, run_id)"
                " select {}, key, {} from ({}) as gone on conflict do nothing"
            ).format(sql.Literal(self.rel.name), sql.Literal(self.run_id), listed),
            (ctids,),
        )
        return 0


class _Diff(_Merge):
    """A full run's merge into a table a generation already holds: every row is
    compared, by content, and only what differs is written (the table's indexes
    are kept up to date instead of built again).

    Master's rows travel as (key hash, row hash, cursor) into a work table of the
    replica's, while the replica hashes its own rows beside; one join then gives
    the rows master no longer has (deleted by location, or flagged), and the keys
    whose row is new or differs, which are fetched from master in the snapshot and
    merged. Master's count and checksum are the sum of its row hashes (what a full
    load measures); the replica's are the hashes of the rows it kept plus those of
    the rows as the merge wrote them (RETURNING): both read from each side's own
    rows, so a merge that wrote something else is seen.
    """

    def _load(self, cursor: str | None) -> meta.TableLoad:
        table = self.rel.name
        whole_row = row_hash(self.replica, self.landing, table)
        kind = sql.SQL(self._type(cursor)) if cursor else sql.SQL("text")
        theirs = sql.Identifier(
            self.landing, f"_crm_theirs_{self.run_id}_{next(_WORK_TABLES)}"
        )
        self.readers.replica.execute(
            sql.SQL("create unlogged table {} (k bigint, r bigint, c {})").format(
                theirs, kind
            )
        )
        streamed = self.readers.pool.submit(
            stream.pipe,
            self.readers.master,
            self.readers.replica,
            sql.SQL("select {}, {}, {} from {} as t").format(
                self.key_hash,
                whole_row,
                sql.Identifier("t", cursor) if cursor else sql.SQL("null"),
                self.source,
            ),
            sql.SQL("copy {} from stdin (format binary)").format(theirs),
        )
        self.replica.execute(
            sql.SQL(
                "create temporary table _crm_ours on commit drop as"
                " select ctid as loc, {} as k, {} as r from {} as t"
            ).format(self.key_hash, whole_row, self.target)
        )
        nbytes = streamed.result()
        gone, wanted, m_rows, m_sum, r_rows, kept_sum, newest = self.replica.execute(
            sql.SQL(
                "select array_agg(o.loc) filter (where t.k is null),"
                " array_agg(t.k) filter"
                " (where t.k is not null and o.r is distinct from t.r),"
                " count(t.k), coalesce(sum(t.r), 0), count(o.k),"
                " coalesce(sum(o.r) filter (where o.r = t.r), 0),"
                " max(t.c)::text"
                " from _crm_ours as o full join {} as t using (k)"
            ).format(theirs)
        ).fetchone()
        # Dropped by this session, which holds it since the join (a failed run
        # leaves it in the build area, which the next run drops).
        self.replica.execute(sql.SQL("drop table _crm_ours, {}").format(theirs))
        inserted = written_sum = 0
        if wanted:
            self._create_delta()
            nbytes += stream.copy_table(
                self.master,
                self.replica,
                self.rel,
                _DELTA,
                where=sql.SQL("{} = any({}::bigint[])").format(
                    self.key_hash, sql.Literal(wanted)
                ),
            )
            inserted, _, written_sum = self._write(whole_row)
            self.replica.execute(sql.SQL("drop table {}").format(_DELTA))
        removed = self._apply_deletes([str(loc) for loc in gone or []])
        flagged = len(gone or []) if self.spec.deletes == "flag" else 0
        load = meta.TableLoad(
            table,
            m_rows,
            int(m_sum),
            r_rows + inserted - removed - flagged,
            int(kept_sum) + int(written_sum),
            nbytes,
            0.0,
            cursor,
            newest,
        )
        load.changed_rows = len(wanted or []) + len(gone or [])
        return load

    def _write(self, whole_row: sql.Composable) -> tuple[int, int, int]:
        """Upsert the delta by key: rows new, rows changed, and the sum of the
        hashes of the rows as written."""
        action = self._on_conflict(only_changed=False)
        created, changed, written = self.replica.execute(
            sql.SQL(
                "with merged as (insert into {} as t select * from {}"
                " on conflict ({}) {} returning xmax = 0 as created, {} as h)"
                " select count(*) filter (where created),"
                " count(*) filter (where not created), coalesce(sum(h), 0)"
                " from merged"
            ).format(self.target, _DELTA, _keys(self.key), action, whole_row)
        ).fetchone()
        return created, changed, written


def _fetch(conn: psycopg.Connection, query: sql.Composable) -> tuple:
    """One row of ``query``, binary (a reader thread's job)."""
    return conn.cursor(binary=True).execute(query).fetchone()


def _compare_keys(
    conn: psycopg.Connection, query: sql.Composable, on_master: Future
) -> tuple[int, set[int], array, list[str]]:
    """Read the replica's key hashes and row locations, and compare them with
    master's once those are in: master's row count and key hashes, the
    replica's key hashes, and the locations of its rows whose keys master no
    longer has (a reader thread's job)."""
    packed, locations = conn.cursor(binary=True).execute(query).fetchone()
    keys = _hashes(packed)
    master = _hashes(on_master.result()[0])
    # In slices, so that the merge's thread gets the interpreter between them.
    present: set[int] = set()
    for start in range(0, len(master), 1 << 16):
        present.update(master[start : start + (1 << 16)])
    # The loop runs in C: this is a million rows at a time.
    gone = compress(range(len(keys)), map(not_, map(present.__contains__, keys)))
    return len(master), present, keys, [_ctid(locations, i) for i in gone]
