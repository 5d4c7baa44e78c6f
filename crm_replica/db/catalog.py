"""What master's relations look like, and how to recreate their shape on the replica.

A landing table has master's columns with master's types, and nothing else: no
defaults, identity or generation expressions (the values are copied as master holds
them), plus master's primary key when there is one. User-defined enum and domain
types are recreated in the landing schema; built-in types are used as they are.
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


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as written in CREATE TABLE on the replica

    def __str__(self) -> str:
        return f"{self.name} {self.type}"


@dataclass(frozen=True)
class UserType:
    """An enum or domain of master's that the landing schema must define."""

    name: str
    kind: str  # "e" enum, "d" domain
    labels: tuple[str, ...] = ()
    base: str = ""
    checks: tuple[str, ...] = ()


@dataclass
class Relation:
    schema: str
    name: str
    kind: str
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)
    user_types: list[UserType] = field(default_factory=list)
    size: int = 0  # bytes on disk in master, for scheduling

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
select a.attname, t.oid, t.typname, t.typtype, tn.nspname,
       format_type(a.atttypid, a.atttypmod),
       e.oid, e.typname, e.typtype, en.nspname
from pg_attribute a
join pg_type t on t.oid = a.atttypid
join pg_namespace tn on tn.oid = t.typnamespace
left join pg_type e on e.oid = t.typelem and t.typcategory = 'A'
left join pg_namespace en on en.oid = e.typnamespace
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
    conn: psycopg.Connection, schema: str, name: str, landing: str
) -> Relation:
    """Master's relation ``schema.name``, with column types for the landing schema."""
    found = _find(conn, schema, name)
    if found is None:
        raise TableNotFound(f"table {schema}.{name} not found on the master")
    oid, kind, size = found
    if kind not in COPYABLE_KINDS:
        raise ReplicaError(f"{schema}.{name} is not a table or view (relkind {kind})")
    columns, user_types = [], {}
    for (
        col,
        t_oid,
        t_name,
        t_type,
        t_ns,
        formatted,
        e_oid,
        e_name,
        e_type,
        e_ns,
    ) in conn.execute(_COLUMNS, (oid,)).fetchall():
        if t_ns == "pg_catalog":
            columns.append(Column(col, formatted))
            continue
        elem = (e_oid, e_name, e_type, e_ns) if e_oid else None
        target_oid, target_name, target_type, target_ns = elem or (
            t_oid,
            t_name,
            t_type,
            t_ns,
        )
        if target_ns == "pg_catalog":
            columns.append(Column(col, formatted))
            continue
        if target_type not in ("e", "d"):
            raise ReplicaError(
                f"{schema}.{name}.{col}: type {target_ns}.{target_name} is neither "
                "built in, an enum nor a domain; the replica cannot recreate it"
            )
        user_types[target_name] = _user_type(conn, target_oid, target_name, target_type)
        typed = sql.Identifier(landing, target_name).as_string(conn)
        columns.append(Column(col, typed + ("[]" if elem else "")))
    return Relation(
        schema,
        name,
        kind,
        columns,
        _primary_key(conn, oid),
        list(user_types.values()),
        size,
    )


def _user_type(conn: psycopg.Connection, oid: int, name: str, kind: str) -> UserType:
    if kind == "e":
        labels = tuple(
            r[0]
            for r in conn.execute(
                "select enumlabel from pg_enum where enumtypid = %s"
                " order by enumsortorder",
                (oid,),
            ).fetchall()
        )
        return UserType(name, "e", labels=labels)
    base, ns = conn.execute(
        "select format_type(t.typbasetype, t.typtypmod), bn.nspname from pg_type t"
        " join pg_type b on b.oid = t.typbasetype"
        " join pg_namespace bn on bn.oid = b.typnamespace where t.oid = %s",
        (oid,),
    ).fetchone()
    if ns != "pg_catalog":
        raise ReplicaError(f"domain {name} is over a non-built-in type; unsupported")
    checks = tuple(
        r[0]
        for r in conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where contypid = %s"
            " and contype = 'c' order by conname",
            (oid,),
        ).fetchall()
    )
    return UserType(name, "d", base=base, checks=checks)


def ensure_user_types(
    conn: psycopg.Connection, landing: str, types: list[UserType]
) -> None:
    """Create (or bring up to date) master's enums and domains in ``landing``."""
    for t in types:
        ident = sql.Identifier(landing, t.name)
        exists = conn.execute(
            "select to_regtype(%s) is not null", (ident.as_string(conn),)
        ).fetchone()[0]
        if t.kind == "e":
            if not exists:
                conn.execute(
                    sql.SQL("create type {} as enum ({})").format(
                        ident, sql.SQL(", ").join(map(sql.Literal, t.labels))
                    )
                )
                continue
            for label in t.labels:  # labels added in master since the last run
                conn.execute(
                    sql.SQL("alter type {} add value if not exists {}").format(
                        ident, sql.Literal(label)
                    )
                )
        elif not exists:
            checks = sql.SQL(" ").join(
                sql.SQL("check " + c.removeprefix("CHECK ")) for c in t.checks
            )
            conn.execute(
                sql.SQL("create domain {} as {} {}").format(
                    ident, sql.SQL(t.base), checks
                )
            )


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


def _norm(type_name: str) -> str:
    """Compare types as the replica prints them: drop schema quotes."""
    return type_name.replace('"', "")


def list_tables(conn: psycopg.Connection, schema: str) -> list[str]:
    """Every table of ``schema`` (partitions count under their parent)."""
    return [
        r[0]
        for r in conn.execute(
            "select c.relname from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = %s and c.relkind in ('r', 'p') and not c.relispartition"
            " order by c.relname",
            (schema,),
        ).fetchall()
    ]
