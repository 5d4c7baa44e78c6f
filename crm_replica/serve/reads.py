"""The application's reads, each written once: ``analyses/read_*.sql``.

Each is a dbt analysis: a parameterised statement with PostgreSQL's own
placeholders ($1, $2, …, listed in its header) whose relations are dbt refs. The
application copies the statement with the refs resolved (README "Reading the
replica" shows them so; ``dbt compile`` writes them under target/compiled); the
viewer (``replica serve``) runs exactly that text. A ref resolves as
macros/generate_schema_name.sql resolves it: the model's folder's custom schema
(dbt_project.yml) names a layer, whose schema is var ``<layer>_schema``; none is
the target schema.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import psycopg
import yaml
from psycopg.rows import dict_row

from crm_replica.errors import ReplicaError
from crm_replica.settings import Schemas

#: The reads, in the order README shows them.
READS = (
    "read_leads",
    "read_lead_facets",
    "read_lead",
    "read_lead_analytics",
    "read_thread",
    "read_thread_newer",
    "read_conversation",
    "read_search",
)


def model_schemas(project_dir: Path, schemas: Schemas) -> dict[str, str]:
    """Every model's schema, by the custom schema of its folder in
    dbt_project.yml (``+schema``), as generate_schema_name picks it."""
    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    folders = (project.get("models") or {}).get(project.get("name"), {}) or {}
    models = project_dir / "models"
    found = {}
    for path in sorted(models.rglob("*.sql")):
        config = folders
        layer = config.get("+schema")
        for part in path.relative_to(models).parts[:-1]:
            config = config.get(part) or {}
            layer = config.get("+schema", layer)
        own = _OWN_SCHEMA.search(path.read_text(encoding="utf-8"))
        found[path.stem] = schemas.of_layer(own.group(1) if own else layer)
    return found


#: A model's own ``schema='…'`` in its config() call.
_OWN_SCHEMA = re.compile(r"config\((?:[^()]|\([^()]*\))*?\bschema\s*=\s*'(\w+)'", re.S)


def render(template: str, relations: dict[str, str], landing: str) -> str:
    """A read's SQL with its refs (and sources) as quoted schema.relation names;
    Jinja comments become SQL comments."""

    def ref(name: str) -> str:
        if name not in relations:
            raise ReplicaError(f"a read refers to an unknown model: {name}")
        return _quoted(relations[name], name)

    def source(source_name: str, table: str) -> str:
        return _quoted(landing, table)

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    commented = _JINJA_COMMENT.sub(
        lambda m: "/*" + m.group(1).replace("*/", "* /") + "*/", template
    )
    return env.from_string(commented).render(ref=ref, source=source).strip() + "\n"


#: A Jinja comment, kept in the SQL as a comment: a read's header says what its
#: parameters are.
_JINJA_COMMENT = re.compile(r"\{#-?(.*?)-?#\}", re.S)


def _quoted(schema: str, name: str) -> str:
    return '"{}"."{}"'.format(schema.replace('"', '""'), name.replace('"', '""'))


@dataclass(frozen=True)
class Reads:
    """The reads of a project, rendered for a replica's schema names."""

    statements: dict[str, str]

    @classmethod
    def load(cls, project_dir: Path, schemas: Schemas) -> Reads:
        relations = model_schemas(project_dir, schemas)
        statements = {}
        for name in READS:
            path = project_dir / "analyses" / f"{name}.sql"
            try:
                template = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ReplicaError(f"cannot read {path}: {exc.strerror}") from None
            statements[name] = render(template, relations, schemas.landing)
        return cls(statements)

    def run(
        self, conn: psycopg.Connection, name: str, params: Sequence[Any]
    ) -> list[dict[str, Any]]:
        """Run read ``name`` with its parameters ($1, $2, … in order)."""
        with psycopg.RawCursor(conn, row_factory=dict_row) as cur:
            cur.execute(self.statements[name], list(params))
            return cur.fetchall()
