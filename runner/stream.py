"""Stream a master relation into a replica table by binary COPY."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from runner.schema import Relation

_BATCH = 1 << 17  # bytes handed to the replica at a time


def create_table(
    conn: psycopg.Connection, target: sql.Identifier, rel: Relation
) -> None:
    """An empty table with ``rel``'s columns; key columns NOT NULL, so that a
    primary key can later adopt a unique index without scanning the table."""
    key = set(rel.primary_key)
    conn.execute(
        sql.SQL("create table {} ({})").format(
            target,
            sql.SQL(", ").join(
                sql.SQL("{} {}{}").format(
                    sql.Identifier(c.name),
                    sql.SQL(c.type),
                    sql.SQL(" not null" if c.name in key else ""),
                )
                for c in rel.columns
            ),
        )
    )


def copy_table(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    rel: Relation,
    target: sql.Identifier,
    tick: Callable[[int], None] | None = None,
    where: sql.Composable | None = None,
) -> int:
    """COPY ``rel`` (rows matching ``where``, if given) into ``target``; returns the
    bytes streamed. ``tick`` hears of each batch and may raise to stop."""
    cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in rel.columns)
    select = sql.SQL("select {} from {}").format(
        cols, sql.Identifier(rel.schema, rel.name)
    )
    if where is not None:
        select = sql.SQL("{} where {}").format(select, where)
    out = sql.SQL("copy ({}) to stdout (format binary)").format(select)
    freeze = sql.SQL(", freeze") if where is None else sql.SQL("")
    into = sql.SQL("copy {} ({}) from stdin (format binary{})").format(
        target, cols, freeze
    )
    nbytes = 0
    batch = bytearray()
    with (
        master.cursor() as mcur,
        replica.cursor() as rcur,
        mcur.copy(out) as reader,
        rcur.copy(into) as writer,
    ):
        # COPY TO sends a message per row: batch them, so that the Python work per
        # row is one append.
        for block in reader:
            batch += block
            if len(batch) >= _BATCH:
                writer.write(bytes(batch))
                nbytes += len(batch)
                if tick:
                    tick(len(batch))
                batch.clear()
        if batch:
            writer.write(bytes(batch))
            nbytes += len(batch)
            if tick:
                tick(len(batch))
    return nbytes
