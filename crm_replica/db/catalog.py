"""What master's relations look like, and how to recreate their shape on the replica.

A landing table has master's columns with master's types, and nothing else: no
defaults, identity or generation expressions (the values are copied as master holds
them), plus master's primary key when there is one. describe_relation reads
master's side; db.landtypes decides how each column's type lands on the replica
(built-in types as they are; enums, domains, composites, ranges recreated in the
landing schema; extension types as the replica's own, or as text).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from crm_replica.errors import ReplicaError, TableNotFound

#: pg_class.relkind values that can be copied.
COPYABLE_KINDS = {
    "r": "table",
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
}


#: Type OIDs below this are built into every PostgreSQL (FirstNormalObjectId): the
#: same type, with the same name and OID, on master and the replica.
FIRST_USER_OID = 16384


@dataclass(frozen=True)
class Column:
    """A landing column. Two columns are equal when their names and types are."""

    name: str
    type: str  # as written in CREATE TABLE on the replica
    #: How its type lands: "builtin", "recreated" (in the landing schema),
    #: "extension" (the replica's extension's type) or "text" (master's text output
    #: of a type the replica cannot have).
    landed: str = field(default="builtin", compare=False)
    #: Whether COPY must carry the value as text: its binary form is the one of an
    #: extension's type whose version differs on the other side.
    text_io: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.name} {self.type}"


@dataclass(frozen=True)
class MasterColumn:
    """A column as master has it: its type's OID and modifier, and its type as
    master prints it."""

    name: str
    oid: int
    typmod: int
    formatted: str


@dataclass(frozen=True)
class UserType:
    """A type of master's that the landing schema must define."""

    name: str
    kind: str  # "e" enum, "d" domain, "c" composite, "r" range
    labels: tuple[str, ...] = ()
    base: str = ""  # a domain's base type, a range's subtype
    checks: tuple[str, ...] = ()
    #: a composite's attributes: (name, type as the replica writes it)
    attributes: tuple[tuple[str, str], ...] = ()
    #: a range's options beyond its subtype: "multirange_type_name = …", …
    options: tuple[str, ...] = ()
    multirange: str = ""  # a range's multirange type (created with it)


@dataclass
class Relation:
    schema: str
    name: str
    kind: str
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)
    size: int = 0  # bytes on disk in master, for scheduling
    #: master's columns (``columns`` are the replica's, once landtypes landed them)
    master_columns: list[MasterColumn] = field(default_factory=list)
    #: how unusual types landed: "table: column type landed as text (why)"
    notes: list[str] = field(default_factory=list)

    @property
    def copy_as_text(self) -> bool:
        """Whether COPY carries the rows in text format rather than binary."""
        return any(c.text_io for c in self.columns)

    @property
    def is_table(self) -> bool:
        return self.kind in ("r", "p")

    @property
    def has_stable_content(self) -> bool:
        """Whether two reads in one snapshot give the same rows: not so for a view,
        which may compute volatile values (gen_random_uuid()) on each read; only
        its row count compares (now() is fixed by the snapshot)."""
        return self.is_table or self.kind == "m"


_COLUMNS = """
select a.attname, a.atttypid, a.atttypmod, format_type(a.atttypid, a.atttypmod)
from pg_attribute a
where a.attrelid = %s and a.attnum > 0 and not a.attisdropped
order by a.attnum
"""

_PRIMARY_KEY = """
select a.attname from pg_index i
join lateral unnest(i.indkey) with ordinality k(attnum, n) on true
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
where i.indrelid = %s and i.indisprimary order by k.n
"""


def _find(conn: psycopg.Connection, schema: str, name: str) -> tuple | None:
    """(oid, relkind, bytes on disk) of ``schema.name``, or None."""
    return conn.execute(
        "select c.oid, c.relkind::text, coalesce(pg_total_relation_size(c.oid), 0)"
        " from pg_class c join pg_namespace n"
        " on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s",
        (schema, name),
    ).fetchone()


def relation_kind(conn: psycopg.Connection, schema: str, name: str) -> str | None:
    """``schema.name``'s relkind (pg_class.relkind), or None when there is none."""
    row = conn.execute(
        "select c.relkind::text from pg_class c join pg_namespace n"
        " on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s",
        (schema, name),
    ).fetchone()
    return row[0] if row else None


def _primary_key(conn: psycopg.Connection, oid: int) -> list[str]:
    return [r[0] for r in conn.execute(_PRIMARY_KEY, (oid,)).fetchall()]


@dataclass(frozen=True)
class Shape:
    """A table or view as either side has it, for comparing them: kind
    (pg_class.relkind), column names in order, primary key columns in key order
    (empty for views and keyless tables)."""

    kind: str
    columns: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def is_view(self) -> bool:
        return self.kind not in ("r", "p", "m")


def shape(conn: psycopg.Connection, schema: str, name: str) -> Shape | None:
    """``schema.name``'s shape, or None when it does not exist."""
    found = _find(conn, schema, name)
    if found is None:
        return None
    oid, kind, _ = found
    columns = conn.execute(
        "select attname from pg_attribute where attrelid = %s and attnum > 0"
        " and not attisdropped order by attnum",
        (oid,),
    ).fetchall()
    return Shape(kind, tuple(c[0] for c in columns), tuple(_primary_key(conn, oid)))


def describe_relation(
    conn: psycopg.Connection, schema: str, name: str, types=None
) -> Relation:
    """Master's relation ``schema.name``. Its ``columns`` have master's types until
    ``types`` (a landtypes.TypeLanding) lands them: then they are the replica's."""
    found = _find(conn, schema, name)
    if found is None:
        raise TableNotFound(f"table {schema}.{name} not found on the master")
    oid, kind, size = found
    if kind not in COPYABLE_KINDS:
        raise ReplicaError(f"{schema}.{name} is not a table or view (relkind {kind})")
    master = [MasterColumn(*row) for row in conn.execute(_COLUMNS, (oid,)).fetchall()]
    rel = Relation(
        schema,
        name,
        kind,
        [Column(c.name, c.formatted) for c in master],
        _primary_key(conn, oid),
        size=size,
        master_columns=master,
    )
    if types is not None:
        types.land(rel)
    return rel


def same_columns(before: list[Column], after: list[Column]) -> bool:
    """Whether two column lists name the same columns and types, in order (types
    compared as the replica prints them)."""
    return [(c.name, _norm(c.type)) for c in before] == [
        (c.name, _norm(c.type)) for c in after
    ]


def landing_columns(conn: psycopg.Connection, landing: str, table: str) -> list[Column]:
    """The replica's landing table's columns (empty when it does not exist)."""
    rows = conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a"
        " where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped"
        " order by a.attnum",
        (sql.Identifier(landing, table).as_string(conn),),
    ).fetchall()
    return [Column(r[0], r[1]) for r in rows]


def drift_notes(
    before: dict[str, list[Column]], relations: list[Relation]
) -> list[str]:
    """``table: change`` for each relation whose landing table (columns
    ``before[name]``) is not shaped as master's."""
    return [
        f"{r.name}: {change}"
        for r in relations
        for change in drift(before[r.name], r.columns)
    ]


def landing_notes(relations: list[Relation]) -> list[str]:
    """What the run says about the types it landed: each column held as text
    instead of master's type, and why."""
    return [note for r in relations for note in r.notes]


def drift(before: list[Column], after: list[Column]) -> list[str]:
    """What changed between two column lists: +added, -dropped, retyped."""
    if not before:
        return ["created"]
    old = {c.name: c.type for c in before}
    new = {c.name: c.type for c in after}
    changes = [f"+{n} {t}" for n, t in new.items() if n not in old]
    changes += [f"-{n}" for n in old if n not in new]
    changes += [
        f"{n}: {old[n]} -> {new[n]}"
        for n in new
        if n in old and _norm(old[n]) != _norm(new[n])
    ]
    return changes


def same_type(a: str, b: str) -> bool:
    """Whether two type names are the same type as the replica prints them."""
    return _norm(a) == _norm(b)


def _norm(type_name: str) -> str:
    """Compare types as the replica prints them: drop schema quotes."""
    return type_name.replace('"', "")


def list_tables(conn: psycopg.Connection, schema: str) -> list[str]:
    """Every table of ``schema`` (partitions count under their parent)."""
    return relation_names(conn, schema, ("r", "p"))


def relation_names(
    conn: psycopg.Connection, schema: str, kinds: tuple[str, ...]
) -> list[str]:
    """The relations of ``schema`` of ``kinds`` (pg_class.relkind), in name order;
    partitions are not listed (they count under their parent)."""
    return [
        r[0]
        for r in conn.execute(
            "select c.relname from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = %s and c.relkind = any(%s) and not c.relispartition"
            " order by c.relname",
            (schema, list(kinds)),
        ).fetchall()
    ]


def table_key(conn: psycopg.Connection, schema: str, name: str) -> list[str]:
    """The table's primary key, else its first unique index without nulls."""
    rows = conn.execute(
        """
        select i.indisprimary, array_agg(a.attname order by k.ord)
        from pg_index i
        join pg_class c on c.oid = i.indrelid
        join pg_namespace n on n.oid = c.relnamespace
        cross join unnest(i.indkey) with ordinality as k (attnum, ord)
        join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
        where n.nspname = %s and c.relname = %s and i.indisunique
          and i.indpred is null and i.indexprs is null
        group by i.indexrelid, i.indisprimary
        order by i.indisprimary desc, i.indexrelid
        """,
        (schema, name),
    ).fetchall()
    return list(rows[0][1]) if rows else []
