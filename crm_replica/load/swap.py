"""Swap freshly loaded tables in for the landing tables, keeping the views on them.

PostgreSQL views point at a table's oid, not its name: replacing a table means
dropping the views on it. They are read (``pg_get_viewdef``) before the swap and
created again after it, in the same transaction, so readers see either the old
tables with their views or the new ones with theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from crm_replica.db import one_line

_DEPENDENT_VIEWS = """
with recursive deps (oid, depth) as (
    select r.ev_class, 1
    from pg_depend d join pg_rewrite r on r.oid = d.objid
    where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
      and d.refobjid = any(%(tables)s) and r.ev_class <> d.refobjid
    union
    select r.ev_class, deps.depth + 1
    from deps
    join pg_depend d on d.refobjid = deps.oid
        and d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
    join pg_rewrite r on r.oid = d.objid
    where r.ev_class <> deps.oid and deps.depth < 50
)
select n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid), max(deps.depth)
from deps join pg_class c on c.oid = deps.oid
join pg_namespace n on n.oid = c.relnamespace
group by n.nspname, c.relname, c.relkind, c.oid
order by max(deps.depth), n.nspname, c.relname
"""


@dataclass(frozen=True)
class View:
    schema: str
    name: str
    kind: str  # v view, m materialized view
    definition: str


def dependent_views(
    conn: psycopg.Connection, tables: list[sql.Identifier]
) -> list[View]:
    """Views (and views on views) that depend on ``tables``, parents first."""
    oids = [
        conn.execute("select to_regclass(%s)::oid", (t.as_string(conn),)).fetchone()[0]
        for t in tables
    ]
    oids = [o for o in oids if o is not None]
    if not oids:
        return []
    rows = conn.execute(_DEPENDENT_VIEWS, {"tables": oids}).fetchall()
    return [View(r[0], r[1], r[2], r[3]) for r in rows]


def recreate_views(
    conn: psycopg.Connection, views: list[View], replace: bool = False
) -> list[str]:
    """Create ``views`` again (``replace``: over the ones still there); return a
    note for each that no longer fits."""
    notes = []
    for view in views:
        kind = "materialized view" if view.kind == "m" else "view"
        if replace and view.kind == "m":
            conn.execute(
                sql.SQL("drop materialized view {}").format(
                    sql.Identifier(view.schema, view.name)
                )
            )
        verb = "create or replace" if replace and view.kind != "m" else "create"
        statement = sql.SQL("{} {} {} as {}").format(
            sql.SQL(verb),
            sql.SQL(kind),
            sql.Identifier(view.schema, view.name),
            sql.SQL(view.definition.rstrip().rstrip(";")),
        )
        try:
            with conn.transaction():
                conn.execute(statement)
        except psycopg.Error as exc:
            what = "still reads the replaced relation" if replace else "dropped"
            notes.append(f"{kind} {view.schema}.{view.name} {what}: {one_line(exc)}")
    return notes


def swap_in(
    conn: psycopg.Connection,
    landing: str,
    pairs: list[tuple[str, str]],
    renames: dict[str, list[tuple[str, str]]] | None = None,
) -> list[str]:
    """Replace each ``landing.target`` by ``landing.fresh`` (pairs of names); the
    fresh table's indexes named in ``renames[fresh]`` (temporary, final) take their
    final names, those of the indexes of the table replaced.

    Runs in the caller's transaction; returns notes on views that could not be
    recreated (a column they used is gone).
    """
    renames = renames or {}
    targets = [sql.Identifier(landing, target) for target, _ in pairs]
    views = dependent_views(conn, targets)
    for (target, fresh), ident in zip(pairs, targets, strict=True):
        conn.execute(sql.SQL("drop table if exists {} cascade").format(ident))
        conn.execute(
            sql.SQL("alter table {} rename to {}").format(
                sql.Identifier(landing, fresh), sql.Identifier(target)
            )
        )
        pkey = conn.execute(
            "select conname from pg_constraint where conrelid = %s::regclass"
            " and contype = 'p'",
            (ident.as_string(conn),),
        ).fetchone()
        if pkey:
            conn.execute(
                sql.SQL("alter table {} rename constraint {} to {}").format(
                    ident,
                    sql.Identifier(pkey[0]),
                    sql.Identifier(f"{target}_pkey"[:63]),
                )
            )
        for temporary, final in renames.get(fresh, []):
            conn.execute(
                sql.SQL("alter index {} rename to {}").format(
                    sql.Identifier(landing, temporary), sql.Identifier(final)
                )
            )
    return recreate_views(conn, views)
