"""How master's column types land on the replica.

- **Built-in types** (OIDs below 16384, the same in every PostgreSQL) land as they
  are, arrays of them too.
- **Enums, domains, composite types and range types** (a range brings its
  multirange) are recreated in the landing schema (the live one: a publish never
  moves them), dependencies first: a composite's attribute types, a domain's base
  type, a range's subtype. Arrays of them land as arrays of the recreated type.
- **Extension types** (a base type that an extension provides: ``vector``,
  ``citext``, ``hstore``, ``ltree``, PostGIS ``geometry`` …) land as the replica's
  own type when the replica has that extension, or can ``CREATE EXTENSION`` it (in
  the schema master has it in, else the extension's default). Otherwise the column
  lands as ``text`` holding master's text output (``col::text``), and the run says
  so in its schema notes. So does any column whose type uses such a type (a domain
  over it, a composite holding it, an array of it), any other base type no
  extension provides, ``xml`` on a replica built without libxml (the embedded
  PostgreSQL), a second master type of a name the landing schema already holds,
  and a type the replica fails to create, except a domain: that lands as its base
  type (master's values passed its checks already). One column the replica cannot
  type never stops the other tables.

An existing landing type whose definition master has changed (a composite's
attributes, a domain's base type, a range's subtype, an enum's labels other than
new ones) is renamed aside (``name__2``; the tables of earlier runs keep it) and
created anew.

How the values travel (load.stream): binary COPY carries built-in types, enums,
domains, composites, ranges and arrays of user types between servers whose type
OIDs differ (PostgreSQL checks an array's element or a composite's attribute OID
only when both are built in: measured on 15 and 18), and an extension's types when
both sides run the same version of the extension. A table with a column of an
extension's type whose versions differ (or that has no binary I/O) goes by text
COPY instead: an extension's binary format is its own and may change between its
versions; its text form is what pg_dump relies on. Text COPY is about 4 times
slower (200,000 rows of ``vector(64)``: 2.2 s against 0.55 s). A column landed as
text is selected as ``col::text``.

Checksums (db.checksum) hash such columns' text on both sides: master's
``col::text`` and the replica's text column give the same hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import psycopg
from psycopg import sql

from crm_replica.db.catalog import FIRST_USER_OID, Column, Relation, UserType
from crm_replica.db.secrets import one_line

#: Built-in types that a PostgreSQL built without an optional library cannot
#: read: xml (and xml[]) without libxml (the embedded PostgreSQL).
_XML = (142, 143)

#: A master type's catalog entry (its array's element, its extension).
_TYPE = """
select t.typname, n.nspname, t.typtype::text, t.typbasetype, t.typtypmod,
       t.typrelid, case when e.typarray = t.oid then e.oid end,
       x.extname, xn.nspname, x.extversion,
       t.typsend <> 0 and t.typreceive <> 0
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
left join pg_type e on e.oid = t.typelem
left join pg_depend d on d.classid = 'pg_type'::regclass and d.objid = t.oid
    and d.refclassid = 'pg_extension'::regclass and d.deptype = 'e'
left join pg_extension x on x.oid = d.refobjid
left join pg_namespace xn on xn.oid = x.extnamespace
where t.oid = %s
"""

_ATTRIBUTES = """
select a.attname, a.atttypid, a.atttypmod from pg_attribute a
where a.attrelid = %s and a.attnum > 0 and not a.attisdropped order by a.attnum
"""

#: A range's subtype, and the options worth recreating: a subtype operator class
#: or collation other than the default, and the subtype difference function, where
#: built in. (A canonical function is C code of master's: the values arrive
#: canonical already.)
_RANGE = """
select r.rngsubtype, {multirange},
       case when not opc.opcdefault and opc.oid < 16384
            then format('%%I.%%I', opcn.nspname, opc.opcname) end,
       case when r.rngcollation not in (0, 100) and r.rngcollation < 16384
            then format('%%I.%%I', cn.nspname, c.collname) end,
       case when r.rngsubdiff <> 0 and r.rngsubdiff < 16384
            then format('%%I.%%I', pn.nspname, p.proname) end
from pg_range r
join pg_opclass opc on opc.oid = r.rngsubopc
join pg_namespace opcn on opcn.oid = opc.opcnamespace
left join pg_collation c on c.oid = r.rngcollation
left join pg_namespace cn on cn.oid = c.collnamespace
left join pg_proc p on p.oid = r.rngsubdiff
left join pg_namespace pn on pn.oid = p.pronamespace
where r.rngtypid = %s
"""

#: The replica's type of an extension, by the extension's and the type's names.
_EXTENSION_TYPE = """
select t.oid, x.extversion, t.typsend <> 0 and t.typreceive <> 0 from pg_type t
join pg_depend d on d.classid = 'pg_type'::regclass and d.objid = t.oid
    and d.refclassid = 'pg_extension'::regclass and d.deptype = 'e'
join pg_extension x on x.oid = d.refobjid
where x.extname = %s and t.typname = %s
"""

#: An existing landing type, as comparable with master's definition.
_EXISTING = """
select t.typtype::text,
       format_type(t.typbasetype, nullif(t.typtypmod, -1)),
       (select array_agg(e.enumlabel::text order by e.enumsortorder)
        from pg_enum e where e.enumtypid = t.oid),
       (select array_agg(a.attname || ' '
                         || format_type(a.atttypid, nullif(a.atttypmod, -1))
                         order by a.attnum)
        from pg_attribute a
        where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped),
       (select format_type(r.rngsubtype, null) from pg_range r
        where r.rngtypid = t.oid),
       (select m.typname from pg_range r join pg_type m on m.oid = r.rngmultitypid
        where r.rngtypid = t.oid),
       (select c.relkind::text from pg_class c where c.oid = t.typrelid)
from pg_type t where t.oid = to_regtype(%s)
"""


@dataclass(frozen=True)
class _Info:
    """A master type's catalog entry."""

    name: str
    schema: str
    kind: str  # pg_type.typtype
    base: int  # a domain's base type
    base_typmod: int
    relid: int  # a composite's pg_class entry
    element: int | None  # an array's element type
    extension: str | None
    extension_schema: str | None
    extension_version: str | None
    binary_io: bool  # it has binary send and receive functions

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Landed:
    """How one type lands: ``type`` as the replica writes it, or None when the
    column must land as text; ``why`` says why it is not master's type (a domain
    the replica cannot have lands as its base type)."""

    type: str | None
    why: str = ""
    kind: str = "builtin"  # builtin, recreated, extension
    text_io: bool = False


class TypeLanding:
    """Lands master's column types in ``schema`` (the live landing schema) on the
    replica, creating there what is missing: the extensions the replica has
    available, the recreated types, each in a transaction of its own on
    ``replica`` (a savepoint when the caller has a transaction open).

    ``dry_run`` (analyze, status) tries the same inside the caller's transaction,
    which must be rolled back (``replica.transaction(force_rollback=True)``): it
    says how the types would land, the extensions a load would create in
    ``to_create`` rather than ``notes``."""

    def __init__(
        self,
        master: psycopg.Connection,
        replica: psycopg.Connection,
        schema: str,
        *,
        tables: Iterable[str] = (),
        dry_run: bool = False,
    ) -> None:
        self.master, self.replica, self.schema = master, replica, schema
        self.dry_run = dry_run
        #: The tables the run lands: their names (and row types) are theirs.
        self.tables = set(tables)
        self._info: dict[int, _Info] = {}
        self._types: dict[int, Landed] = {}  # recreated types, by master OID
        self._names: dict[str, int] = {}  # landing type name -> master OID
        self._extensions: dict[str, str | None] = {}  # name -> why not, or None
        self._xml: bool | None = None  # whether the replica reads xml
        #: Every type recreated (or found up to date), dependencies first.
        self.user_types: list[UserType] = []
        #: What the landing did besides: extensions created, types renamed aside.
        self.notes: list[str] = []
        #: A dry run's extensions that the replica has available but not
        #: installed, which a load would create: (name, master's schema for it).
        self.to_create: list[tuple[str, str | None]] = []

    # ------------------------------------------------------------------ columns

    def land(self, rel: Relation) -> Relation:
        """Give ``rel`` the replica's column types (and its notes); returns it."""
        columns, notes = [], []
        for col in rel.master_columns:
            if col.oid < FIRST_USER_OID and col.oid not in _XML:
                columns.append(Column(col.name, col.formatted))
                continue
            landed = self.landed(col.oid, col.typmod)
            if landed.type is None:
                columns.append(Column(col.name, "text", landed="text"))
                notes.append(
                    f"{rel.name}: {col.name} {col.formatted} landed as text"
                    f" ({landed.why})"
                )
            else:
                columns.append(
                    Column(col.name, landed.type, landed.kind, landed.text_io)
                )
                if landed.why:
                    notes.append(
                        f"{rel.name}: {col.name} {col.formatted} landed as"
                        f" {landed.type} ({landed.why})"
                    )
        rel.columns, rel.notes = columns, notes
        return rel

    def landed(self, oid: int, typmod: int = -1) -> Landed:
        """How master's type ``oid`` (with modifier ``typmod``) lands."""
        if oid in _XML and not self._reads_xml():
            return Landed(None, "the replica's PostgreSQL is built without XML support")
        if oid < FIRST_USER_OID:
            return Landed(self._format(self.master, oid, typmod))
        info = self._type_info(oid)
        if info.element is not None:
            element = self.landed(info.element, typmod)
            if element.type is None:
                return element
            return replace(element, type=element.type + "[]")
        if info.extension:
            found = self._extension_type(oid, info, typmod)
            if isinstance(found, Landed):
                return found
            if info.kind == "b":
                return Landed(None, found)
            # An extension's enum, domain, composite or range: recreated.
        elif info.kind == "b":
            return Landed(
                None, f"{info.qualified} is a base type that no extension provides"
            )
        if oid not in self._types:
            self._types[oid] = self._recreate(oid, info)
        return self._types[oid]

    def _reads_xml(self) -> bool:
        if self._xml is None:
            try:
                with self.replica.transaction():
                    self.replica.execute("select '<x/>'::xml")
                self._xml = True
            except psycopg.errors.FeatureNotSupported:
                self._xml = False
        return self._xml

    # --------------------------------------------------------------- extensions

    def _extension_type(self, oid: int, info: _Info, typmod: int) -> Landed | str:
        """The replica's type for an extension's type, or why there is none."""
        assert info.extension
        why = self._extension(info.extension, info.extension_schema)
        if why is not None:
            return why
        found = self.replica.execute(
            _EXTENSION_TYPE, (info.extension, info.name)
        ).fetchone()
        if found is None:
            return f"the replica's extension {info.extension} has no type {info.name}"
        replica_oid, version, binary_io = found
        return Landed(
            self._format(self.replica, replica_oid, typmod),
            kind="extension",
            # Binary only between the same version of the extension.
            text_io=not (
                binary_io and info.binary_io and version == info.extension_version
            ),
        )

    def _extension(self, name: str, master_schema: str | None) -> str | None:
        """None when the replica has extension ``name`` (creating it if it may and
        can), else why not."""
        if name in self._extensions:
            return self._extensions[name]
        why = None
        installed = self.replica.execute(
            "select 1 from pg_extension where extname = %s", (name,)
        ).fetchone()
        if not installed:
            available = self.replica.execute(
                "select 1 from pg_available_extensions where name = %s", (name,)
            ).fetchone()
            if not available:
                why = f"extension {name} is not available on the replica"
            else:
                why = self._create_extension(name, master_schema)
        self._extensions[name] = why
        return why

    def _create_extension(self, name: str, master_schema: str | None) -> str | None:
        """Create extension ``name`` in ``master_schema`` (where master has it),
        else where the extension puts itself; None, or why it failed."""
        ident = sql.Identifier(name)
        attempts = []
        if master_schema:
            schema = sql.Identifier(master_schema)
            attempts.append(
                (
                    sql.SQL("create schema if not exists {}").format(schema),
                    sql.SQL("create extension if not exists {} with schema {}").format(
                        ident, schema
                    ),
                )
            )
        attempts.append(
            (None, sql.SQL("create extension if not exists {}").format(ident))
        )
        error = ""
        for before, statement in attempts:
            try:
                with self.replica.transaction():
                    if before is not None:
                        self.replica.execute(before)
                    self.replica.execute(statement)
            except psycopg.Error as exc:
                error = one_line(exc)
                continue
            where = self.replica.execute(
                "select n.nspname from pg_extension x join pg_namespace n"
                " on n.oid = x.extnamespace where x.extname = %s",
                (name,),
            ).fetchone()[0]
            if self.dry_run:
                self.to_create.append((name, master_schema))
            else:
                self.notes.append(
                    f"extension {name} created on the replica (in {where})"
                )
            return None
        return f"extension {name} could not be created on the replica: {error}"

    # ---------------------------------------------------------- recreated types

    def _recreate(self, oid: int, info: _Info) -> Landed:
        """An enum, domain, composite, range or multirange of master's, made in
        the landing schema."""
        if info.kind == "m":  # made with its range
            (range_oid,) = self.master.execute(
                "select rngtypid from pg_range where rngmultitypid = %s", (oid,)
            ).fetchone()
            of_range = self.landed(range_oid)
            if of_range.type is None:
                return of_range
            return replace(of_range, type=self._qualified(info.name))
        taken = self._names.get(info.name)
        why = ""
        if taken is not None and taken != oid:
            why = (
                f"type name {info.name} is taken in {self.schema} by another of"
                " master's types"
            )
        elif info.name in self.tables:
            why = f"type name {info.name} is a table's in {self.schema}"
            self._clear(info.name)
        if why:
            return (
                self._domain_fallback(info, why)
                if info.kind == "d"
                else Landed(None, why)
            )
        self._names[info.name] = oid
        text_io = False
        if info.kind == "e":
            labels = tuple(
                r[0]
                for r in self.master.execute(
                    "select enumlabel from pg_enum where enumtypid = %s"
                    " order by enumsortorder",
                    (oid,),
                ).fetchall()
            )
            wanted = UserType(info.name, "e", labels=labels)
        elif info.kind == "d":
            base = self.landed(info.base, info.base_typmod)
            if base.type is None:
                return base
            checks = tuple(
                r[0]
                for r in self.master.execute(
                    "select pg_get_constraintdef(oid) from pg_constraint"
                    " where contypid = %s and contype = 'c' order by conname",
                    (oid,),
                ).fetchall()
            )
            wanted = UserType(info.name, "d", base=base.type, checks=checks)
            text_io = base.text_io
        elif info.kind == "c":
            attributes = []
            for name, att_oid, att_typmod in self.master.execute(
                _ATTRIBUTES, (info.relid,)
            ).fetchall():
                att = self.landed(att_oid, att_typmod)
                if att.type is None:
                    return att
                attributes.append((name, att.type))
                text_io = text_io or att.text_io
            wanted = UserType(info.name, "c", attributes=tuple(attributes))
        elif info.kind == "r":
            found = self._range(oid, info)
            if isinstance(found, str):
                return Landed(None, found)
            wanted, text_io = found
        else:
            return Landed(None, f"{info.qualified} is a pseudo-type")
        why = self._ensure(wanted)
        if why is not None:
            return (
                self._domain_fallback(info, why)
                if info.kind == "d"
                else Landed(None, why)
            )
        self.user_types.append(wanted)
        return Landed(self._qualified(info.name), kind="recreated", text_io=text_io)

    def _domain_fallback(self, info: _Info, why: str) -> Landed:
        """A domain the landing schema cannot have lands as its base type: master's
        values already passed its checks (and hash as the base type's)."""
        base = self.landed(info.base, info.base_typmod)
        if base.type is None:
            return base
        return replace(base, why=why)

    def _range(self, oid: int, info: _Info) -> tuple[UserType, bool] | str:
        """The range's definition and whether it travels as text, or why the
        replica cannot have it."""
        multirange = (
            "(select m.typname from pg_type m where m.oid = r.rngmultitypid)"
            if self.master.info.server_version >= 140000
            else "null"
        )
        subtype, multi, opclass, collation, diff = self.master.execute(
            sql.SQL(_RANGE).format(multirange=sql.SQL(multirange)), (oid,)
        ).fetchone()
        sub = self.landed(subtype)
        if sub.type is None:
            return sub.why
        options = []
        if multi:
            options.append(
                "multirange_type_name = "
                + sql.Identifier(self.schema, multi).as_string(self.replica)
            )
        if opclass:
            options.append(f"subtype_opclass = {opclass}")
        if collation:
            options.append(f"collation = {collation}")
        if diff:
            options.append(f"subtype_diff = {diff}")
        wanted = UserType(
            info.name, "r", base=sub.type, options=tuple(options), multirange=multi
        )
        return wanted, sub.text_io

    def _ensure(self, t: UserType) -> str | None:
        """Create ``t`` in the landing schema unless it is there as master defines
        it (an enum gets master's new labels); one that differs is renamed aside
        first. None, or why the replica could not."""
        ident = sql.Identifier(self.schema, t.name)
        aside = None
        try:
            with self.replica.transaction():
                existing = self.replica.execute(
                    _EXISTING, (ident.as_string(self.replica),)
                ).fetchone()
                if existing is not None and existing[6] not in (None, "c"):
                    return (
                        f"the landing schema has a relation named {t.name}, whose"
                        " row type takes the name"
                    )
                if existing is not None:
                    if _matches(t, existing):
                        for label in t.labels:  # labels added in master since
                            self.replica.execute(
                                sql.SQL(
                                    "alter type {} add value if not exists {}"
                                ).format(ident, sql.Literal(label))
                            )
                        return None
                    aside = self._rename_aside(t.name, existing)
                self.replica.execute(_create_statement(ident, t))
        except psycopg.Error as exc:
            return f"the replica could not create type {t.name}: {one_line(exc)}"
        if aside and not self.dry_run:
            self.notes.append(
                f"type {self.schema}.{t.name} changed on master: the previous one"
                f" is {self.schema}.{aside}"
            )
        return None

    def _clear(self, name: str) -> None:
        """Rename aside a type an earlier run made in the landing schema under
        ``name``, which a table of this run takes now."""
        ident = sql.Identifier(self.schema, name).as_string(self.replica)
        with self.replica.transaction():
            existing = self.replica.execute(_EXISTING, (ident,)).fetchone()
            if existing is not None and existing[6] in (None, "c"):
                aside = self._rename_aside(name, existing)
                if not self.dry_run:
                    self.notes.append(
                        f"type {self.schema}.{name} renamed {aside}: a table"
                        " takes the name"
                    )

    def _rename_aside(self, name: str, existing: tuple) -> str:
        """Rename the landing type ``name`` to the first free ``name__N`` (a
        range's multirange and both their constructor functions too): the tables
        of earlier runs keep using it. Returns the new name."""
        kind, multirange = existing[0], existing[5]
        n = 2
        while self.replica.execute(
            "select to_regtype(%s) is not null or to_regtype(%s) is not null",
            (
                sql.Identifier(self.schema, f"{name}__{n}").as_string(self.replica),
                sql.Identifier(self.schema, f"{multirange or name}__{n}").as_string(
                    self.replica
                ),
            ),
        ).fetchone()[0]:
            n += 1
        renames = {name: f"{name}__{n}"}
        if multirange:
            renames[multirange] = f"{multirange}__{n}"
        constructors = self.replica.execute(
            "select p.oid::regprocedure::text, p.proname from pg_proc p"
            " join pg_depend d on d.classid = 'pg_proc'::regclass and d.objid = p.oid"
            " and d.deptype = 'i' and d.refclassid = 'pg_type'::regclass"
            " where d.refobjid = any(array[to_regtype(%s), to_regtype(%s)])",
            (
                sql.Identifier(self.schema, name).as_string(self.replica),
                sql.Identifier(self.schema, multirange or name).as_string(self.replica),
            ),
        ).fetchall()
        for signature, proname in constructors:
            if proname in renames:
                self.replica.execute(
                    sql.SQL("alter function {} rename to {}").format(
                        sql.SQL(signature), sql.Identifier(renames[proname])
                    )
                )
        what = sql.SQL("domain" if kind == "d" else "type")
        for old, new in renames.items():
            self.replica.execute(
                sql.SQL("alter {} {} rename to {}").format(
                    what if old == name else sql.SQL("type"),
                    sql.Identifier(self.schema, old),
                    sql.Identifier(new),
                )
            )
        return renames[name]

    # ------------------------------------------------------------------ helpers

    def _type_info(self, oid: int) -> _Info:
        if oid not in self._info:
            self._info[oid] = _Info(*self.master.execute(_TYPE, (oid,)).fetchone())
        return self._info[oid]

    def _qualified(self, name: str) -> str:
        """``schema.name`` quoted only where it must be, as format_type prints it
        (so that drift notes and comparisons read naturally)."""
        return self.replica.execute(
            "select format('%%I.%%I', %s::text, %s::text)", (self.schema, name)
        ).fetchone()[0]

    @staticmethod
    def _format(conn: psycopg.Connection, oid: int, typmod: int) -> str:
        return conn.execute(
            "select format_type(%s, %s)", (oid, typmod if typmod >= 0 else None)
        ).fetchone()[0]


def _norm(type_name: str) -> str:
    return type_name.replace('"', "")


def _matches(t: UserType, existing: tuple) -> bool:
    """Whether the replica's type (a row of _EXISTING) is ``t`` as master defines
    it (an enum may lack labels master added since)."""
    kind, base, labels, attributes, subtype = existing[:5]
    if kind != t.kind:
        return False
    if t.kind == "e":
        return set(labels or ()) <= set(t.labels)
    if t.kind == "d":
        return _norm(base) == _norm(t.base)
    if t.kind == "c":
        return [_norm(a) for a in attributes or ()] == [
            _norm(f"{n} {ty}") for n, ty in t.attributes
        ]
    return _norm(subtype or "") == _norm(t.base)


def _create_statement(ident: sql.Identifier, t: UserType) -> sql.Composable:
    if t.kind == "e":
        return sql.SQL("create type {} as enum ({})").format(
            ident, sql.SQL(", ").join(map(sql.Literal, t.labels))
        )
    if t.kind == "d":
        checks = sql.SQL(" ").join(
            sql.SQL("check " + c.removeprefix("CHECK ")) for c in t.checks
        )
        return sql.SQL("create domain {} as {} {}").format(
            ident, sql.SQL(t.base), checks
        )
    if t.kind == "c":
        return sql.SQL("create type {} as ({})").format(
            ident,
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(ty))
                for n, ty in t.attributes
            ),
        )
    return sql.SQL("create type {} as range ({})").format(
        ident,
        sql.SQL(", ").join(sql.SQL(o) for o in (f"subtype = {t.base}", *t.options)),
    )
