"""Publish by rows: master's rows written into the application's own tables.

In the application's database a CRM table the application has (``public.leads``,
with its foreign keys, policies, grants, triggers, realtime membership) is never
replaced: the publish writes into it the rows that differ from the build's, by
key, inside the one publishing transaction. Readers see the previous rows until
the commit and are not blocked (row locks only). The merge is three-way, with
the rows the last publish wrote as its base (their hashes, kept in
``replica_meta.published_rows``):

- master's row the table lacks is inserted (one the application deleted since
  the last publish, too, unless local_conflict_policy is local_wins);
- a row that differs is updated, master's columns only (the application's own
  columns keep their values); when the application had changed it since, or had
  it before any publish (a legacy row with master's id), local_wins keeps it;
- a row master no longer has is deleted, unless the application changed it
  (local_wins), its table's ``deletes`` is ``flag``, or a row the publish does
  not delete references it: then it is kept, and said;
- a row that never came from master is the application's: never touched.

Every row of the application's a publish overwrites or deletes is archived whole
(``local_archive.app_rows``, as JSON), and every row it writes can be undone: its
previous version goes to ``replica_meta.row_undo`` under the generation it
belonged to, which ``replica rollback`` restores in place.

The application's triggers do not fire for replicated rows (session_replication_role
= replica, as pg_restore's --disable-triggers): no webhook posts master's rows to
its backend. That silences the foreign-key triggers too, so the publish checks the
keys itself, before writing (references to rows it would delete) and after
(references its rows make).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from crm_replica.db import table_key
from crm_replica.errors import ReplicaError

DDL = """
create table if not exists {meta}.published_rows (
    table_name text not null,
    row_key jsonb not null,
    row_hash text not null,
    primary key (table_name, row_key)
);
create table if not exists {meta}.row_undo (
    generation bigint not null,
    table_name text not null,
    row_key jsonb not null,
    before jsonb,
    base_hash text,
    primary key (generation, table_name, row_key)
);
create schema if not exists {archive};
create table if not exists {archive}.app_rows (
    run_id bigint not null,
    table_name text not null,
    reason text not null,
    row_key jsonb not null,
    row_data jsonb not null,
    archived_at timestamptz not null default now()
);
"""

#: What each planned action does, for the notes.
_SAID = {
    "insert": "inserted",
    "update": "updated",
    "delete": "deleted",
}


@dataclass
class AppTable:
    """An application's table the publish writes rows into."""

    schema: str
    name: str
    #: the built relation holding the rows to publish
    built: tuple[str, str]
    #: master's landing table (only its keys are master's rows), or None
    landing: tuple[str, str] | None
    key: list[str]
    #: the columns written, with the application's type (no modifier) to cast to
    columns: dict[str, str]
    #: their types with modifiers (varchar(50)): what a value is stored as
    stored_types: dict[str, str] = field(default_factory=dict)
    deletes: str = "apply"
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    def plan(self) -> sql.Identifier:
        return sql.Identifier(f"_plan_{self.name}")


def ensure_schema(conn: psycopg.Connection, meta: str, archive: str) -> None:
    conn.execute(
        sql.SQL(DDL).format(meta=sql.Identifier(meta), archive=sql.Identifier(archive))
    )


def _columns(conn: psycopg.Connection, schema: str, name: str) -> dict[str, dict]:
    """A relation's columns: {name: {type, notnull, has_default}}."""
    rows = conn.execute(
        """
        select a.attname, format_type(a.atttypid, null), a.attnotnull,
               a.atthasdef or a.attidentity <> '' or a.attgenerated <> '',
               format_type(a.atttypid, a.atttypmod)
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relname = %s and a.attnum > 0
          and not a.attisdropped
        order by a.attnum
        """,
        (schema, name),
    ).fetchall()
    return {
        r[0]: {"type": r[1], "notnull": r[2], "has_default": r[3], "full_type": r[4]}
        for r in rows
    }


def describe(
    conn: psycopg.Connection,
    live: tuple[str, str],
    built: tuple[str, str],
    landing: tuple[str, str] | None,
    deletes: str = "apply",
    mapped: dict[str, str] | None = None,
) -> AppTable:
    """The application's table ``live`` as the publish writes it from ``built``;
    ``mapped``: master's columns it holds under another name (replication.yml),
    read from ``built`` through a temporary view that names them so. Raises
    ReplicaError, naming the table, when master's rows cannot go in: no key, a
    key column master lacks, a mapped column either side lacks, or a NOT NULL
    column of the application's without a default that master has no values
    for."""
    schema, name = live
    label = f"{schema}.{name}"
    have = _columns(conn, schema, name)
    want = _columns(conn, *built)
    if mapped:
        built = _renamed(conn, label, built, want, have, mapped)
        want = {mapped.get(c, c): info for c, info in want.items()}
    key = table_key(conn, schema, name)
    if not key:
        raise ReplicaError(
            f"{label} (the application's table) has no primary key or unique index:"
            " the publish cannot write master's rows into it by key"
        )
    renamed_key = [k for k in key if k in (mapped or {}).values()]
    if renamed_key:
        raise ReplicaError(
            f"replication.yml maps master's columns to {label}'s key"
            f" ({', '.join(renamed_key)}): the key must be master's, by its own name"
        )
    missing_key = [k for k in key if k not in want]
    if missing_key:
        raise ReplicaError(
            f"{label}'s key ({', '.join(key)}) is not master's: master's {name} has"
            f" no {', '.join(missing_key)}"
        )
    for column, info in have.items():
        if column not in want and info["notnull"] and not info["has_default"]:
            raise ReplicaError(
                f"{label}.{column} is NOT NULL without a default and master's {name}"
                " has no such column: master's rows cannot be inserted (give it a"
                " default, or let it be null)"
            )
    written = [c for c in want if c in have]
    return AppTable(
        schema,
        name,
        built,
        landing,
        key,
        {c: have[c]["type"] for c in written},
        {c: have[c]["full_type"] for c in written},
        deletes,
    )


def check_map(
    label: str,
    name: str,
    masters: Sequence[str],
    applications: Sequence[str],
    mapped: dict[str, str],
) -> None:
    """Raise ReplicaError when replication.yml's map of master's ``name`` onto
    the application's table ``label`` (``masters`` and ``applications``: their
    columns) names a column either lacks, or one master has of its own."""
    for theirs, ours in mapped.items():
        said = f"replication.yml maps master's {name}.{theirs} to {label}.{ours}, but"
        if theirs not in masters:
            raise ReplicaError(f"{said} master's {name} has no column {theirs}")
        if ours not in applications:
            raise ReplicaError(
                f"{said} {label} (the application's table) has no column {ours}"
            )
        if ours in masters and ours not in mapped:
            raise ReplicaError(f"{said} master's {name} has a column {ours} of its own")


def _renamed(
    conn: psycopg.Connection,
    label: str,
    built: tuple[str, str],
    want: dict[str, dict],
    have: dict[str, dict],
    mapped: dict[str, str],
) -> tuple[str, str]:
    """A temporary view of ``built`` with master's columns named as the
    application's table names them (``mapped``)."""
    check_map(label, built[1], want, have, mapped)
    view = ("pg_temp", f"_mapped_{built[1]}")
    conn.execute(
        sql.SQL("create or replace temporary view {} as select {} from {}").format(
            sql.Identifier(view[1]),
            sql.SQL(", ").join(
                sql.SQL("{} as {}").format(
                    sql.Identifier(c), sql.Identifier(mapped.get(c, c))
                )
                for c in want
            ),
            sql.Identifier(*built),
        )
    )
    return view


def _keys(table: AppTable, alias: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.Identifier(alias, k) if alias else sql.Identifier(k) for k in table.key
    )


def _key_json(table: AppTable, alias: str) -> sql.Composable:
    return sql.SQL("jsonb_build_object({})").format(
        sql.SQL(", ").join(
            sql.SQL("{}, {}").format(sql.Literal(k), sql.Identifier(alias, k))
            for k in table.key
        )
    )


def _same_key(table: AppTable, a: str, b: str) -> sql.Composable:
    return sql.SQL(" and ").join(
        sql.SQL("{} = {}").format(sql.Identifier(a, k), sql.Identifier(b, k))
        for k in table.key
    )


def _hash(table: AppTable, alias: str, cast: bool) -> sql.Composable:
    """md5 of the written columns as the application's table stores them (``cast``:
    the build's values, cast to the stored types first: numeric(10,2) prints
    1.50 there)."""
    parts = [
        sql.SQL("{}::{}").format(sql.Identifier(alias, c), sql.SQL(t))
        if cast
        else sql.Identifier(alias, c)
        for c, t in table.stored_types.items()
    ]
    return sql.SQL("md5(row({})::text)").format(sql.SQL(", ").join(parts))


def adopt(conn: psycopg.Connection, table: AppTable, meta: str) -> None:
    """A table the replica published by swap that the application has taken (a
    foreign key or a view of its own depends on it): every row it holds is the
    replica's, so they are the base of its first publish by rows (a row master
    deleted since is deleted, not left as the application's)."""
    conn.execute(
        sql.SQL(
            "insert into {published} (table_name, row_key, row_hash)"
            " select {name}, {key}, {hash} from {live} as t on conflict do nothing"
        ).format(
            published=sql.Identifier(meta, "published_rows"),
            name=sql.Literal(table.label),
            key=_key_json(table, "t"),
            hash=_hash(table, "t", cast=False),
            live=table.ident,
        )
    )


def plan(
    conn: psycopg.Connection, table: AppTable, meta: str, local_wins: bool
) -> None:
    """The temporary table ``_plan_<name>``: each key with the build's, the live
    table's and the base's hash, and what the publish does with it."""
    want_from = sql.SQL("{} as w").format(sql.Identifier(*table.built))
    if table.landing:
        want_from += sql.SQL(" where exists (select 1 from {} as l where {})").format(
            sql.Identifier(*table.landing), _same_key(table, "l", "w")
        )
    conn.execute(
        sql.SQL(
            "create temporary table {plan} on commit drop as"
            " select {keys}, want.h as want, have.h as have, base.h as base,"
            " null::text as action, false as app_changed"
            " from (select {wkeys}, {whash} as h from {want_from}) as want"
            " full join (select {hkeys}, {hhash} as h from {live} as t) as have"
            " using ({keys})"
            " full join (select {bkeys}, b.row_hash as h from {published} as b"
            "  cross join lateral jsonb_populate_record(null::{live}, b.row_key) as r"
            "  where b.table_name = {name}) as base using ({keys})"
        ).format(
            plan=table.plan(),
            keys=_keys(table),
            wkeys=_keys(table, "w"),
            whash=_hash(table, "w", cast=True),
            want_from=want_from,
            hkeys=_keys(table, "t"),
            hhash=_hash(table, "t", cast=False),
            live=table.ident,
            bkeys=_keys(table, "r"),
            published=sql.Identifier(meta, "published_rows"),
            name=sql.Literal(table.label),
        )
    )
    changed = "(base is null or have is distinct from base)"
    keep_local = "true" if local_wins else "false"
    conn.execute(
        sql.SQL(
            "update {plan} set app_changed = have is not null and " + changed + ","
            " action = case"
            "  when want is not null and have is null then"
            "   case when base is not null and {local} then 'keep' else 'insert' end"
            "  when want is not null and want = have then 'same'"
            "  when want is not null then"
            "   case when " + changed + " and {local} then 'keep' else 'update' end"
            "  when have is not null and base is not null then"
            "   case when {flag} or (have <> base and {local}) then 'keep'"
            "   else 'delete' end"
            "  when have is not null then 'app'"
            "  else 'gone' end"
        ).format(
            plan=table.plan(),
            local=sql.SQL(keep_local),
            flag=sql.SQL("true" if table.deletes == "flag" else "false"),
        )
    )
    conn.execute(sql.SQL("create index on {} ({})").format(table.plan(), _keys(table)))


@dataclass
class Reference:
    """A foreign key into one of the tables the publish writes."""

    name: str
    child: tuple[str, str]
    child_columns: list[str]
    parent: tuple[str, str]
    parent_columns: list[str]

    @property
    def label(self) -> str:
        return f"{self.child[0]}.{self.child[1]} ({self.name})"


def references(conn: psycopg.Connection, tables: Sequence[AppTable]) -> list[Reference]:
    """Every foreign key whose referenced or referencing table is one of
    ``tables``."""
    names = [t.label for t in tables]
    rows = conn.execute(
        """
        select con.conname, cn.nspname, c.relname,
               array(select attname from unnest(con.conkey) with ordinality k(n, o)
                     join pg_attribute on attrelid = con.conrelid and attnum = k.n
                     order by k.o),
               pn.nspname, p.relname,
               array(select attname from unnest(con.confkey) with ordinality k(n, o)
                     join pg_attribute on attrelid = con.confrelid and attnum = k.n
                     order by k.o)
        from pg_constraint con
        join pg_class c on c.oid = con.conrelid
        join pg_namespace cn on cn.oid = c.relnamespace
        join pg_class p on p.oid = con.confrelid
        join pg_namespace pn on pn.oid = p.relnamespace
        where con.contype = 'f'
          and (pn.nspname || '.' || p.relname = any(%(names)s)
               or cn.nspname || '.' || c.relname = any(%(names)s))
        order by 1
        """,
        {"names": names},
    ).fetchall()
    return [
        Reference(r[0], (r[1], r[2]), list(r[3]), (r[4], r[5]), list(r[6]))
        for r in rows
    ]


def keep_referenced(
    conn: psycopg.Connection,
    tables: Sequence[AppTable],
    refs: Sequence[Reference],
    fail: bool,
) -> list[str]:
    """Rows planned for deletion that a row the publish keeps still references
    are kept (``fail``: the publish fails instead, naming them). Repeated until
    nothing changes, since a kept row may keep its own parents. Returns notes."""
    by_name = {(t.schema, t.name): t for t in tables}
    notes = []
    changed = True
    while changed:
        changed = False
        for ref in refs:
            parent = by_name.get(ref.parent)
            if parent is None:
                continue
            child = by_name.get(ref.child)
            link = sql.SQL(" and ").join(
                sql.SQL("c.{} = t.{}").format(sql.Identifier(a), sql.Identifier(b))
                for a, b in zip(ref.child_columns, ref.parent_columns, strict=True)
            )
            not_deleted = sql.SQL("")
            if child is not None:
                not_deleted = sql.SQL(
                    " and not exists (select 1 from {cplan} as cp where"
                    " cp.action = 'delete' and {same})"
                ).format(
                    cplan=child.plan(),
                    same=sql.SQL(" and ").join(
                        sql.SQL("cp.{k} = c.{k}").format(k=sql.Identifier(k))
                        for k in child.key
                    ),
                )
            held = conn.execute(
                sql.SQL(
                    "update {plan} as p set action = 'keep' where p.action = 'delete'"
                    " and exists (select 1 from {parent} as t join {child} as c"
                    " on {link} where {same}{not_deleted})"
                    " returning 1"
                ).format(
                    plan=parent.plan(),
                    parent=parent.ident,
                    child=sql.Identifier(*ref.child),
                    link=link,
                    same=sql.SQL(" and ").join(
                        sql.SQL("t.{k} = p.{k}").format(k=sql.Identifier(k))
                        for k in parent.key
                    ),
                    not_deleted=not_deleted,
                )
            ).fetchall()
            if held:
                if fail:
                    raise ReplicaError(
                        f"{len(held)} rows master deleted from {parent.label} are"
                        f" still referenced by {ref.label}: nothing was published"
                        " (referenced_rows: keep keeps them)"
                    )
                changed = True
                notes.append(
                    f"{parent.label}: kept {len(held)} rows master deleted, which"
                    f" {ref.label} references"
                )
    return notes


def write(
    conn: psycopg.Connection,
    table: AppTable,
    meta: str,
    archive: str,
    run_id: int,
    generation: int | None,
) -> None:
    """Archive, record the undo of, and write the planned rows; then the base."""
    # What both statements below read: the plan's rows and the live ones.
    over = {
        "name": sql.Literal(table.label),
        "key": _key_json(table, "p"),
        "plan": sql.SQL("{} as p").format(table.plan()),
        "live": table.ident,
        "same": _same_key(table, "t", "p"),
    }
    plan_rows, live = over["plan"], over["live"]
    if generation is not None:
        conn.execute(
            sql.SQL(
                "insert into {undo}"
                " (generation, table_name, row_key, before, base_hash)"
                " select {gen}, {name}, {key}, case when p.action = 'insert' then null"
                " else to_jsonb(t.*) end, p.base from {plan} left join {live} as t"
                " on {same} where p.action in ('insert', 'update', 'delete')"
                " on conflict (generation, table_name, row_key) do nothing"
            ).format(
                undo=sql.Identifier(meta, "row_undo"),
                gen=sql.Literal(generation),
                **over,
            )
        )
    conn.execute(
        sql.SQL(
            "insert into {archive} (run_id, table_name, reason, row_key, row_data)"
            " select {run}, {name}, case p.action when 'update' then"
            " 'overwritten by master''s row' else 'deleted: master deleted it' end,"
            " {key}, to_jsonb(t.*) from {plan} join {live} as t on {same}"
            " where p.action in ('update', 'delete') and p.app_changed"
        ).format(
            archive=sql.Identifier(archive, "app_rows"),
            run=sql.Literal(run_id),
            **over,
        )
    )
    table.counts = dict(
        conn.execute(
            sql.SQL("select action, count(*) from {} group by action").format(
                table.plan()
            )
        ).fetchall()
    )
    if table.counts.get("delete"):
        conn.execute(
            sql.SQL(
                "delete from {live} as t using {plan} where p.action = 'delete'"
                " and {same}"
            ).format(live=live, plan=plan_rows, same=_same_key(table, "t", "p"))
        )
    values = [c for c in table.columns if c not in table.key]
    if table.counts.get("update") and values:
        conn.execute(
            sql.SQL(
                "update {live} as t set ({cols}) = row({vals}) from {built} as w"
                " join {plan} on {wp} where p.action = 'update' and {tw}"
            ).format(
                live=live,
                cols=sql.SQL(", ").join(map(sql.Identifier, values)),
                vals=sql.SQL(", ").join(
                    sql.SQL("w.{}::{}").format(
                        sql.Identifier(c), sql.SQL(table.columns[c])
                    )
                    for c in values
                ),
                built=sql.Identifier(*table.built),
                plan=plan_rows,
                wp=_same_key(table, "w", "p"),
                tw=_same_key(table, "t", "w"),
            )
        )
    if table.counts.get("insert"):
        conn.execute(
            sql.SQL(
                "insert into {live} ({cols}) select {vals} from {built} as w"
                " join {plan} on {wp} where p.action = 'insert'"
            ).format(
                live=live,
                cols=sql.SQL(", ").join(map(sql.Identifier, table.columns)),
                vals=sql.SQL(", ").join(
                    sql.SQL("w.{}::{}").format(sql.Identifier(c), sql.SQL(t))
                    for c, t in table.columns.items()
                ),
                built=sql.Identifier(*table.built),
                plan=plan_rows,
                wp=_same_key(table, "w", "p"),
            )
        )
    # The base of the next publish: the hash of each row now as master has it.
    # Only the rows whose base changes are touched (a sync after a 1% change
    # rewrites 1% of it, not all of it).
    published = sql.Identifier(meta, "published_rows")
    conn.execute(
        sql.SQL(
            "delete from {published} as b using {plan} where b.table_name = {name}"
            " and b.row_key = {key} and p.action <> 'keep' and p.base is not null"
            " and p.base is distinct from case when p.action in"
            " ('insert', 'update', 'same') then p.want end"
        ).format(
            published=published,
            plan=plan_rows,
            name=sql.Literal(table.label),
            key=_key_json(table, "p"),
        )
    )
    conn.execute(
        sql.SQL(
            "insert into {published} (table_name, row_key, row_hash)"
            " select {name}, {key}, p.want from {plan}"
            " where p.action in ('insert', 'update', 'same')"
            " and p.want is distinct from p.base"
        ).format(
            published=published,
            name=sql.Literal(table.label),
            key=_key_json(table, "p"),
            plan=plan_rows,
        )
    )


def check_references(
    conn: psycopg.Connection, tables: Sequence[AppTable], refs: Sequence[Reference]
) -> None:
    """After the writes: every row the publish wrote into a table that
    references another has its parent (the foreign-key triggers were off).
    Raises ReplicaError naming the table, constraint and a sample key."""
    by_name = {(t.schema, t.name): t for t in tables}
    for ref in refs:
        child = by_name.get(ref.child)
        if child is None:
            continue
        link = sql.SQL(" and ").join(
            sql.SQL("t.{} = c.{}").format(sql.Identifier(b), sql.Identifier(a))
            for a, b in zip(ref.child_columns, ref.parent_columns, strict=True)
        )
        present = sql.SQL(" and ").join(
            sql.SQL("c.{} is not null").format(sql.Identifier(a))
            for a in ref.child_columns
        )
        found = conn.execute(
            sql.SQL(
                "select count(*), min({key}::text) from {child} as c join {plan}"
                " on {same} where p.action in ('insert', 'update') and {present}"
                " and not exists (select 1 from {parent} as t where {link})"
            ).format(
                key=_key_json(child, "c"),
                child=child.ident,
                plan=sql.SQL("{} as p").format(child.plan()),
                same=_same_key(child, "c", "p"),
                present=present,
                parent=sql.Identifier(*ref.parent),
                link=link,
            )
        ).fetchone()
        if found[0]:
            raise ReplicaError(
                f"{found[0]} of master's rows in {child.label} reference rows"
                f" {ref.parent[0]}.{ref.parent[1]} does not hold ({ref.name}),"
                f" e.g. {found[1]}: nothing was published"
            )


def notes(tables: Sequence[AppTable]) -> list[str]:
    """One line per table: what the publish wrote into it."""
    said = []
    for table in tables:
        parts = [
            f"{table.counts[a]} {word}"
            for a, word in _SAID.items()
            if table.counts.get(a)
        ]
        if table.counts.get("keep"):
            parts.append(f"{table.counts['keep']} kept as the application has them")
        apps = table.counts.get("app", 0)
        said.append(
            f"{table.label} (the application's table): "
            + (", ".join(parts) if parts else "no row differs")
            + (
                f"; {apps} rows of the application's own left as they are"
                if apps
                else ""
            )
        )
    return said


def restore(
    conn: psycopg.Connection, meta: str, generation: int, redo: int | None
) -> list[str]:
    """Put back the rows generation ``generation`` holds for the application's
    tables (rollback), in place; what it overwrites is kept as generation
    ``redo``'s undo, so the rollback can itself be undone. Returns notes."""
    undo = sql.Identifier(meta, "row_undo")
    tables = [
        r[0]
        for r in conn.execute(
            sql.SQL("select distinct table_name from {} where generation = %s").format(
                undo
            ),
            (generation,),
        ).fetchall()
    ]
    said = []
    for label in tables:
        schema, name = label.split(".", 1)
        live = sql.Identifier(schema, name)
        key = table_key(conn, schema, name)
        same = sql.SQL(" and ").join(
            sql.SQL("t.{k} = r.{k}").format(k=sql.Identifier(k)) for k in key
        )
        rows = sql.SQL(
            "(select u.before, u.base_hash, u.row_key, r.* from {undo} as u"
            " cross join lateral jsonb_populate_record(null::{live}, u.row_key) as r"
            " where u.generation = {gen} and u.table_name = {name}) as r"
        ).format(
            undo=undo, live=live, gen=sql.Literal(generation), name=sql.Literal(label)
        )
        if redo is not None:
            conn.execute(
                sql.SQL(
                    "insert into {undo} (generation, table_name, row_key, before,"
                    " base_hash) select {redo}, {name}, r.row_key, to_jsonb(t.*),"
                    " b.row_hash from {rows} left join {live} as t on {same}"
                    " left join {published} as b on b.table_name = {name}"
                    " and b.row_key = r.row_key"
                    " on conflict (generation, table_name, row_key) do nothing"
                ).format(
                    undo=undo,
                    redo=sql.Literal(redo),
                    name=sql.Literal(label),
                    rows=rows,
                    live=live,
                    same=same,
                    published=sql.Identifier(meta, "published_rows"),
                )
            )
        removed = conn.execute(
            sql.SQL("select count(*) from {rows} where r.before is null").format(
                rows=rows
            )
        ).fetchone()[0]
        conn.execute(
            sql.SQL("delete from {live} as t using {rows} where {same}").format(
                live=live, rows=rows, same=same
            )
        )
        restored = conn.execute(
            sql.SQL(
                "insert into {live} select (jsonb_populate_record(null::{live},"
                " r.before)).* from {rows} where r.before is not null"
            ).format(live=live, rows=rows)
        ).rowcount
        conn.execute(
            sql.SQL(
                "delete from {published} as b using {rows} where b.table_name = {name}"
                " and b.row_key = r.row_key"
            ).format(
                published=sql.Identifier(meta, "published_rows"),
                rows=rows,
                name=sql.Literal(label),
            )
        )
        conn.execute(
            sql.SQL(
                "insert into {published} (table_name, row_key, row_hash)"
                " select {name}, r.row_key, r.base_hash from {rows}"
                " where r.base_hash is not null"
            ).format(
                published=sql.Identifier(meta, "published_rows"),
                rows=rows,
                name=sql.Literal(label),
            )
        )
        said.append(
            f"{label} (the application's table): {restored} rows put back as they"
            f" were, {removed} rows the sync had inserted removed"
        )
    conn.execute(
        sql.SQL("delete from {} where generation = %s").format(undo), (generation,)
    )
    return said


def drop_generation(conn: psycopg.Connection, meta: str, generation: int) -> None:
    if conn.execute(
        "select to_regclass(%s) is not null",
        (f"{sql.Identifier(meta).as_string()}.row_undo",),
    ).fetchone()[0]:
        conn.execute(
            sql.SQL("delete from {} where generation = %s").format(
                sql.Identifier(meta, "row_undo")
            ),
            (generation,),
        )


def first_line(exc: psycopg.Error) -> str:
    """The database's error, on one line (no values: DETAIL lines hold rows)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def broken_constraint(
    conn: psycopg.Connection, table: AppTable, exc: psycopg.Error
) -> ReplicaError:
    """The error for master's rows breaking a constraint of the application's
    table: the table, the constraint and a key of a row that breaks it."""
    diag = exc.diag
    constraint = diag.constraint_name
    sample = None
    key = _key_json(table, "w")
    try:
        with conn.transaction():
            if isinstance(exc, psycopg.errors.NotNullViolation) and diag.column_name:
                sample = conn.execute(
                    sql.SQL("select {}::text from {} as w where w.{} is null").format(
                        key,
                        sql.Identifier(*table.built),
                        sql.Identifier(diag.column_name),
                    )
                ).fetchone()
            elif isinstance(exc, psycopg.errors.CheckViolation) and constraint:
                definition = conn.execute(
                    "select pg_get_constraintdef(oid) from pg_constraint"
                    " where conrelid = %s::regclass and conname = %s",
                    (table.ident.as_string(conn), constraint),
                ).fetchone()
                if definition and definition[0].upper().startswith("CHECK "):
                    sample = conn.execute(
                        sql.SQL(
                            "select {}::text from {} as w where not coalesce({}, true)"
                        ).format(
                            key,
                            sql.Identifier(*table.built),
                            sql.SQL(definition[0][6:]),
                        )
                    ).fetchone()
    except psycopg.Error:
        sample = None
    what = (
        f"constraint {constraint}"
        if constraint
        else f"column {diag.column_name}"
        if diag.column_name
        else "its constraints"
    )
    example = f", e.g. the row {sample[0]}" if sample else ""
    return ReplicaError(
        f"master's rows break {what} of {table.label} (the application's table)"
        f"{example}: {first_line(exc)}; nothing was published"
    )
