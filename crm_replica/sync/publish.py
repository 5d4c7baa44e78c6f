"""Write, audit, publish: a sync builds beside the live replica and publishes in one
short transaction of catalog-only moves.

- **The build area**: schemas ``_crm_build_<live>`` (settings.build_schema), one per
  published schema. A sync loads master's tables and builds every dbt model there;
  the application goes on reading the live schemas meanwhile.
- **Publish**: one transaction moves each live relation the build replaces into the
  generation of the run it belonged to (``replica_gen_<run>__<live>``, ``ALTER …
  SET SCHEMA``: no row is copied), moves the built relation into the live schema,
  recreates the views of other people that read a replaced relation (views bind to
  relations, not names), and records the run ``succeeded``. Readers see the previous
  complete replica until that commit and the new one after it.
- **Generations** are complete: every relation a publish replaced. ``rollback`` is
  the same move backwards (the live relations become a generation in turn), and the
  oldest generation beyond ``--keep`` is where the next sync builds: its landing
  tables are merged up to date (incremental) and dbt's incremental models go on
  from where they were, instead of starting from nothing.
- A run that fails or is interrupted before the publish leaves only the build area,
  which the next run drops (runlock.tidy).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from crm_replica.db import (
    access,
    definition,
    relation_kind,
    relation_names,
    shape,
    table_key,
)
from crm_replica.errors import ReplicaError
from crm_replica.load import View, dependent_views, drop_build_area, recreate_views
from crm_replica.settings import (
    BUILD_PREFIX,
    GEN_PREFIX,
    Application,
    Schemas,
    build_schema,
    generation_prefix,
    generation_schema,
)
from crm_replica.sync import rows

#: pg_class.relkind of what a build makes: tables, views, materialized views.
_KINDS = ("r", "p", "v", "m")

DDL = """
create table if not exists {schema}.generations (
    run_id bigint primary key references {schema}.runs (run_id) on delete cascade,
    schema_name text not null,
    tables text[] not null,
    taken_at timestamptz not null default now()
);
-- The relations the last publish put in the live schemas: the next publish moves
-- them out (into a generation) even when the new build no longer has them.
create table if not exists {schema}.published (
    schema_name text not null,
    relation_name text not null,
    run_id bigint not null,
    primary key (schema_name, relation_name)
);
-- The application's tables the last publish wrote rows into (sync.rows), and its
-- objects it kept in place of a model of the same name.
create table if not exists {schema}.application_relations (
    schema_name text not null,
    relation_name text not null,
    kind text not null check (kind in ('table', 'kept')),
    run_id bigint not null,
    primary key (schema_name, relation_name)
);
-- Master's columns a table of the application's holds under another name, as
-- that publish wrote them (replication.yml application: columns:): verify reads
-- them so.
alter table {schema}.application_relations
    add column if not exists columns jsonb not null default '{{}}';
"""


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Generation:
    run_id: int
    schema_name: str  # the prefix of its schemas: replica_gen_<run>__
    tables: list[str]  # "live_schema.relation" of every relation it holds


def ensure_schema(conn: psycopg.Connection, schemas: Schemas) -> None:
    conn.execute(sql.SQL(DDL).format(schema=sql.Identifier(schemas.meta)))


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute(
        "select to_regnamespace(%s) is not null", (sql.Identifier(schema).as_string(),)
    ).fetchone()[0]


def _create_schema(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(
        sql.SQL("create schema if not exists {}").format(sql.Identifier(schema))
    )


def generations(conn: psycopg.Connection, schemas: Schemas) -> list[Generation]:
    """The generations kept, newest first."""
    if not conn.execute(
        "select to_regclass(%s) is not null",
        (f"{sql.Identifier(schemas.meta).as_string()}.generations",),
    ).fetchone()[0]:
        return []
    return [
        Generation(*r)
        for r in conn.execute(
            sql.SQL(
                "select run_id, schema_name, tables from {}.generations"
                " order by run_id desc"
            ).format(sql.Identifier(schemas.meta))
        ).fetchall()
    ]


def prepare_build_area(
    conn: psycopg.Connection, schemas: Schemas, keep: int
) -> int | None:
    """Make the build schemas, on the oldest generation when one would be dropped
    after this sync publishes anyway (as many kept as ``keep``). Returns the run
    whose relations the build area starts with (None: it starts empty).
    Catalog-only: a generation's schemas are renamed."""
    drop_build_area(conn)
    kept = generations(conn, schemas)
    base = kept[-1] if kept and len(kept) >= max(keep, 1) else None
    for live in schemas.published:
        source = generation_schema(base.run_id, live) if base else None
        if source and _schema_exists(conn, source):
            conn.execute(
                sql.SQL("alter schema {} rename to {}").format(
                    sql.Identifier(source), sql.Identifier(build_schema(live))
                )
            )
        else:
            _create_schema(conn, build_schema(live))
    if base is None:
        return None
    # The copies of the models written into the application's tables go back
    # where dbt builds them.
    for name in relation_names(conn, build_schema(schemas.shadow), _KINDS):
        _move(conn, build_schema(schemas.shadow), name, build_schema(schemas.models))
    _drop_generation_schemas(conn, base.run_id, schemas.meta)
    conn.execute(
        sql.SQL("delete from {}.generations where run_id = %s").format(
            sql.Identifier(schemas.meta)
        ),
        (base.run_id,),
    )
    return base.run_id


#: Objects outside ``schemas`` (views, foreign keys) that depend on relations in
#: them: a generation holding what someone else still uses is not dropped.
_FOREIGN_DEPENDENTS = """
select distinct coalesce(vn.nspname || '.' || v.relname, kn.nspname || '.' || k.relname)
from pg_depend d
join pg_class c on c.oid = d.refobjid and d.refclassid = 'pg_class'::regclass
join pg_namespace n on n.oid = c.relnamespace
left join pg_rewrite r on d.classid = 'pg_rewrite'::regclass and r.oid = d.objid
left join pg_class v on v.oid = r.ev_class
left join pg_namespace vn on vn.oid = v.relnamespace
left join pg_constraint fk on d.classid = 'pg_constraint'::regclass
    and fk.oid = d.objid
left join pg_class k on k.oid = fk.conrelid
left join pg_namespace kn on kn.oid = k.relnamespace
where n.nspname = any(%(schemas)s)
  and coalesce(vn.nspname, kn.nspname) is not null
  and not coalesce(vn.nspname, kn.nspname) = any(%(schemas)s)
"""


def _drop_generation_schemas(
    conn: psycopg.Connection, run_id: int, meta_schema: str
) -> list[str]:
    """Drop generation ``run_id``'s schemas and the rows it kept of the
    application's tables, unless something outside them (a view or foreign key
    of the application's) still uses a relation there: then they are kept, and
    the note says what holds them."""
    names = [
        r[0]
        for r in conn.execute(
            "select nspname from pg_namespace where nspname like %s",
            (generation_prefix(run_id).replace("_", "\\_") + "%",),
        ).fetchall()
    ]
    users = [r[0] for r in conn.execute(_FOREIGN_DEPENDENTS, {"schemas": names})]
    if users:
        return [
            f"generation of run {run_id} kept in place: {', '.join(users)} still"
            " read it"
        ]
    rows.drop_generation(conn, meta_schema, run_id)
    for schema in names:
        conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))
    return []


def built_relations(conn: psycopg.Connection, schemas: Schemas) -> list[Relation]:
    """What the build area holds, by live schema and name."""
    return [
        Relation(live, name)
        for live in schemas.published
        for name in relation_names(conn, build_schema(live), _KINDS)
    ]


def drop_unexpected(
    conn: psycopg.Connection, schemas: Schemas, expected: Iterable[Relation]
) -> list[str]:
    """Drop relations of the build area that this build did not make (left from
    the generation it started on: a model since removed from the project)."""
    wanted = set(expected)
    dropped = []
    for rel in built_relations(conn, schemas):
        if rel not in wanted:
            conn.execute(
                sql.SQL("drop {} if exists {} cascade").format(
                    sql.SQL(_kind_word(conn, build_schema(rel.schema), rel.name)),
                    sql.Identifier(build_schema(rel.schema), rel.name),
                )
            )
            dropped.append(str(rel))
    return dropped


def _kind_word(conn: psycopg.Connection, schema: str, name: str) -> str:
    kind = conn.execute(
        "select c.relkind::text from pg_class c join pg_namespace n"
        " on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s",
        (schema, name),
    ).fetchone()
    return {"v": "view", "m": "materialized view"}.get(kind[0] if kind else "", "table")


def _published(conn: psycopg.Connection, schemas: Schemas) -> set[Relation]:
    return {
        Relation(*r)
        for r in conn.execute(
            sql.SQL("select schema_name, relation_name from {}.published").format(
                sql.Identifier(schemas.meta)
            )
        ).fetchall()
    }


def _move(conn: psycopg.Connection, schema: str, name: str, to: str) -> None:
    _create_schema(conn, to)
    conn.execute(
        sql.SQL("alter {} {} set schema {}").format(
            sql.SQL(_kind_word(conn, schema, name)),
            sql.Identifier(schema, name),
            sql.Identifier(to),
        )
    )


def _foreign_views(
    conn: psycopg.Connection, replaced: Sequence[Relation], ours: set[Relation]
) -> list[View]:
    """Views that read a relation being replaced and are not ours to move: the
    application's own. Read with an empty search path, so that their text names
    every relation by schema."""
    conn.execute("set local search_path = ''")
    views = dependent_views(conn, [r.ident for r in replaced])
    conn.execute("set local search_path = default")
    return [v for v in views if Relation(v.schema, v.name) not in ours]


def publish(
    conn: psycopg.Connection,
    schemas: Schemas,
    run_id: int,
    live_run: int | None,
    *,
    partial: bool = False,
    application: Application | None = None,
    deletes: dict[str, str] | None = None,
) -> list[str]:
    """Publish the build area, in the caller's transaction. Into the
    application's own tables of the models schema, the rows that differ
    (sync.rows); every other built relation is moved into its live schema, and
    the live relations they replace (and any the last publish put there that
    this build no longer has) become generation ``live_run`` (dropped when there
    is none). An object of the application's named like a model that is not a
    table (a view of its own) is kept, and the model is not published there.
    ``partial`` (a build of some models only): replace just what was built, and
    keep no generation. ``deletes``: replication.yml's delete policy by table.
    Returns notes."""
    application = application or Application()
    ensure_schema(conn, schemas)
    built = built_relations(conn, schemas)
    before = set() if partial else _published(conn, schemas)
    keep_generation = live_run is not None and not partial
    tables, kept = _the_applications(
        conn, schemas, built, _published(conn, schemas), application
    )
    notes = []
    if tables:
        notes += write_rows(
            conn,
            schemas,
            tables,
            run_id,
            live_run if keep_generation else None,
            application,
            deletes or {},
        )
    notes += [
        f"{rel} is the application's {_kind_word(conn, rel.schema, rel.name)}: kept"
        f" as it is; the replica's {rel.name} is {schemas.shadow}.{rel.name}"
        " (replication.yml application: replace: lets the replica replace it)"
        for rel in kept
    ]
    # The build's copies of what the application has are the replica's own
    # (schemas.shadow): published as the rest, where the next build starts from.
    theirs = {*tables, *kept}
    for rel in theirs:
        _move(conn, build_schema(rel.schema), rel.name, build_schema(schemas.shadow))
    built = [r for r in built if r not in theirs] + [
        Relation(schemas.shadow, r.name) for r in theirs
    ]
    replaced = [
        r
        for r in {*built, *before}
        if r not in theirs and _kind_exists(conn, r.schema, r.name)
    ]
    foreign = _foreign_views(conn, replaced, {*built, *before})
    moved_out = []
    for rel in sorted(replaced, key=str):
        if keep_generation:
            definition.drop_foreign_keys(conn, rel.schema, rel.name)
            _move(conn, rel.schema, rel.name, generation_schema(live_run, rel.schema))
            moved_out.append(str(rel))
        else:
            conn.execute(
                sql.SQL("drop {} if exists {} cascade").format(
                    sql.SQL(_kind_word(conn, rel.schema, rel.name)), rel.ident
                )
            )
    for rel in built:
        _create_schema(conn, rel.schema)
        _move(conn, build_schema(rel.schema), rel.name, rel.schema)
    drop_build_area(conn)
    notes += _give_access(conn, schemas, run_id, built)
    live = [*built, *_published(conn, schemas)]
    notes += _give_definition(
        conn, schemas, run_id, [r for r in live if r not in theirs]
    )
    conn.execute("set local search_path = ''")
    notes += recreate_views(conn, foreign, replace=True)
    conn.execute("set local search_path = default")
    table = sql.Identifier(schemas.meta, "published")
    theirs_table = sql.Identifier(schemas.meta, "application_relations")
    if not partial:
        conn.execute(sql.SQL("delete from {}").format(table))
    # What the replica now publishes itself is no longer the application's.
    conn.cursor().executemany(
        sql.SQL("delete from {} where schema_name = %s and relation_name = %s").format(
            theirs_table
        ),
        [(r.schema, r.name) for r in built],
    )
    conn.cursor().executemany(
        sql.SQL(
            "insert into {} values (%s, %s, %s) on conflict"
            " (schema_name, relation_name) do update set run_id = excluded.run_id"
        ).format(table),
        [(r.schema, r.name, run_id) for r in built],
    )
    conn.cursor().executemany(
        sql.SQL(
            "insert into {} values (%s, %s, %s, %s, %s) on conflict"
            " (schema_name, relation_name) do update set kind = excluded.kind,"
            " run_id = excluded.run_id, columns = excluded.columns"
        ).format(theirs_table),
        [
            (r.schema, r.name, "table", run_id, Jsonb(application.mapped(r.name)))
            for r in tables
        ]
        + [(r.schema, r.name, "kept", run_id, Jsonb({})) for r in kept],
    )
    if (moved_out or tables) and keep_generation:
        conn.execute(
            sql.SQL(
                "insert into {}.generations (run_id, schema_name, tables)"
                " values (%s, %s, %s) on conflict (run_id) do update"
                " set tables = excluded.tables, taken_at = now()"
            ).format(sql.Identifier(schemas.meta)),
            (live_run, generation_prefix(live_run), moved_out),
        )
    return notes


def _give_access(
    conn: psycopg.Connection,
    schemas: Schemas,
    run_id: int,
    published: Sequence[Relation],
) -> list[str]:
    """In a database Supabase's Data API serves (its API roles exist), what the
    publish moved into the application's schema gets master's access (db.access);
    what it moved into the replica's own schemas, none."""
    if not access.api_roles_exist(conn):
        return []
    rules = access.recorded(conn, run_id)
    notes = []
    for rel in published:
        kind = _relkind(conn, rel.schema, rel.name)
        if kind is None:
            continue
        if rel.schema == schemas.models:
            notes += access.give(conn, rel.schema, rel.name, kind, rules.get(rel.name))
        else:
            access.close(conn, rel.schema, rel.name, kind)
    return notes


def _give_definition(
    conn: psycopg.Connection,
    schemas: Schemas,
    run_id: int,
    published: Iterable[Relation],
) -> list[str]:
    """The replica's own tables live in the models schema (``published``) get
    master's defaults and foreign keys among them (any they lack: a table one
    references may have been replaced by a partial build), db.definition."""
    rules = access.recorded(conn, run_id)
    tables = [
        rel
        for rel in sorted(set(published), key=str)
        if rel.schema == schemas.models
        and _relkind(conn, rel.schema, rel.name) in ("r", "p")
    ]
    ours = {rel.name for rel in tables}
    notes = []
    for rel in tables:
        if rel.name in rules:
            notes += definition.give_defaults(
                conn, rel.schema, rel.name, rules[rel.name]
            )
    for rel in tables:  # once every table is in place
        if rel.name in rules:
            notes += definition.give_foreign_keys(
                conn, rel.schema, rel.name, rules[rel.name], ours
            )
    return notes


def _the_applications(
    conn: psycopg.Connection,
    schemas: Schemas,
    built: Sequence[Relation],
    before: set[Relation],
    application: Application,
) -> tuple[list[Relation], list[Relation]]:
    """Of the relations built for the models schema (the application's), those
    whose name is taken there by the application: its tables (written by rows)
    and its other objects (kept). A relation the replica published itself is
    the application's once a table or view of the application's depends on it."""
    ours = {*built, *before}
    tables, kept = [], []
    for rel in built:
        if rel.schema != schemas.models:
            continue
        kind = _relkind(conn, rel.schema, rel.name)
        if kind is None:
            continue
        if rel in before and not (
            # Without a key its rows cannot be written in place: it is replaced,
            # and a view of the application's over it re-created (said).
            table_key(conn, rel.schema, rel.name)
            and _depended_on_by_others(conn, rel, ours)
        ):
            continue
        if kind in ("r", "p"):
            tables.append(rel)
        elif rel.name not in application.replace:
            kept.append(rel)
    return tables, kept


def _relkind(conn: psycopg.Connection, schema: str, name: str) -> str | None:
    """The kind of ``schema.name`` when it is a table, view or foreign table."""
    kind = relation_kind(conn, schema, name)
    return kind if kind in (*_KINDS, "f") else None


def _depended_on_by_others(
    conn: psycopg.Connection, rel: Relation, ours: set[Relation]
) -> bool:
    """A foreign key from a table, or a view, that is not the replica's depends
    on ``rel`` (replacing it would drop the key or leave the view reading the old
    table)."""
    rows = conn.execute(
        "select cn.nspname, c.relname from pg_constraint con"
        " join pg_class c on c.oid = con.conrelid"
        " join pg_namespace cn on cn.oid = c.relnamespace"
        " where con.contype = 'f' and con.confrelid = to_regclass(%(rel)s)"
        " union"
        " select vn.nspname, v.relname from pg_depend d"
        " join pg_rewrite rw on rw.oid = d.objid"
        " join pg_class v on v.oid = rw.ev_class"
        " join pg_namespace vn on vn.oid = v.relnamespace"
        " where d.classid = 'pg_rewrite'::regclass"
        " and d.refobjid = to_regclass(%(rel)s) and v.oid <> d.refobjid",
        {"rel": rel.ident.as_string(conn)},
    ).fetchall()
    return any(Relation(*r) not in ours for r in rows)


def write_rows(
    conn: psycopg.Connection,
    schemas: Schemas,
    tables: Sequence[Relation],
    run_id: int,
    generation: int | None,
    application: Application,
    deletes: dict[str, str],
) -> list[str]:
    """Write the build's rows into the application's ``tables`` (sync.rows), their
    triggers silenced and their foreign keys checked here; ``generation``: the
    run whose rows the undo keeps (None: keep none). Raises ReplicaError naming
    the table and constraint that master's rows break."""
    _silence_triggers(conn)
    rows.ensure_schema(conn, schemas.meta, schemas.archive)
    described = [
        rows.describe(
            conn,
            (rel.schema, rel.name),
            (build_schema(rel.schema), rel.name),
            _landing_of(conn, schemas, rel.name),
            deletes.get(rel.name, "apply"),
            application.mapped(rel.name),
        )
        for rel in tables
    ]
    local_wins = schemas.conflict_policy == "local_wins"
    swapped = _published(conn, schemas)
    for rel, table in zip(tables, described, strict=True):
        if rel in swapped:
            rows.adopt(conn, table, schemas.meta)
        rows.plan(conn, table, schemas.meta, local_wins)
    # The foreign keys of the replica's own tables (db.definition) hold the
    # copies this publish replaces: they are not the application's references.
    refs = [
        ref
        for ref in rows.references(conn, described)
        if Relation(*ref.child) not in swapped or Relation(*ref.child) in tables
    ]
    notes = rows.keep_referenced(
        conn, described, refs, fail=application.referenced_rows == "fail"
    )
    for table in described:
        try:
            with conn.transaction():
                rows.write(
                    conn, table, schemas.meta, schemas.archive, run_id, generation
                )
        except psycopg.errors.IntegrityError as exc:
            raise rows.broken_constraint(conn, table, exc) from None
        except psycopg.errors.DataError as exc:
            raise ReplicaError(
                f"master's rows do not fit {table.label} (the application's table):"
                f" {rows.first_line(exc)}"
            ) from None
    rows.check_references(conn, described, refs)
    conn.execute("set local session_replication_role = origin")
    return notes + rows.notes(described)


def _silence_triggers(conn: psycopg.Connection) -> None:
    """The application's triggers do not fire for the rows the publish writes."""
    try:
        with conn.transaction():
            conn.execute("set local session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        role = conn.execute("select current_user").fetchone()[0]
        raise ReplicaError(
            f"the replica's role {role} may not set session_replication_role, which"
            " keeps the application's triggers (webhooks) from firing for master's"
            f" rows: grant set on parameter session_replication_role to {role}"
            " (Supabase's postgres may)"
        ) from None


def _landing_of(
    conn: psycopg.Connection, schemas: Schemas, name: str
) -> tuple[str, str] | None:
    """Master's table as this build landed it (or as it is live)."""
    for schema in (build_schema(schemas.landing), schemas.landing):
        if _relkind(conn, schema, name) is not None:
            return (schema, name)
    return None


def _kind_exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return relation_kind(conn, schema, name) in _KINDS


def prune(conn: psycopg.Connection, schemas: Schemas, keep: int) -> list[int]:
    """Drop all but the newest ``keep`` generations; return the runs dropped."""
    dropped = []
    for gen in generations(conn, schemas)[max(keep, 0) :]:
        with conn.transaction():
            _drop_generation_schemas(conn, gen.run_id, schemas.meta)
            conn.execute(
                sql.SQL("delete from {}.generations where run_id = %s").format(
                    sql.Identifier(schemas.meta)
                ),
                (gen.run_id,),
            )
        dropped.append(gen.run_id)
    return dropped


def restore(
    conn: psycopg.Connection, schemas: Schemas, gen: Generation, live_run: int
) -> list[str]:
    """In the caller's transaction: the generation's relations become live again,
    and the live ones become generation ``live_run`` (so the rollback can itself be
    undone). Catalog-only."""
    for entry in gen.tables:
        live, name = entry.split(".", 1)
        source = generation_schema(gen.run_id, live)
        if not _kind_exists(conn, source, name):
            raise ReplicaError(
                f"generation of run {gen.run_id} is incomplete: {source}.{name} is gone"
            )
    for entry in gen.tables:
        live, name = entry.split(".", 1)
        _create_schema(conn, build_schema(live))
        _move(conn, generation_schema(gen.run_id, live), name, build_schema(live))
    rows.ensure_schema(conn, schemas.meta, schemas.archive)
    _silence_triggers(conn)
    # The application's tables hold the live rows: each generation's undo, from
    # the newest back to this one, brings them to this generation's rows.
    notes = []
    for newer in generations(conn, schemas):
        if newer.run_id >= gen.run_id:
            notes = rows.restore(conn, schemas.meta, newer.run_id, live_run)
    conn.execute("set local session_replication_role = origin")
    _drop_generation_schemas(conn, gen.run_id, schemas.meta)
    conn.execute(
        sql.SQL("delete from {}.generations where run_id = %s").format(
            sql.Identifier(schemas.meta)
        ),
        (gen.run_id,),
    )
    return notes + publish(conn, schemas, gen.run_id, live_run)


def is_internal(schema: str) -> bool:
    return schema.startswith((BUILD_PREFIX, GEN_PREFIX))


def add_master_columns(
    conn: psycopg.Connection, schemas: Schemas, application: Application
) -> list[str]:
    """Before a build: the columns of master's tables (as landed in the build
    area) that the application's table of the same name lacks are added to it,
    nullable, with master's type (not those replication.yml maps to a column of
    the application's): the one change a sync makes to an application
    table's schema (its own columns are never dropped or retyped). With
    replication.yml's ``application: add_master_columns: false`` the sync refuses
    instead. Each table in its own short transaction, waiting for its lock no
    longer than the lock timeout. Returns notes."""
    landing = build_schema(schemas.landing)
    before = _published(conn, schemas)
    for name, mapped in application.columns:  # before any column is added
        theirs, ours = shape(conn, landing, name), shape(conn, schemas.models, name)
        if theirs is not None and ours is not None and not ours.is_view:
            label = str(Relation(schemas.models, name))
            rows.check_map(label, name, theirs.columns, ours.columns, dict(mapped))
    notes = []
    for name in relation_names(conn, landing, ("r", "p")):
        rel = Relation(schemas.models, name)
        if _relkind(conn, rel.schema, name) not in ("r", "p"):
            continue
        if rel in before and not _depended_on_by_others(conn, rel, before):
            continue
        missing = conn.execute(
            """
            select m.attname, format_type(m.atttypid, m.atttypmod)
            from pg_attribute m
            where m.attrelid = %s::regclass and m.attnum > 0 and not m.attisdropped
              and not exists (
                select 1 from pg_attribute a where a.attrelid = %s::regclass
                  and a.attname = m.attname and not a.attisdropped)
              and m.attname <> all(%s)
            order by m.attnum
            """,
            (
                sql.Identifier(landing, name).as_string(conn),
                rel.ident.as_string(conn),
                list(application.mapped(name)),
            ),
        ).fetchall()
        if not missing:
            continue
        names = ", ".join(c for c, _ in missing)
        if not application.add_master_columns:
            raise ReplicaError(
                f"{rel} (the application's table) lacks master's columns {names}, and"
                " replication.yml says application: add_master_columns: false: add"
                " them (replica analyze writes the DDL) or let the sync add them"
            )
        with conn.transaction():
            conn.execute(
                sql.SQL("alter table {} {}").format(
                    rel.ident,
                    sql.SQL(", ").join(
                        sql.SQL("add column {} {}").format(
                            sql.Identifier(c), sql.SQL(t)
                        )
                        for c, t in missing
                    ),
                )
            )
        notes.append(f"{rel} (the application's table): added master's columns {names}")
    return notes
