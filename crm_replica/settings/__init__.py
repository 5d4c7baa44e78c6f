"""Every schema name, table list and replication setting: settings.schemas
(dbt_project.yml's vars) and settings.replication (replication.yml)."""

from __future__ import annotations

from crm_replica.settings.replication import (
    Application,
    Config,
    TableSpec,
    load,
    selected,
)
from crm_replica.settings.schemas import (
    BUILD_PREFIX,
    CRM_TABLES,
    CRM_TIME_ZONE,
    DASHBOARD_VIEWS,
    DEFAULT_TABLES,
    GEN_PREFIX,
    MASTER_SCHEMA,
    Schemas,
    build_schema,
    generation_prefix,
    generation_schema,
    parse_table_list,
)

__all__ = [
    "Application",
    "BUILD_PREFIX",
    "CRM_TABLES",
    "CRM_TIME_ZONE",
    "Config",
    "DASHBOARD_VIEWS",
    "DEFAULT_TABLES",
    "GEN_PREFIX",
    "MASTER_SCHEMA",
    "Schemas",
    "TableSpec",
    "build_schema",
    "generation_prefix",
    "generation_schema",
    "load",
    "parse_table_list",
    "selected",
]
