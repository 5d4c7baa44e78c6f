"""The schema gap between master and the replica, before (or after) a migration.

Reads both catalogs (master read-only) and compares, table by table, master's
replicated tables with the replica's application schema (``public``): columns,
types, nullability, defaults, constraints, indexes, and row counts. The rows of
the application's own (legacy) tables are compared with master's by primary key:
same key with other values is a conflict, the rest is local-only or master-only.

Before the first sync the legacy rows are in ``public`` itself. After one, dbt has
replaced those tables with master's and archived the legacy rows in
``local_archive`` (see macros/archive_local_tables.sql): the schema is still read
from ``public`` (what the application reads) and the rows from the archive.

Rendering (the DDL and the two Markdown files) is in crm_replica/analyze/write.py
and its templates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import psycopg
from psycopg import sql

from crm_replica.db import (
    TypeLanding,
    connect_master,
    connect_replica,
    describe,
    describe_relation,
    refuse_row_security,
    relation_kind,
)
from crm_replica.errors import ReplicaError
from crm_replica.settings import (
    CRM_TABLES,
    DASHBOARD_VIEWS,
    MASTER_SCHEMA,
    Application,
    Schemas,
)

APP_SCHEMA = "public"
ARCHIVE_SCHEMA = "local_archive"
#: Legacy column -> master column, where the application named it differently
#: (docs/master.md: local ``project_id`` is master's ``current_project_id``).
RENAMES = {("leads", "project_id"): "current_project_id"}
POLICIES = ("master-wins", "local-wins")
#: Conflicting keys listed per table in the report.
CONFLICTS_LISTED = 20


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: str
    not_null: bool
    default: str | None
    identity: str  # "", "a" (always) or "d" (by default)
    generated: str  # "" or "s" (stored)
    builtin_type: bool  # a pg_catalog type: exists on every server

    def ddl(self) -> str:
        """The column's definition for CREATE TABLE / ADD COLUMN."""
        parts = [sql.Identifier(self.name).as_string(None), self.type]
        if self.generated == "s" and self.default:
            parts.append(f"generated always as ({self.default}) stored")
        elif self.identity:
            kind = "always" if self.identity == "a" else "by default"
            parts.append(f"generated {kind} as identity")
        elif self.default and "nextval(" not in self.default:
            parts.append(f"default {self.default}")
        if self.not_null:
            parts.append("not null")
        return " ".join(parts)

    @property
    def described(self) -> str:
        return self.type + (" not null" if self.not_null else "")

    @property
    def required(self) -> bool:
        """Not null with nothing to fill it: added to a table that has rows, it
        is added nullable."""
        return self.not_null and not self.default and not self.identity


@dataclass(frozen=True)
class Constraint:
    name: str
    kind: str  # p, u, f, c, x
    definition: str


@dataclass
class Shape:
    """A table as one catalog describes it."""

    schema: str
    table: str
    columns: list[ColumnDef]
    constraints: list[Constraint]
    indexes: dict[str, str]  # definition without name and table -> full definition
    rows: int

    def column(self, name: str) -> ColumnDef | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def custom_types(self) -> list[str]:
        """The types of its columns that are not pg_catalog's, sorted."""
        return sorted({c.type for c in self.columns if not c.builtin_type})

    @property
    def key(self) -> list[str]:
        """Primary key columns, in key order."""
        pk = next((c for c in self.constraints if c.kind == "p"), None)
        if pk is None:
            return []
        inner = pk.definition[pk.definition.index("(") + 1 : pk.definition.index(")")]
        return [part.strip().strip('"') for part in inner.split(",")]


@dataclass
class Conflict:
    key: str
    columns: list[str]


@dataclass
class TableAnalysis:
    table: str
    master: Shape
    replica: Shape | None  # the application schema's table
    local: Shape | None  # where the legacy rows are: public.T or local_archive.T
    renames: dict[str, str] = field(default_factory=dict)  # replica -> master
    missing_columns: list[ColumnDef] = field(default_factory=list)
    extra_columns: list[ColumnDef] = field(default_factory=list)
    type_changes: list[tuple[str, str, str]] = field(default_factory=list)
    null_changes: list[tuple[str, bool]] = field(default_factory=list)
    default_changes: list[tuple[str, str | None]] = field(default_factory=list)
    missing_constraints: list[Constraint] = field(default_factory=list)
    missing_indexes: list[str] = field(default_factory=list)
    order_differs: bool = False
    compared_columns: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    same: int = 0
    local_only: int = 0
    master_only: int = 0
    orphans: list[str] = field(default_factory=list)
    nulls: dict[str, int] = field(default_factory=dict)  # columns to become not null
    notes: list[str] = field(default_factory=list)
    #: what the application's schema has by this name that is not a table
    in_the_way: str | None = None
    #: Master's columns of a type the replica cannot have, which a load lands as
    #: text (master's text output): "column TYPE landed as text (why)".
    as_text: list[str] = field(default_factory=list)

    @property
    def as_master(self) -> dict[str, ColumnDef]:
        """The replica's columns by master's name for them (its renames)."""
        columns = self.replica.columns if self.replica else []
        return {self.renames.get(c.name, c.name): c for c in columns}

    @property
    def needs_key(self) -> bool:
        """Master's rows are written by key: the application's table has none."""
        return bool(self.replica and self.master.key and not self.replica.key)

    @property
    def needs_ddl(self) -> bool:
        """What the DDL adds is missing: the table, a column, the key, an index
        (what it leaves to the application does not count)."""
        return bool(
            (self.replica is None and self.in_the_way is None)
            or self.missing_columns
            or self.needs_key
            or self.missing_indexes
        )

    @property
    def schema_differs(self) -> bool:
        return bool(
            self.replica is None
            or self.renames
            or self.missing_columns
            or self.type_changes
            or self.null_changes
            or self.default_changes
            or self.missing_constraints
            or self.missing_indexes
        )


@dataclass
class Analysis:
    master: str
    replica: str
    master_version: str
    #: a sync succeeded (replica_meta.runs) or dbt archived the legacy tables:
    #: public holds what dbt built, the legacy rows (if any) are archived
    synced: bool
    last_run: tuple[int, datetime] | None
    tables: list[TableAnalysis]
    replica_only_tables: list[str]
    policy: str
    generated_at: datetime
    #: Extensions master's columns need that the replica has available but not
    #: installed, with master's schema for them: a load creates them, and so does
    #: the DDL.
    extensions: list[tuple[str, str | None]] = field(default_factory=list)

    def table(self, name: str) -> TableAnalysis:
        return next(t for t in self.tables if t.table == name)


#: What a relation that is not a table is called, for what the DDL leaves.
_KIND_WORDS = {"v": "view", "m": "materialized view", "f": "foreign table"}


def read_shape(conn: psycopg.Connection, schema: str, table: str) -> Shape | None:
    """``schema.table`` from the catalog, or None when it is not a table (a view
    of the application's named like master's table is not master's table)."""
    name = sql.Identifier(schema, table).as_string(conn)
    if relation_kind(conn, schema, table) not in ("r", "p"):
        return None
    columns = [
        ColumnDef(*row)
        for row in conn.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
            " pg_get_expr(d.adbin, d.adrelid), a.attidentity::text,"
            " a.attgenerated::text, tn.nspname = 'pg_catalog'"
            " from pg_attribute a"
            " join pg_type ty on ty.oid = a.atttypid"
            " join pg_namespace tn on tn.oid = ty.typnamespace"
            " left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum"
            " where a.attrelid = to_regclass(%s) and a.attnum > 0"
            " and not a.attisdropped order by a.attnum",
            (name,),
        ).fetchall()
    ]
    constraints = [
        Constraint(*row)
        for row in conn.execute(
            "select conname, contype::text, pg_get_constraintdef(oid)"
            " from pg_constraint where conrelid = to_regclass(%s)"
            " and contype in ('p', 'u', 'f', 'c', 'x') order by contype, conname",
            (name,),
        ).fetchall()
    ]
    indexes = {
        _index_signature(defn): defn
        for (defn,) in conn.execute(
            "select pg_get_indexdef(x.indexrelid) from pg_index x"
            " where x.indrelid = to_regclass(%s) and not exists ("
            "  select 1 from pg_constraint c where c.conrelid = x.indrelid"
            "  and c.conindid = x.indexrelid and c.contype in ('p', 'u', 'x'))",
            (name,),
        ).fetchall()
    }
    rows = conn.execute(sql.SQL("select count(*) from {}").format(sql.SQL(name)))
    return Shape(schema, table, columns, constraints, indexes, rows.fetchone()[0])


def _index_signature(definition: str) -> str:
    """An index definition without its name and table: what makes two the same."""
    return re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ ", r"\1", definition)


def _rename_in(definition: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        definition = re.sub(rf'(?<![\w"]){re.escape(old)}(?![\w"])', new, definition)
    return definition


def compare_schema(t: TableAnalysis, mapped: dict[str, str] | None = None) -> None:
    """Fill in what the replica's table lacks or has otherwise than master's;
    ``mapped``: master's columns it holds under another name (replication.yml)."""
    master, replica = t.master, t.replica
    if replica is None:
        return
    names = {c.name for c in replica.columns}
    renames = {(t.table, ours): theirs for theirs, ours in (mapped or {}).items()}
    for (table, old), new in {**RENAMES, **renames}.items():
        master_has = master.column(new) and not master.column(old)
        if table == t.table and old in names and new not in names and master_has:
            t.renames[old] = new
    as_master = t.as_master
    t.missing_columns = [c for c in master.columns if c.name not in as_master]
    t.extra_columns = [
        c for name, c in as_master.items() if master.column(name) is None
    ]
    for col in master.columns:
        ours = as_master.get(col.name)
        if ours is None:
            continue
        if ours.type != col.type:
            t.type_changes.append((col.name, ours.type, col.type))
        # A primary key the DDL adds makes its columns not null by itself.
        implied = col.name in master.key and not replica.key
        if ours.not_null != col.not_null and not implied:
            t.null_changes.append((col.name, col.not_null))
        if (ours.default or None) != (col.default or None) and not (
            col.identity or col.generated or "nextval(" in (col.default or "")
        ):
            t.default_changes.append((col.name, col.default))
    shared = [c.name for c in master.columns if c.name in as_master]
    t.order_differs = shared != [n for n in as_master if master.column(n)]
    ours_defs = {_rename_in(c.definition, t.renames) for c in replica.constraints}
    t.missing_constraints = [
        c for c in master.constraints if c.definition not in ours_defs
    ]
    ours_idx = {_rename_in(s, t.renames) for s in replica.indexes}
    t.missing_indexes = [d for s, d in master.indexes.items() if s not in ours_idx]


def _values(
    conn: psycopg.Connection,
    shape: Shape,
    key: list[str],
    columns: list[str],
    names: dict[str, str],
    keys: list[str] | None = None,
) -> dict[str, tuple]:
    """Key text -> the columns' values as text (``names`` maps master's column
    names to this side's); only rows whose key text is in ``keys`` when given."""

    def text(col: str) -> sql.Composable:
        return sql.SQL("{}::text").format(sql.Identifier(names.get(col, col)))

    key_text = sql.SQL("row({})::text").format(
        sql.SQL(", ").join(sql.Identifier(names.get(k, k)) for k in key)
    )
    query = sql.SQL("select {}, {} from {}").format(
        key_text,
        sql.SQL(", ").join([text(c) for c in columns] or [sql.SQL("null")]),
        sql.Identifier(shape.schema, shape.table),
    )
    if keys is not None:
        query = sql.SQL("{} where {} = any(%s)").format(query, key_text)
    rows = conn.execute(query, (keys,) if keys is not None else None).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def compare_rows(
    master: psycopg.Connection, replica: psycopg.Connection, t: TableAnalysis
) -> None:
    """Same key, other values (conflicts); keys only on one side."""
    local = t.local
    if local is None:
        return
    key = t.master.key
    to_local = _to_local(t.table, local)
    if not key or any(k not in to_local for k in key):
        t.notes.append("rows not compared: no common primary key")
        return
    t.compared_columns = [
        c.name for c in t.master.columns if c.name in to_local and c.name not in key
    ]
    ours = _values(replica, local, key, t.compared_columns, to_local)
    theirs = _values(master, t.master, key, t.compared_columns, {}, list(ours))
    for k, values in sorted(ours.items()):
        other = theirs.get(k)
        if other is None:
            t.local_only += 1
        elif other == values:
            t.same += 1
        else:
            cols = [
                c
                for c, a, b in zip(t.compared_columns, values, other, strict=True)
                if a != b
            ]
            t.conflicts.append(Conflict(k.strip("()"), cols))
    t.master_only = t.master.rows - len(theirs)


def _to_local(table: str, shape: Shape) -> dict[str, str]:
    """Master's column name -> ``shape``'s, for the columns ``shape`` has."""
    names = {c.name for c in shape.columns}
    out = {}
    for name in names:
        new = RENAMES.get((table, name))
        out[new if new and new not in names else name] = name
    return out


def find_orphans(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    analysis: list[TableAnalysis],
) -> None:
    """Local rows whose foreign key value is in neither side's parent table: the
    foreign keys master has would reject them."""
    by_name = {t.table: t for t in analysis}
    fk = re.compile(r"FOREIGN KEY \((\w+)\) REFERENCES (?:\w+\.)?(\w+)\((\w+)\)")
    for t in analysis:
        if t.local is None:
            continue
        local_names = _to_local(t.table, t.local)
        for c in t.master.constraints:
            m = fk.match(c.definition)
            if c.kind != "f" or not m or m.group(1) not in local_names:
                continue
            child, parent, parent_col = m.groups()
            values = {
                r[0]
                for r in replica.execute(
                    sql.SQL(
                        "select distinct {}::text from {} where {} is not null"
                    ).format(
                        sql.Identifier(local_names[child]),
                        sql.Identifier(t.local.schema, t.local.table),
                        sql.Identifier(local_names[child]),
                    )
                ).fetchall()
            }
            if not values:
                continue
            known = _existing(master, MASTER_SCHEMA, parent, parent_col, values)
            p = by_name.get(parent)
            if p is not None and p.local is not None:
                known |= _existing(
                    replica, p.local.schema, p.local.table, parent_col, values
                )
            missing = sorted(values - known)
            if missing:
                t.orphans.append(
                    f"{child}: {len(missing)} value(s) with no {parent}.{parent_col}"
                    f" (e.g. {missing[0]})"
                )


def _existing(
    conn: psycopg.Connection, schema: str, table: str, column: str, values: set
) -> set[str]:
    query = sql.SQL("select {}::text from {} where {}::text = any(%s)").format(
        sql.Identifier(column), sql.Identifier(schema, table), sql.Identifier(column)
    )
    return {r[0] for r in conn.execute(query, (sorted(values),)).fetchall()}


def analyze(
    master_url: str,
    replica_url: str,
    *,
    tables: tuple[str, ...] = CRM_TABLES,
    policy: str = "master-wins",
    application: Application | None = None,
) -> Analysis:
    """Compare master's ``tables`` with the replica's; ``policy`` is recorded for
    the migration plan (which side's values a conflict keeps); ``application``:
    replication.yml's application settings, whose column map names master's
    columns the application's tables hold under another name."""
    with (
        connect_master(master_url) as master,
        connect_replica(replica_url) as replica,
    ):
        master.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        master.read_only = True
        version, now = master.execute(
            "select current_setting('server_version'), now()"
        ).fetchone()
        refuse_row_security(master, MASTER_SCHEMA, tables)
        archived = _archived(replica)
        as_text, extensions = _text_columns(master, replica, tables)
        last_run = _last_run(replica)
        # Synced: the run log has a succeeded run (or, built by hand, dbt archived
        # the legacy tables). Then `public` holds what dbt built from master, and
        # the legacy rows are the archived ones, if the replica had any.
        synced = last_run is not None or bool(archived)
        results = []
        for name in tables:
            m = read_shape(master, MASTER_SCHEMA, name)
            if m is None:
                raise ReplicaError(f"table {MASTER_SCHEMA}.{name} not found on master")
            m = _typed_text(m, as_text[name])
            r = read_shape(replica, APP_SCHEMA, name)
            kind = None if r else relation_kind(replica, APP_SCHEMA, name)
            if name in archived:
                local = read_shape(replica, ARCHIVE_SCHEMA, name)
            else:
                local = None if synced else r
            t = TableAnalysis(name, m, r, local, as_text=list(as_text[name].values()))
            if kind is not None:
                t.in_the_way = _KIND_WORDS.get(kind, "relation")
            compare_schema(t, application.mapped(name) if application else None)
            if local is not None and local is not r:
                # The renames of the legacy shape (the archive keeps old names).
                for (table, old), new in RENAMES.items():
                    if table == name and local.column(old) and not local.column(new):
                        t.notes.append(f"legacy column {old} is master's {new}")
            compare_rows(master, replica, t)
            t.nulls = _null_counts(replica, t)
            results.append(t)
        find_orphans(master, replica, results)
        replica_only = [
            r[0]
            for r in replica.execute(
                "select c.relname from pg_class c join pg_namespace n"
                " on n.oid = c.relnamespace where n.nspname = %s"
                " and c.relkind in ('r', 'p') and not c.relname = any(%s)"
                " order by 1",
                # Master's dashboards are views the replica builds as tables.
                (APP_SCHEMA, [*tables, *DASHBOARD_VIEWS]),
            ).fetchall()
        ]
        master.rollback()
        replica.rollback()
    return Analysis(
        str(describe(master_url, "master")),
        str(describe(replica_url, "replica")),
        version,
        synced,
        last_run,
        results,
        replica_only,
        policy,
        now,
        extensions,
    )


def _text_columns(
    master: psycopg.Connection, replica: psycopg.Connection, tables: Sequence[str]
) -> tuple[dict[str, dict[str, str]], list[tuple[str, str | None]]]:
    """Per table, master's columns of a type the replica cannot have (which a
    load lands as text): name -> "column TYPE lands as text (why)"; and the
    extensions a load would create. Tried on the replica, and undone."""
    found: dict[str, dict[str, str]] = {}
    with replica.transaction(force_rollback=True):
        types = TypeLanding(master, replica, Schemas().landing, dry_run=True)
        for name in tables:
            found[name] = {}
            if read_shape(master, MASTER_SCHEMA, name) is None:
                continue  # the caller says so
            rel = describe_relation(master, MASTER_SCHEMA, name, types)
            notes = iter(n for n in rel.notes if " landed as text " in n)
            for col in rel.columns:
                if col.landed == "text":
                    found[name][col.name] = (
                        next(notes)
                        .removeprefix(f"{name}: ")
                        .replace(" landed as text ", " lands as text ")
                    )
    return found, types.to_create


def _typed_text(shape: Shape, text: dict[str, str]) -> Shape:
    """``shape`` with the ``text`` columns typed text, as a load lands them."""
    if not text:
        return shape
    columns = [
        replace(c, type="text", builtin_type=True) if c.name in text else c
        for c in shape.columns
    ]
    return replace(shape, columns=columns)


def _null_counts(replica: psycopg.Connection, t: TableAnalysis) -> dict[str, int]:
    """Null values in the replica's columns that master's schema makes not null."""
    names = [n for n, not_null in t.null_changes if not_null]
    if not names or t.replica is None:
        return {}
    back = {v: k for k, v in t.renames.items()}
    row = replica.execute(
        sql.SQL("select {} from {}").format(
            sql.SQL(", ").join(
                sql.SQL("count(*) filter (where {} is null)").format(
                    sql.Identifier(back.get(n, n))
                )
                for n in names
            ),
            sql.Identifier(APP_SCHEMA, t.table),
        )
    ).fetchone()
    return dict(zip(names, row, strict=True))


def _archived(replica: psycopg.Connection) -> set[str]:
    """The legacy tables dbt archived before replacing them (none before a sync)."""
    exists = replica.execute(
        "select to_regclass(%s) is not null", (f"{ARCHIVE_SCHEMA}.archive_log",)
    ).fetchone()[0]
    if not exists:
        return set()
    rows = replica.execute(
        sql.SQL("select table_name from {} where is_present").format(
            sql.Identifier(ARCHIVE_SCHEMA, "archive_log")
        )
    ).fetchall()
    return {r[0] for r in rows}


def _last_run(replica: psycopg.Connection) -> tuple[int, datetime] | None:
    exists = replica.execute("select to_regclass('replica_meta.runs') is not null")
    if not exists.fetchone()[0]:
        return None
    return replica.execute(
        "select run_id, snapshot_at from replica_meta.runs"
        " where status = 'succeeded' order by run_id desc limit 1"
    ).fetchone()
