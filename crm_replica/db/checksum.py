"""Order-independent content checksums, computed the same way on both sides."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from crm_replica.db.catalog import relation_kind, shape
from crm_replica.db.connect import connect_replica

#: Per column, the type's own 64-bit hash where it is the same function in every
#: PostgreSQL this runs against (hash partitioning relies on these staying stable;
#: checked present in 16 and 18): no text formatting of jsonb or timestamps. Any
#: other type (enums, json, arrays, composites, ranges, extensions' types, domains
#: over those...) hashes its text, which db.SESSION_SETTINGS makes identical on both
#: sides: a column the replica holds as text (master's ``col::text``, see
#: db.landtypes) hashes as master's typed column does. ``text`` casts too, so
#: that a hash written for the replica's text column also runs on master's column
#: (an incremental run's key hash).
_TYPED_HASH = {
    "uuid": "uuid_hash_extended({}, 0)",
    "text": "hashtextextended({}::text, 0)",
    "character varying": "hashtextextended({}::text, 0)",
    "smallint": "hashint2extended({}, 0)",
    "integer": "hashint4extended({}, 0)",
    "bigint": "hashint8extended({}, 0)",
    "numeric": "hash_numeric_extended({}, 0)",
    "double precision": "hashfloat8extended({}, 0)",
    "jsonb": "jsonb_hash_extended({}, 0)",
    "timestamp without time zone": "timestamp_hash_extended({}, 0)",
    "timestamp with time zone": "timestamp_hash_extended({} at time zone 'UTC', 0)",
}
_TEXT_HASH = "hashtextextended({}::text, 0)"

#: Each column's type, a domain's resolved down to the type it is over (through
#: domains over domains): master and the replica hash a domain's values as that
#: type's, whether or not the replica could recreate the domain.
_COLUMN_TYPES = """
with recursive col(attnum, attname, typid) as (
    select a.attnum, a.attname, a.atttypid from pg_attribute a
    where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
    union all
    select c.attnum, c.attname, t.typbasetype from col c
    join pg_type t on t.oid = c.typid where t.typtype = 'd'
)
select c.attname, format_type(c.typid, null)
from col c join pg_type t on t.oid = c.typid
where t.typtype <> 'd'
order by c.attnum
"""


def row_hash(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    columns: Sequence[str] | None = None,
) -> sql.Composable:
    """A 64-bit hash of a row of ``schema.table`` (as ``t``), the same on both sides
    for the same content: its columns' hashes (-1 for null), in order, folded.
    ``columns`` hashes those only, in that order (all of them when None)."""
    found = dict(
        conn.execute(
            _COLUMN_TYPES, (sql.Identifier(schema, table).as_string(conn),)
        ).fetchall()
    )
    if not found:  # not there: let the query say so
        return sql.SQL("hashtextextended(t::text, 0)")
    names = list(found) if columns is None else list(columns)
    hashes = [
        sql.SQL("coalesce({}, -1)").format(
            sql.SQL(_TYPED_HASH.get(kind, _TEXT_HASH)).format(sql.Identifier("t", name))
        )
        for name, kind in ((n, found.get(n)) for n in names)
    ]
    # Fold them in order, in 64-bit integers: each step hashes the running value
    # seeded with the next column's hash.
    folded = hashes[0]
    for column_hash in hashes[1:]:
        folded = sql.SQL("hashint8extended({}, {})").format(folded, column_hash)
    return folded


def count_and_checksum(
    conn: psycopg.Connection, schema: str, table: str
) -> tuple[int, int]:
    """Row count and an order-independent content checksum: the sum of every row's
    hash (duplicates count)."""
    return count_checksum_max(conn, schema, table, None)[:2]


def count_checksum_max(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    column: str | None,
    columns: Sequence[str] | None = None,
    where: sql.Composable | None = None,
) -> tuple[int, int, object]:
    """Count, checksum (over ``columns`` only, when given) and the highest value of
    ``column`` (an incremental cursor), in one scan, of the rows (as ``t``) that
    ``where`` keeps (all when None). The maximum is None when ``column`` is
    None."""
    highest = (
        sql.SQL("max(t.{})").format(sql.Identifier(column))
        if column
        else sql.SQL("null")
    )
    row = conn.execute(
        sql.SQL("select count(*), coalesce(sum({}), 0), {} from {} as t{}").format(
            row_hash(conn, schema, table, columns),
            highest,
            sql.Identifier(schema, table),
            sql.SQL(" where ") + where if where is not None else sql.SQL(""),
        )
    ).fetchone()
    return int(row[0]), int(row[1]), row[2]


def count_rows(url: str, schema: str, tables: Sequence[str]) -> dict[str, int | None]:
    """Row counts of ``schema.table`` on the replica (None where a table is missing)."""
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


def count_own_rows(
    url: str, schema: str, landing: str, tables: Sequence[str]
) -> dict[str, int]:
    """Rows of ``schema.table`` whose key (master's primary key, as landed) master's
    landing table lacks: the application's own, in the application's database
    (0 where either table or the key is missing)."""
    counts: dict[str, int] = {}
    with connect_replica(url, autocommit=True) as conn:
        for table in tables:
            live, masters = (
                sql.Identifier(schema, table),
                sql.Identifier(landing, table),
            )
            masters_shape = shape(conn, landing, table)
            key = (
                list(masters_shape.key)
                if masters_shape and relation_kind(conn, schema, table)
                else []
            )
            counts[table] = (
                conn.execute(
                    sql.SQL(
                        "select count(*) from {} as t"
                        " where not exists (select from {} as m where {})"
                    ).format(
                        live,
                        masters,
                        sql.SQL(" and ").join(
                            sql.SQL("m.{k} = t.{k}").format(k=sql.Identifier(k))
                            for k in key
                        ),
                    )
                ).fetchone()[0]
                if key
                else 0
            )
    return counts


def count_and_checksum_columns(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    columns: Sequence[str] | None = None,
    where: sql.Composable | None = None,
) -> tuple[int, int]:
    """count_and_checksum over ``columns`` only (all of them when None), of the
    rows ``where`` keeps."""
    return count_checksum_max(conn, schema, table, None, columns, where)[:2]


def row_hashes(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    key: Sequence[str],
    columns: Sequence[str] | None = None,
    limit: int = 200_000,
    where: sql.Composable | None = None,
) -> dict[str, int] | None:
    """Each row's hash by its key (as text), of the rows (as ``t``) ``where``
    keeps, for finding which rows differ; None when the table holds more than
    ``limit`` rows (too costly to fetch)."""
    target = sql.Identifier(schema, table)
    within = sql.SQL(" where ") + where if where is not None else sql.SQL("")
    count = conn.execute(
        sql.SQL("select count(*) from {} as t{}").format(target, within)
    ).fetchone()
    if count[0] > limit:
        return None
    key_text = sql.SQL(" || ',' || ").join(
        sql.SQL("coalesce({}::text, '')").format(sql.Identifier("t", k)) for k in key
    )
    query = sql.SQL("select {}, {} from {} as t{}").format(
        key_text, row_hash(conn, schema, table, columns), target, within
    )
    return {r[0]: int(r[1]) for r in conn.execute(query).fetchall()}
