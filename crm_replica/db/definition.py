"""Master's definition of a table beyond its columns and key: its column
defaults and its foreign keys to its other tables, given to the tables the
replica creates in the application's schema, as pg_dump restores a table.

Master's side is read with its access at the extract-load's snapshot
(db.access: ``Rules.defaults``, ``Rules.foreign_keys``). A default whose
expression cannot be made here (a sequence or function this database lacks) is
left out, and said. A foreign key is made where the table it references is the
replica's too, with the referenced columns unique (one to a table of the
application's is not: a sync replaces the replica's copy, and dropping a foreign
key takes an ACCESS EXCLUSIVE lock on the table it references, which would block
the application's readers); it is validated, and where rows break
it (a row of the replica's referencing a row the application's table does not
have) it stays NOT VALID, and said: never a constraint marked valid and
violated. A table the publish moves out of the live schema (into a generation)
loses the foreign keys the replica gave it, so that nothing of the
application's is held by a replaced copy.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from crm_replica.db.access import Rules
from crm_replica.db.catalog import relation_kind

#: pg_constraint's action letters, as SQL.
_ACTIONS = {
    "a": "no action",
    "r": "restrict",
    "c": "cascade",
    "n": "set null",
    "d": "set default",
}


def _reason(exc: psycopg.Error) -> str:
    return (exc.diag.message_primary or str(exc)).splitlines()[0]


def _defaulted(conn: psycopg.Connection, ident: sql.Identifier) -> dict[str, bool]:
    """The table's columns: whether each has a default."""
    rows = conn.execute(
        "select attname, atthasdef from pg_attribute where attrelid = %s::regclass"
        " and attnum > 0 and not attisdropped",
        (ident.as_string(conn),),
    ).fetchall()
    return dict(rows)


def give_defaults(
    conn: psycopg.Connection, schema: str, name: str, rules: Rules
) -> list[str]:
    """Master's column defaults on the replica's table ``schema.name``. Returns
    notes."""
    ident = sql.Identifier(schema, name)
    columns = _defaulted(conn, ident)
    notes = []
    for column, expression in sorted(rules.defaults.items()):
        if column not in columns or columns[column]:
            continue
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("alter table {} alter column {} set default {}").format(
                        ident, sql.Identifier(column), sql.SQL(expression)
                    )
                )
        except psycopg.Error as exc:
            notes.append(
                f"{schema}.{name}.{column}: master's default {expression} cannot be"
                f" made here ({_reason(exc)}): left without one"
            )
    return notes


def give_foreign_keys(
    conn: psycopg.Connection,
    schema: str,
    name: str,
    rules: Rules,
    ours: Iterable[str],
) -> list[str]:
    """Master's foreign keys on the replica's table ``schema.name`` to the
    replica's other tables of ``schema`` (``ours``). One to a table of the
    application's is not made, and said: the copy a sync replaces would have to
    lose it, which locks the referenced table against its readers. Returns
    notes."""
    ident = sql.Identifier(schema, name)
    label = f"{schema}.{name}"
    have = {
        r[0]
        for r in conn.execute(
            "select conname from pg_constraint where conrelid = %s::regclass",
            (ident.as_string(conn),),
        )
    }
    ours = set(ours)
    notes = []
    for key in rules.foreign_keys:
        if key["name"] in have:
            continue
        if key["references"] not in ours:
            if relation_kind(conn, schema, key["references"]) is not None:
                notes.append(
                    f"{label}: master's foreign key {key['name']} references"
                    f" {schema}.{key['references']}, the application's: not made"
                    " (replacing the replica's copy would lock the application's"
                    " table against its readers)"
                )
            continue
        constraint = sql.Identifier(key["name"])
        statement = sql.SQL(
            "alter table {} add constraint {} foreign key ({}) references {} ({})"
            " on delete {} on update {} not valid"
        ).format(
            ident,
            constraint,
            sql.SQL(", ").join(map(sql.Identifier, key["columns"])),
            sql.Identifier(schema, key["references"]),
            sql.SQL(", ").join(map(sql.Identifier, key["referenced_columns"])),
            sql.SQL(_ACTIONS.get(key["on_delete"], "no action")),
            sql.SQL(_ACTIONS.get(key["on_update"], "no action")),
        )
        try:
            with conn.transaction():
                conn.execute(statement)
        except psycopg.Error as exc:
            notes.append(
                f"{label}: master's foreign key {key['name']} cannot be made here"
                f" ({_reason(exc)})"
            )
            continue
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("alter table {} validate constraint {}").format(
                        ident, constraint
                    )
                )
        except psycopg.errors.ForeignKeyViolation as exc:
            notes.append(
                f"{label}: master's foreign key {key['name']} is NOT VALID here:"
                f" {_reason(exc)}"
            )
    return notes


def drop_foreign_keys(conn: psycopg.Connection, schema: str, name: str) -> None:
    """The foreign keys of the replica's table ``schema.name`` (it is being
    moved out of the live schema)."""
    ident = sql.Identifier(schema, name)
    names = [
        r[0]
        for r in conn.execute(
            "select conname from pg_constraint where conrelid = %s::regclass"
            " and contype = 'f'",
            (ident.as_string(conn),),
        )
    ]
    for constraint in names:
        conn.execute(
            sql.SQL("alter table {} drop constraint {}").format(
                ident, sql.Identifier(constraint)
            )
        )
