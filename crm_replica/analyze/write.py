"""The three files `replica analyze` writes, rendered from an analyze.Analysis by
the templates of the same names in templates/: SQL and Markdown, so not escaped as
the HTML report is. What must be made safe is made safe here, in filters: SQL
identifiers (`ident`), text in a SQL comment (`comment`), Markdown table cells
(`cell`)."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import StrictUndefined
from psycopg import sql

from crm_replica.analyze.compare import (
    APP_SCHEMA,
    ARCHIVE_SCHEMA,
    CONFLICTS_LISTED,
    Analysis,
)
from crm_replica.format import md_escape, templates, thousands

DDL_FILE = "master-schema-replication.sql"
REPORT_FILE = "schema-comparison-report.md"
PLAN_FILE = "data-migration-plan.md"


def ident(name: str, *names: str) -> str:
    """A (qualified) SQL identifier, quoted: ``"public"."leads"``."""
    return sql.Identifier(name, *names).as_string(None)


def comment(text: object) -> str:
    """``text`` inside a ``--`` comment: a line break would end the comment (and
    what follows it would be SQL), so line breaks become spaces."""
    return re.sub(r"\r\n?|\n", " ", str(text))


def cell(value: object) -> str:
    """A Markdown table cell: — for nothing, counts with thousands separators."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return thousands(value)
    return md_escape(str(value))


def create_index(definition: str) -> str:
    """Master's index definition (pg_get_indexdef) on the application schema's
    table, if it does not exist."""
    head, _, rest = definition.partition(" ON ")
    head = head.replace(" INDEX ", " INDEX IF NOT EXISTS ", 1)
    only = rest.startswith("ONLY ")  # a partitioned table's own index
    rest = rest.removeprefix("ONLY ")
    _, _, tail = rest.partition(" ")
    table = rest.split(" ", 1)[0].rsplit(".", 1)[-1]
    on = "ONLY " if only else ""
    return f"{head} ON {on}{ident(APP_SCHEMA)}.{table} {tail};"


_ENV = templates(
    "crm_replica.analyze", undefined=StrictUndefined, keep_trailing_newline=True
)
_ENV.filters.update(ident=ident, comment=comment, cell=cell, create_index=create_index)
_ENV.globals.update(
    app_schema=APP_SCHEMA,
    archive_schema=ARCHIVE_SCHEMA,
    conflicts_listed=CONFLICTS_LISTED,
    ddl_file=DDL_FILE,
)


def _ddl(a: Analysis) -> dict[str, list]:
    """What the DDL does, in its order. Only what the application's tables lack:
    tables altered (master's columns added), then tables created (as master
    defines them); the keys and checks of those it creates, and the primary key
    an application's table lacks (master's rows are written by it); indexes;
    the foreign keys of the tables it creates. What it leaves to the application
    (``left``): anything that would change an application's column, default or
    constraint, and an object of the application's in the way."""
    created = [t for t in a.tables if t.replica is None and t.in_the_way is None]
    keys = [(t, c) for t in created for c in t.master.constraints if c.kind != "f"]
    keys += [
        (t, c)
        for t in a.tables
        if t.needs_key
        for c in t.master.constraints
        if c.kind == "p"
    ]
    return {
        "altered": [t for t in a.tables if t.replica is not None and t.missing_columns],
        "created": created,
        "keys": keys,
        "indexes": [
            d
            for t in a.tables
            if t.in_the_way is None
            for d in (
                t.master.indexes.values() if t.replica is None else t.missing_indexes
            )
        ],
        "foreign_keys": [
            (t, c) for t in created for c in t.master.constraints if c.kind == "f"
        ],
        "left": left_to_the_application(a),
    }


def left_to_the_application(a: Analysis) -> list[str]:
    """What the DDL does not change, one sentence each: it would drop, retype or
    weaken something of the application's, or an object of its is in the way."""
    out = []
    for t in a.tables:
        if t.in_the_way:
            out.append(
                f"{APP_SCHEMA}.{t.table} is the application's {t.in_the_way}: the"
                f" replica publishes master's {t.table} beside it"
                " (replica_shadow), and leaves it as it is"
            )
        if t.replica is None:
            continue
        for old, new in t.renames.items():
            out.append(
                f"{t.table}.{old} is master's {new}: the models read it by either"
                " name; the application's column keeps its name"
            )
        for name, ours, theirs in t.type_changes:
            out.append(
                f"{t.table}.{name} is {ours}, master's {theirs}: master's values are"
                " written as the application's type (a value that does not fit fails"
                " the publish, naming it)"
            )
        for name, not_null in t.null_changes:
            out.append(
                f"{t.table}.{name} is "
                + (
                    "nullable here, not null on master"
                    if not_null
                    else "not null here, nullable on master"
                )
            )
        for name, default in t.default_changes:
            ours = next((c.default for c in t.replica.columns if c.name == name), None)
            out.append(
                f"{t.table}.{name}: the application's default"
                f" {ours or 'none'} stays (master's: {default or 'none'})"
            )
        for c in t.missing_constraints:
            if c.kind == "p" and t.needs_key:
                continue
            out.append(f"{t.table}: master's {c.name} ({c.definition}) is not added")
    return out


def differences(a: Analysis) -> list[str]:
    """The differences, one sentence each (the report's summary)."""
    out = []
    missing = [t.table for t in a.tables if t.replica is None]
    if missing:
        out.append(f"Tables missing in the replica: {', '.join(missing)}.")
    for t in a.tables:
        if t.replica is None:
            continue
        r = t.replica
        if t.missing_columns:
            names = ", ".join(c.name for c in t.missing_columns)
            out.append(
                f"`{t.table}`: {len(r.columns)} columns in the replica, "
                f"{len(t.master.columns)} on master; {len(t.missing_columns)} "
                f"missing: {names}."
            )
        for old, new in t.renames.items():
            out.append(f"`{t.table}.{old}` in the replica is master's `{new}`.")
        for name, ours, theirs in t.type_changes:
            out.append(
                f"`{t.table}.{name}`: {ours} in the replica, {theirs} on master."
            )
        for name, not_null in t.null_changes:
            state = "not null" if not_null else "nullable"
            out.append(f"`{t.table}.{name}` is {state} on master.")
        if t.extra_columns:
            names = ", ".join(c.name for c in t.extra_columns)
            out.append(f"`{t.table}`: replica-only column(s) kept: {names}.")
        if t.missing_constraints:
            names = "; ".join(c.definition for c in t.missing_constraints)
            out.append(f"`{t.table}`: constraints missing in the replica: {names}.")
        if t.missing_indexes:
            out.append(f"`{t.table}`: {len(t.missing_indexes)} index(es) missing.")
    for t in a.tables:
        for note in t.as_text:
            out.append(f"`{t.table}`: column {note}: master's text output.")
    for t in a.tables:
        if t.local is None:
            continue
        if t.local.rows != t.master.rows or t.conflicts or t.local_only:
            out.append(
                f"`{t.table}`: {t.local.rows:,} local rows "
                f"(`{t.local.schema}.{t.table}`) against {t.master.rows:,} on master: "
                f"{len(t.conflicts)} conflict(s) (same key, other values), "
                f"{t.local_only:,} local-only, {t.master_only:,} master-only."
            )
    return out


def render(a: Analysis, name: str) -> str:
    """File ``name`` (DDL_FILE, REPORT_FILE or PLAN_FILE) for ``a``."""
    context: dict[str, object] = {"a": a}
    if name == DDL_FILE:
        context.update(_ddl(a))
    elif name == REPORT_FILE:
        context["differences"] = differences(a)
    return _ENV.get_template(name).render(context)


def write(a: Analysis, out_dir: Path) -> list[Path]:
    """Write the three files into ``out_dir`` (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for name in (DDL_FILE, REPORT_FILE, PLAN_FILE):
        path = out_dir / name
        path.write_text(render(a, name), encoding="utf-8")
        files.append(path)
    return files
