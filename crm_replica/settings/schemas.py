"""Every schema name and table list, and the CRM's time zone, in one place.

The schema names' defaults are the vars in ``dbt_project.yml`` (what ``dbt build``
by hand uses); ``replication.yml`` may name another landing schema. The runner
passes them all to dbt as vars, so a name changed in one place reaches the loader,
dbt, verify, status and the reports alike.

The CRM's time zone (var ``crm_time_zone``, Asia/Jerusalem: the CRM is run from
Israel) is where master's dashboards count "today": the runner reads master's
views in it, and the replica's dashboards truncate the snapshot time in it, never
in a server's or session's time zone. Every other read runs in UTC (db.connect).

A sync builds every relation it publishes beside the live ones, in schemas named
``_crm_build_<live schema>``, and publishing moves the live relations it replaces
into ``replica_gen_<run>__<live schema>``: the generation of the run they belonged
to, kept for ``replica rollback``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from crm_replica.errors import ReplicaError

#: The eight tables of the CRM, parents before children.
CRM_TABLES = (
    "clients",
    "projects",
    "leads",
    "conversations",
    "whatsapp_messages",
    "agent_interaction_logs",
    "conversation_audit_log",
    "lead_status_history",
)
#: Master computes these on read; their output is captured in the same snapshot so
#: that the replica's own dashboards can be compared with it.
DASHBOARD_VIEWS = (
    "dashboard_bant_distribution",
    "dashboard_business_kpis",
    "dashboard_lead_funnel",
    "dashboard_system_metrics",
)
DEFAULT_TABLES = CRM_TABLES + DASHBOARD_VIEWS
#: Master's schema holding the CRM (replication.yml may name another).
MASTER_SCHEMA = "public"

#: Where the CRM is run from: its dashboards' "today" (dbt var crm_time_zone).
CRM_TIME_ZONE = "Asia/Jerusalem"

BUILD_PREFIX = "_crm_build_"
GEN_PREFIX = "replica_gen_"

#: dbt var holding each schema name (the models' schema is the profile's target).
_VARS = {
    "landing": "landing_schema",
    "staging": "staging_schema",
    "intermediate": "intermediate_schema",
    "archive": "local_archive_schema",
    "reference": "reference_schema",
    "read": "read_schema",
    "cache": "cache_schema",
    "meta": "meta_schema",
    "time_zone": "crm_time_zone",
    "conflict_policy": "local_conflict_policy",
}


@dataclass(frozen=True)
class Schemas:
    """The replica's schemas."""

    #: master's tables as loaded (sources)
    landing: str = "master_raw"
    #: staging views
    staging: str = "replica_staging"
    #: intermediate models
    intermediate: str = "replica_intermediate"
    #: the replica tables and dashboards the application reads (the dbt target)
    models: str = "public"
    #: the application's legacy tables, archived once, and the review tables
    archive: str = "local_archive"
    #: seeds
    reference: str = "replica_reference"
    #: what the application reads: threads, lead details, analytics (models/read)
    read: str = "replica_read"
    #: dbt models that builds add to in place (not published)
    cache: str = "replica_cache"
    #: the run log
    meta: str = "replica_meta"
    #: the replica's own copy of each model whose rows it writes into a table of
    #: the application's (sync.rows): kept and rolled back like every relation
    #: it publishes, and where the next sync's build starts from
    shadow: str = "replica_shadow"
    #: Not a schema, passed to dbt with them: the CRM's time zone, in which
    #: master's views are read and the dashboards count "today".
    time_zone: str = CRM_TIME_ZONE
    #: Not a schema either: var local_conflict_policy (master_wins, local_wins),
    #: how a row both the application and master changed is merged.
    conflict_policy: str = "master_wins"

    @property
    def published(self) -> tuple[str, ...]:
        """The schemas whose relations a sync builds beside and publishes."""
        return tuple(
            dict.fromkeys(
                (
                    self.landing,
                    self.staging,
                    self.intermediate,
                    self.models,
                    self.archive,
                    self.reference,
                    self.read,
                    self.shadow,
                )
            )
        )

    def dbt_vars(self) -> dict[str, str]:
        return {var: getattr(self, name) for name, var in _VARS.items()}

    def of_layer(self, layer: str | None) -> str:
        """The schema of a dbt layer (a model's custom schema: staging, read, …), as
        macros/generate_schema_name.sql picks it: var ``<layer>_schema``; no layer,
        the target schema (``models``)."""
        if layer is None:
            return self.models
        by_var = {var: name for name, var in _VARS.items()}
        name = by_var.get(f"{layer}_schema")
        return getattr(self, name) if name else layer


def build_schema(live: str) -> str:
    """Where a sync builds the relations it will publish into ``live``."""
    return f"{BUILD_PREFIX}{live}"


def generation_schema(run_id: int, live: str) -> str:
    """Where the relations of run ``run_id`` live once another run replaced them."""
    return f"{GEN_PREFIX}{run_id}__{live}"


def generation_prefix(run_id: int) -> str:
    return f"{GEN_PREFIX}{run_id}__"


def load(project_dir: Path | None, landing: str | None = None) -> Schemas:
    """The schema names: dbt_project.yml's vars, with replication.yml's landing
    schema (``landing``) over them."""
    schemas = Schemas()
    project = (project_dir / "dbt_project.yml") if project_dir else None
    if project is not None and project.exists():
        try:
            data = yaml.safe_load(project.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {}  # dbt itself will say what is wrong with the file
        project_vars = data.get("vars") or {}
        names = {f.name for f in fields(Schemas)}
        schemas = replace(
            schemas,
            **{
                name: str(project_vars[var])
                for name, var in _VARS.items()
                if name in names and project_vars.get(var)
            },
        )
    if landing:
        schemas = replace(schemas, landing=landing)
    check_time_zone(schemas.time_zone)
    return schemas


def check_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone; a clear error if not."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReplicaError(
            f"dbt_project.yml: var crm_time_zone: {name!r} is not a time zone"
            " (an IANA name such as Asia/Jerusalem)"
        ) from None
    return name


#: What a build's result depends on besides the data: the dbt project's files,
#: and the dbt that runs them.
_PROJECT_FILES = ("models", "macros", "tests", "seeds", "analyses")
_PROJECT_ROOT_FILES = ("dbt_project.yml", ".dbtignore", "packages.yml", "selectors.yml")
_DBT_PACKAGES = ("dbt-core", "dbt-postgres")


def fingerprint(project_dir: Path) -> str:
    """A hash of the dbt project (dbt_project.yml, .dbtignore, packages.yml,
    selectors.yml and every file under models/, macros/, tests/, seeds/,
    analyses/) and of the versions of dbt-core and dbt-postgres: two builds by one
    fingerprint make the same relations of the same data."""
    digest = hashlib.sha256()
    for package in _DBT_PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} missing\n".encode())
    files = [project_dir / name for name in _PROJECT_ROOT_FILES] + sorted(
        path
        for folder in _PROJECT_FILES
        for path in (project_dir / folder).rglob("*")
        if path.is_file() and path.suffix in (".sql", ".yml", ".yaml", ".csv", ".md")
    )
    for path in files:
        if path.exists():
            digest.update(str(path.relative_to(project_dir)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def parse_table_list(text: str) -> tuple[str, ...]:
    """``"a, b"`` -> ``("a", "b")``, keeping order and dropping repeats."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return tuple(dict.fromkeys(names))
