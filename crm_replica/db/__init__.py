"""PostgreSQL itself: sessions with checked settings and redacted errors
(connect, secrets), the guards (guard), the catalog (catalog), content checksums
(checksum) and the embedded clusters (embedded)."""

from __future__ import annotations

from crm_replica.db.catalog import (
    Relation,
    Shape,
    describe_relation,
    landing_columns,
    list_tables,
    relation_kind,
    relation_names,
    same_type,
    shape,
    table_key,
)
from crm_replica.db.checksum import (
    count_and_checksum,
    count_and_checksum_columns,
    count_checksum_max,
    count_own_rows,
    count_rows,
    row_hash,
    row_hashes,
)
from crm_replica.db.connect import (
    DEFAULT_LOCK_TIMEOUT,
    connect,
    connect_master,
    connect_replica,
    database_error,
    describe,
    explain,
    parse_url,
    redact,
    set_lock_timeout,
    time_zone,
)
from crm_replica.db.embedded import (
    MASTER_DB,
    REPLICA_DB,
    REPLICA_SETTINGS,
    cluster,
    embedded_urls,
)
from crm_replica.db.guard import (
    refuse_row_security,
    refuse_same_database,
    refuse_same_urls,
)
from crm_replica.db.landtypes import TypeLanding
from crm_replica.db.secrets import one_line, url_password

__all__ = [
    "relation_kind",
    "table_key",
    "relation_names",
    "TypeLanding",
    "describe_relation",
    "same_type",
    "DEFAULT_LOCK_TIMEOUT",
    "MASTER_DB",
    "REPLICA_DB",
    "REPLICA_SETTINGS",
    "Relation",
    "Shape",
    "cluster",
    "connect",
    "connect_master",
    "connect_replica",
    "count_and_checksum",
    "count_and_checksum_columns",
    "count_checksum_max",
    "count_own_rows",
    "count_rows",
    "database_error",
    "describe",
    "embedded_urls",
    "explain",
    "landing_columns",
    "list_tables",
    "one_line",
    "parse_url",
    "redact",
    "refuse_row_security",
    "refuse_same_database",
    "refuse_same_urls",
    "row_hash",
    "row_hashes",
    "set_lock_timeout",
    "shape",
    "time_zone",
    "url_password",
]
