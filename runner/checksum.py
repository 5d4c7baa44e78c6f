"""Order-independent content checksums, computed the same way on both sides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

#: Sum of a 64-bit hash of each row's text: order-independent, and duplicates count.
#: Row text depends on session settings, which db.SESSION_SETTINGS pins on both sides.
_CHECKSUM = sql.SQL(
    "select count(*), coalesce(sum(hashtextextended(t::text, 0)), 0) from {} as t"
)


def count_and_checksum(
    conn: psycopg.Connection, schema: str, table: str
) -> tuple[int, int]:
    row = conn.execute(_CHECKSUM.format(sql.Identifier(schema, table))).fetchone()
    return int(row[0]), int(row[1])


def count_checksum_max(
    conn: psycopg.Connection, schema: str, table: str, column: str | None
) -> tuple[int, int, object]:
    """Count, checksum and the highest value of ``column`` (an incremental cursor),
    in one scan. The maximum is None when ``column`` is None."""
    if column is None:
        return (*count_and_checksum(conn, schema, table), None)
    row = conn.execute(
        sql.SQL(
            "select count(*), coalesce(sum(hashtextextended(t::text, 0)), 0),"
            " max(t.{}) from {} as t"
        ).format(sql.Identifier(column), sql.Identifier(schema, table))
    ).fetchone()
    return int(row[0]), int(row[1]), row[2]


def count_rows(url: str, schema: str, tables: Sequence[str]) -> dict[str, int | None]:
    """Row counts of ``schema.table`` on the replica (None where a table is missing)."""
    from runner.db import connect_replica

    counts: dict[str, int | None] = {}
    with connect_replica(url, autocommit=True) as conn:
        for table in tables:
            exists = conn.execute(
                "select to_regclass(%s) is not null",
                (sql.Identifier(schema, table).as_string(conn),),
            ).fetchone()[0]
            counts[table] = (
                conn.execute(
                    sql.SQL("select count(*) from {}").format(
                        sql.Identifier(schema, table)
                    )
                ).fetchone()[0]
                if exists
                else None
            )
    return counts


@dataclass(frozen=True)
class Relation:
    """A table or view as both sides see it: kind (pg_class.relkind), columns in
    order, and primary key columns (empty for views and keyless tables)."""

    kind: str
    columns: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def is_view(self) -> bool:
        return self.kind not in ("r", "p", "m")


def relation(conn: psycopg.Connection, schema: str, table: str) -> Relation | None:
    """``schema.table``'s shape, or None when it does not exist."""
    rows = conn.execute(
        "select c.relkind::text, a.attname,"
        " coalesce(a.attnum = any(k.conkey), false)"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " join pg_attribute a on a.attrelid = c.oid"
        " left join pg_constraint k on k.conrelid = c.oid and k.contype = 'p'"
        " where n.nspname = %s and c.relname = %s and a.attnum > 0"
        " and not a.attisdropped order by a.attnum",
        (schema, table),
    ).fetchall()
    if not rows:
        return None
    return Relation(
        rows[0][0], tuple(r[1] for r in rows), tuple(r[1] for r in rows if r[2])
    )


def _row_text(columns: Sequence[str] | None) -> sql.Composable:
    """``t::text``, or the same record text built from ``columns`` only.

    ``row(t.a, t.b)::text`` equals ``t::text`` when the columns are all of the
    table's in order, so a subset checksum is comparable across sides.
    """
    if columns is None:
        return sql.SQL("t::text")
    return sql.SQL("row({})::text").format(
        sql.SQL(", ").join(sql.Identifier("t", c) for c in columns)
    )


def count_and_checksum_columns(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    columns: Sequence[str] | None = None,
) -> tuple[int, int]:
    """count_and_checksum over ``columns`` only (all of them when None)."""
    if columns is None:
        return count_and_checksum(conn, schema, table)
    query = sql.SQL(
        "select count(*), coalesce(sum(hashtextextended({}, 0)), 0) from {} as t"
    ).format(_row_text(columns), sql.Identifier(schema, table))
    row = conn.execute(query).fetchone()
    return int(row[0]), int(row[1])


def row_hashes(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    key: Sequence[str],
    columns: Sequence[str] | None = None,
    limit: int = 200_000,
) -> dict[str, int] | None:
    """Each row's hash by its key (as text), for finding which rows differ; None
    when the table holds more than ``limit`` rows (too costly to fetch)."""
    target = sql.Identifier(schema, table)
    count = conn.execute(sql.SQL("select count(*) from {}").format(target)).fetchone()
    if count[0] > limit:
        return None
    key_text = sql.SQL(" || ',' || ").join(
        sql.SQL("coalesce({}::text, '')").format(sql.Identifier("t", k)) for k in key
    )
    query = sql.SQL("select {}, hashtextextended({}, 0) from {} as t").format(
        key_text, _row_text(columns), target
    )
    return {r[0]: int(r[1]) for r in conn.execute(query).fetchall()}
