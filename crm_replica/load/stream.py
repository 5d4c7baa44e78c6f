"""Stream a master relation into a replica table by COPY: binary, or text for a
table with a column of an extension's type whose version differs on the two sides
(db.landtypes says why)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
from psycopg import pq, sql

from crm_replica.db import Relation

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


def read_copy(
    conn: psycopg.Connection, statement: sql.Composable, batch: int = _BATCH
) -> Iterator[bytes]:
    """Run ``COPY … TO STDOUT`` and yield its data in batches of about ``batch``
    bytes.

    COPY TO sends a message per row. psycopg's Copy object handles each one in
    Python generator machinery; reading them with libpq's call directly halves
    the runner's CPU per row, which the database servers on the same cores use.
    """
    pg = conn.pgconn
    pg.send_query(statement.as_bytes(conn))
    started = pg.get_result()
    if started is None or started.status != pq.ExecStatus.COPY_OUT:
        _drain(pg)
        raise psycopg.OperationalError(_message(pg, started))
    buffer = bytearray()
    ended = False
    try:
        while True:
            size, data = pg.get_copy_data(0)
            if size == -1:
                break
            if size < -1:
                ended = True  # the connection is gone: nothing to end
                raise psycopg.OperationalError(_message(pg, None))
            buffer += data
            if len(buffer) >= batch:
                yield bytes(buffer)
                buffer.clear()
        ended = True
    finally:
        if not ended:  # the reader stopped early (an error, Ctrl-C)
            _abandon(conn)
    if buffer:
        yield bytes(buffer)
    finished = pg.get_result()
    _drain(pg)
    if finished is None or finished.status != pq.ExecStatus.COMMAND_OK:
        raise psycopg.OperationalError(_message(pg, finished))


def _abandon(conn: psycopg.Connection) -> None:
    """End a COPY TO whose reader stopped early: cancel it and read what is left,
    so that the connection takes its next command (a rollback) instead of
    saying another command is already in progress."""
    pg = conn.pgconn
    try:
        conn.cancel_safe(timeout=5)
    except (psycopg.Error, OSError):
        return
    while pg.get_copy_data(0)[0] >= 0:
        pass
    _drain(pg)


def _drain(pg: pq.abc.PGconn) -> None:
    while pg.get_result() is not None:
        pass


def _message(pg: pq.abc.PGconn, result: pq.abc.PGresult | None) -> str:
    raw = (result.error_message if result is not None else b"") or pg.error_message
    return raw.decode("utf-8", "replace").strip() or "COPY failed"


def copy_table(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    rel: Relation,
    target: sql.Identifier,
    tick: Callable[[int], None] | None = None,
    where: sql.Composable | None = None,
) -> int:
    """COPY ``rel`` (rows matching ``where``, if given; the table is ``t`` there)
    into ``target``; returns the
    bytes streamed. ``tick`` hears of each batch and may raise to stop.

    A column landed as text is selected as master's text output (``::text``)."""
    cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in rel.columns)
    values = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c.name))
        if c.landed == "text"
        else sql.Identifier(c.name)
        for c in rel.columns
    )
    select = sql.SQL("select {} from {} as t").format(
        values, sql.Identifier(rel.schema, rel.name)
    )
    if where is not None:
        select = sql.SQL("{} where {}").format(select, where)
    form = sql.SQL("text" if rel.copy_as_text else "binary")
    freeze = sql.SQL(", freeze") if where is None else sql.SQL("")
    into = sql.SQL("copy {} ({}) from stdin (format {}{})").format(
        target, cols, form, freeze
    )
    return pipe(master, replica, select, into, tick, text=rel.copy_as_text)


def pipe(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    select: sql.Composable,
    into: sql.Composable,
    tick: Callable[[int], None] | None = None,
    *,
    text: bool = False,
) -> int:
    """Stream the rows of ``select`` on master into ``into`` (a ``COPY … FROM
    STDIN`` in binary format, or in text format with ``text``) on the replica;
    returns the bytes streamed."""
    form = sql.SQL("text" if text else "binary")
    out = sql.SQL("copy ({}) to stdout (format {})").format(select, form)
    nbytes = 0
    with replica.cursor() as rcur, rcur.copy(into) as writer:
        for batch in read_copy(master, out):
            writer.write(batch)
            nbytes += len(batch)
            if tick:
                tick(len(batch))
    return nbytes
