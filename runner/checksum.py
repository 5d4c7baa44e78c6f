"""Order-independent content checksums, computed the same way on both sides."""

from __future__ import annotations

from collections.abc import Sequence

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
