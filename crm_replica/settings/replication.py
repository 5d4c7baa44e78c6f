"""replication.yml: which master tables to copy, their keys, cursors and delete policy.

A missing file means the defaults: the CRM's eight tables and master's four
dashboard views. Errors name the file and line at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from crm_replica.errors import ReplicaError
from crm_replica.settings.schemas import DEFAULT_TABLES, MASTER_SCHEMA, Schemas

CONFIG_FILE = "replication.yml"
DELETE_POLICIES = ("apply", "flag")
REFERENCED_ROWS = ("keep", "fail")
DEFAULT_CURSORS = ("updated_at", "created_at")


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...] = ()  # empty: master's primary key
    cursor: tuple[str, ...] = DEFAULT_CURSORS  # first column master has
    deletes: str = "apply"


@dataclass(frozen=True)
class Application:
    """How a publish writes into the application's own tables (replication.yml's
    ``application:``; crm_replica.sync.rows)."""

    #: a row master deleted that a row of the application's still references:
    #: keep it (said in the notes) or fail the publish
    referenced_rows: str = "keep"
    #: add master's columns an application table lacks (nullable, master's type);
    #: false: the sync refuses instead, pointing at replica analyze's DDL
    add_master_columns: bool = True
    #: an object of the application's named like a replicated relation (a view
    #: named whatsapp_messages): kept unless named here, then replaced
    replace: tuple[str, ...] = ()
    #: per table, master's columns the application's table holds under another
    #: name: ((table, ((master's column, the application's), ...)), ...)
    columns: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def mapped(self, table: str) -> dict[str, str]:
        """Master's columns of ``table`` that the application names otherwise:
        {master's name: the application's}."""
        return dict(dict(self.columns).get(table, ()))

    def dbt_vars(self) -> dict[str, dict[str, dict[str, str]]]:
        """The map for the models that read the application's own rows (var
        ``application_columns``: {table: {master's column: the application's}})."""
        return {"application_columns": {t: dict(m) for t, m in self.columns}}


@dataclass
class Config:
    master_schema: str = MASTER_SCHEMA
    #: replication.yml's landing schema (None: dbt_project.yml's, settings.load)
    landing_schema: str | None = None
    tables: list[TableSpec] = field(
        default_factory=lambda: [TableSpec(t) for t in DEFAULT_TABLES]
    )
    source: str = "defaults"
    application: Application = field(default_factory=Application)

    @property
    def landing(self) -> str:
        return self.landing_schema or Schemas().landing

    def spec(self, name: str) -> TableSpec:
        """The configured spec of ``name``, or the defaults for another table."""
        for spec in self.tables:
            if spec.name == name:
                return spec
        defaults = next((s for s in self.tables if s.name == "*"), TableSpec(name))
        return replace(defaults, name=name)


class _Error(ReplicaError):
    pass


def _fail(path: Path, node: yaml.Node, message: str) -> _Error:
    return _Error(f"{path.name} line {node.start_mark.line + 1}: {message}")


def _scalar(path: Path, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not node.value:
        raise _fail(path, node, f"{what} must be a name")
    return node.value


def _names(path: Path, node: yaml.Node, what: str) -> tuple[str, ...]:
    if isinstance(node, yaml.SequenceNode):
        names = tuple(_scalar(path, n, what) for n in node.value)
        if not names:
            raise _fail(path, node, f"{what} must name at least one column")
        return names
    return (_scalar(path, node, what),)


def _table(path: Path, name: str, node: yaml.Node, base: TableSpec) -> TableSpec:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return replace(base, name=name)
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"table {name}: expected a mapping of settings")
    spec = replace(base, name=name)
    for key_node, value in node.value:
        key = key_node.value
        if key == "key":
            spec = replace(spec, key=_names(path, value, "key"))
        elif key == "cursor":
            spec = replace(spec, cursor=_names(path, value, "cursor"))
        elif key == "deletes":
            policy = _scalar(path, value, "deletes")
            if policy not in DELETE_POLICIES:
                raise _fail(
                    path,
                    value,
                    f"deletes must be one of "
                    f"{', '.join(DELETE_POLICIES)}, not {policy!r}",
                )
            spec = replace(spec, deletes=policy)
        else:
            raise _fail(
                path,
                key_node,
                f"unknown setting {key!r} for table {name} "
                "(known: key, cursor, deletes)",
            )
    return spec


def _application(path: Path, node: yaml.Node) -> Application:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return Application()
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, "application: expected a mapping of settings")
    app = Application()
    for key_node, value in node.value:
        key = key_node.value
        if key == "referenced_rows":
            policy = _scalar(path, value, key)
            if policy not in REFERENCED_ROWS:
                raise _fail(
                    path,
                    value,
                    f"referenced_rows must be one of {', '.join(REFERENCED_ROWS)},"
                    f" not {policy!r}",
                )
            app = replace(app, referenced_rows=policy)
        elif key == "add_master_columns":
            flag = _scalar(path, value, key).lower()
            if flag not in ("true", "false"):
                raise _fail(path, value, "add_master_columns must be true or false")
            app = replace(app, add_master_columns=flag == "true")
        elif key == "replace":
            empty = isinstance(value, yaml.SequenceNode) and not value.value
            app = replace(app, replace=() if empty else _names(path, value, key))
        elif key == "columns":
            app = replace(app, columns=_column_maps(path, value))
        else:
            raise _fail(
                path,
                key_node,
                f"unknown setting {key!r} for application (known: referenced_rows,"
                " add_master_columns, replace, columns)",
            )
    return app


def _column_maps(
    path: Path, node: yaml.Node
) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """``columns: {leads: {name: full_name}}``: per table, master's column and the
    application's column that holds it."""
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return ()
    if not isinstance(node, yaml.MappingNode):
        raise _fail(
            path,
            node,
            "columns: expected tables, each mapping master's"
            " columns to the application's",
        )
    maps = []
    for table_node, pairs in node.value:
        table = _scalar(path, table_node, "table name")
        if not isinstance(pairs, yaml.MappingNode) or not pairs.value:
            raise _fail(
                path,
                pairs,
                f"columns of {table}: expected master's column:"
                " the application's column",
            )
        mapped = tuple(
            (_scalar(path, m, "column"), _scalar(path, a, "column"))
            for m, a in pairs.value
        )
        targets = [a for _, a in mapped]
        twice = sorted({a for a in targets if targets.count(a) > 1})
        if twice:
            raise _fail(
                path,
                pairs,
                f"columns of {table}: {', '.join(twice)} is"
                " mapped from more than one of master's columns",
            )
        maps.append((table, mapped))
    return tuple(maps)


def load(project_dir: Path, path: Path | None = None) -> Config:
    """Read ``replication.yml`` (or ``path``); the defaults when there is none."""
    path = path or project_dir / CONFIG_FILE
    if not path.exists():
        return Config()
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ReplicaError(f"{path.name}{where}: {problem}") from None
    if root is None:
        return Config(source=str(path))
    if not isinstance(root, yaml.MappingNode):
        raise _fail(path, root, "expected a mapping at the top")
    config = Config(source=str(path))
    tables_node = None
    defaults_node = None
    for key_node, value in root.value:
        key = key_node.value
        if key in ("master_schema", "landing_schema"):
            setattr(config, key, _scalar(path, value, key))
        elif key == "tables":
            tables_node = value
        elif key == "defaults":
            defaults_node = value
        elif key == "application":
            config.application = _application(path, value)
        else:
            raise _fail(
                path,
                key_node,
                f"unknown setting {key!r} (known: "
                "master_schema, landing_schema, defaults, tables, application)",
            )
    base = (
        _table(path, "*", defaults_node, TableSpec("*"))
        if defaults_node
        else TableSpec("*")
    )
    if tables_node is not None:
        if not isinstance(tables_node, yaml.MappingNode) or not tables_node.value:
            raise _fail(path, tables_node, "tables must map table names to settings")
        config.tables = [
            _table(path, _scalar(path, k, "table name"), v, base)
            for k, v in tables_node.value
        ]
    else:
        config.tables = [replace(base, name=t) for t in DEFAULT_TABLES]
    config.tables.append(base)  # the defaults, for tables named on the command line
    return config


def selected(config: Config, names: tuple[str, ...] | None) -> list[TableSpec]:
    """The specs to copy: ``names`` if given, else every configured table."""
    if names is None:
        return [s for s in config.tables if s.name != "*"]
    return [config.spec(n) for n in names]
