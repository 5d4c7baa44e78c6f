"""Prove the copy: counts and content checksums, master against the replica.

Two layers are checked against master's tables: the landing schema the runner
loads (``master_raw``) and the replica models dbt builds (``public``). Both sides
run under db.SESSION_SETTINGS, in one REPEATABLE READ READ ONLY transaction each,
so that row text (and so the checksums) compare equal when the rows do. A column
the replica holds as text (db.landtypes: a type it cannot have) hashes as
master's text output on both sides: equal when the texts are.

Master's dashboards are views that compute a new uuid and ``now()`` on every read:
they are compared on everything but those volatile columns, and the system metrics
(a moving 24-hour window over a queue the replica does not have) by count only.
They are read in the CRM's time zone, where they count "today" (settings).
Where master keeps a dashboard as a table instead (a snapshot a job stored), the
landing copy is checked like any table, and the dashboard the replica computes
is not a copy of it: the dbt test dashboard_drift_from_master reports how far
the stored one has drifted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field

import psycopg
from psycopg import sql

from crm_replica import format as summary
from crm_replica.db import (
    Shape,
    connect_master,
    connect_replica,
    count_and_checksum_columns,
    database_error,
    one_line,
    refuse_row_security,
    row_hashes,
    shape,
    table_key,
)
from crm_replica.db import time_zone as db_time_zone
from crm_replica.errors import CheckAborted, ReplicaError
from crm_replica.load import runlog as meta
from crm_replica.settings import (
    CRM_TIME_ZONE,
    DASHBOARD_VIEWS,
    DEFAULT_TABLES,
    MASTER_SCHEMA,
    Schemas,
)

#: Columns a master view recomputes on every read.
VOLATILE_COLUMNS = frozenset({"id", "updated_at", "created_at"})
#: Views whose content cannot be compared at all, only their row count.
COUNT_ONLY = frozenset({"dashboard_system_metrics"})
#: How many differing keys to name per table.
EXAMPLES = 3


@dataclass
class TableCheck:
    layer: str  # "landing" or "models"
    table: str
    compared: str  # "rows", "columns" (volatile ones left out), "count"
    master_rows: int | None
    replica_rows: int | None
    master_checksum: int | None = None
    replica_checksum: int | None = None
    notes: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return (
            not self.notes
            and self.master_rows is not None
            and self.master_rows == self.replica_rows
            and self.master_checksum == self.replica_checksum
        )

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.table}"


@dataclass
class VerifyResult:
    against: str  # "master" (live) or "snapshot" (the last run's recorded figures)
    checks: list[TableCheck]
    run_id: int | None = None
    #: Nothing was ever published to this replica and these models (of those
    #: checked) are not there: the models were not checked, only the landing
    #: tables. None: the models were checked.
    unpublished: list[str] | None = None
    #: The models published from an earlier run than the landing tables' (an
    #: extract-load alone since): they hold that run's rows.
    behind: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.matches for c in self.checks)

    @property
    def failures(self) -> list[TableCheck]:
        return [c for c in self.checks if not c.matches]


def _unpublished(
    replica: psycopg.Connection, models: str, tables: Sequence[str]
) -> list[str] | None:
    """The checked models missing from a replica that nothing was ever published
    to (no sync, rollback or ``replica build``); None when something was, or when
    every checked model is there (made some other way): then they are checked."""
    if meta.models_published(replica):
        return None
    missing = [f"{models}.{t}" for t in tables if shape(replica, models, t) is None]
    return missing or None


def nothing_published(result: VerifyResult) -> str:
    """One line: nothing was published, so the models were not verified."""
    missing = result.unpublished or []
    named = ", ".join(missing[:3]) + (
        f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    )
    return (
        "nothing has been published yet: no sync has succeeded on this replica, so"
        f" the models were not verified ({named} missing)"
    )


def _compared_columns(table: str, master: Shape) -> tuple[str, list[str] | None]:
    """What to compare of a master relation, and which columns (None: all)."""
    if not master.is_view:
        return "rows", None
    if table in COUNT_ONLY:
        return "count", []
    return "columns", [c for c in master.columns if c not in VOLATILE_COLUMNS]


def _measure(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    compared: str,
    cols,
    where: sql.Composable | None = None,
) -> tuple[int, int | None]:
    if compared == "count":
        query = sql.SQL("select count(*) from {} as t{}").format(
            sql.Identifier(schema, table),
            sql.SQL(" where ") + where if where is not None else sql.SQL(""),
        )
        return conn.execute(query).fetchone()[0], None
    return count_and_checksum_columns(conn, schema, table, cols, where)


def _meta_has(
    replica: psycopg.Connection, *tables: str, column: str | None = None
) -> bool:
    """Whether the run log's schema has ``tables`` (each with ``column``, when
    given): a replica a publish of an older version wrote may lack them."""
    return replica.execute(
        "select bool_and(to_regclass(t) is not null and (%s::text is null or exists"
        " (select 1 from pg_attribute where attrelid = to_regclass(t)"
        " and attname = %s::text and not attisdropped))) from unnest(%s::text[]) as t",
        (column, column, [f"{meta.META_SCHEMA}.{t}" for t in tables]),
    ).fetchone()[0]


def _application_relations(replica: psycopg.Connection, models: str) -> dict[str, str]:
    """The application's relations of the models schema that the last publish
    wrote rows into (``table``) or kept in place of a model (``kept``)."""
    if not _meta_has(replica, "application_relations"):
        return {}
    return dict(
        replica.execute(
            sql.SQL("select relation_name, kind from {} where schema_name = %s").format(
                sql.Identifier(meta.META_SCHEMA, "application_relations")
            ),
            (models,),
        ).fetchall()
    )


def _mapped_columns(
    replica: psycopg.Connection, models: str
) -> dict[str, dict[str, str]]:
    """Per table of the application's, master's columns the last publish wrote
    under another name: {table: {master's column: the application's}}."""
    if not _meta_has(replica, "application_relations", column="columns"):
        return {}
    rows = replica.execute(
        sql.SQL(
            "select relation_name, columns from {} where schema_name = %s"
            " and kind = 'table' and columns <> '{{}}'"
        ).format(sql.Identifier(meta.META_SCHEMA, "application_relations")),
        (models,),
    ).fetchall()
    return {name: dict(columns) for name, columns in rows}


def _replica_read(
    replica: psycopg.Connection,
    layer: str,
    schema: str,
    table: str,
    landing: str,
    applications: dict[str, str],
    shadow: str,
    published: tuple[str, str] | None = None,
) -> tuple[str, sql.Composable | None]:
    """Where a layer's copy of ``table`` is read, and which of its rows (None:
    all). A table of the application's holds master's rows among its own: the
    rows whose key master's landing table has, on master's columns, are
    compared (a master row it lacks is a count short; one it changed, a
    checksum off); ``published`` (the run log's schema and the table's label):
    the landing tables are a later run's, and the rows compared are those the
    last publish wrote (sync.rows keeps their keys). Where the application keeps
    an object of its own under a model's name, the replica's copy is in
    ``shadow``."""
    kind = applications.get(table) if layer == "models" else None
    if kind == "kept":
        return shadow, None
    if kind != "table":
        return schema, None
    if published is not None:
        key = table_key(replica, schema, table)
        return schema, sql.SQL(
            "exists (select 1 from {rows} as b where b.table_name = {label}"
            " and b.row_key = jsonb_build_object({key}))"
        ).format(
            rows=sql.Identifier(published[0], "published_rows"),
            label=sql.Literal(published[1]),
            key=sql.SQL(", ").join(
                sql.SQL("{}, t.{}").format(sql.Literal(k), sql.Identifier(k))
                for k in key
            ),
        )
    landed = shape(replica, landing, table)
    if landed is None or not landed.key:
        return schema, None
    return schema, sql.SQL("exists (select 1 from {} as l where {})").format(
        sql.Identifier(landing, table),
        sql.SQL(" and ").join(
            sql.SQL("l.{k} = t.{k}").format(k=sql.Identifier(k)) for k in landed.key
        ),
    )


def _examples(
    master: psycopg.Connection,
    replica: psycopg.Connection,
    table: str,
    schema: str,
    key: Sequence[str],
    limit: int,
    columns: Sequence[str] | None,
    within: sql.Composable | None = None,
    replica_columns: Sequence[str] | None = None,
) -> list[str]:
    """Up to ``limit`` keys whose rows differ (on ``columns``, all when None;
    ``replica_columns``: the replica's names of them), are missing, or are extra
    (of the replica's rows ``within`` keeps)."""
    theirs = row_hashes(master, MASTER_SCHEMA, table, key, columns)
    ours = (
        row_hashes(
            replica, schema, table, key, replica_columns or columns, where=within
        )
        if theirs is not None
        else None
    )
    if theirs is None or ours is None:
        return []
    label = ",".join(key)
    found = [
        f"{label}={k} differs" for k in theirs if k in ours and ours[k] != theirs[k]
    ]
    found += [f"{label}={k} missing" for k in theirs if k not in ours]
    found += [f"{label}={k} extra" for k in ours if k not in theirs]
    return sorted(found)[:limit]


def _check(
    master: psycopg.Connection | None,
    replica: psycopg.Connection,
    layer: str,
    schema: str,
    table: str,
    m_rel: Shape | None,
    m_measure: tuple[int, int | None] | None,
    examples: int,
    within: sql.Composable | None = None,
    mapped: dict[str, str] | None = None,
) -> TableCheck:
    """One layer's copy of ``table`` against master's; ``within``: which of the
    replica's rows are master's (an application's table), its other columns
    not compared; ``mapped``: master's columns it names otherwise."""
    mapped = mapped or {}
    if m_rel is None:
        return TableCheck(layer, table, "count", None, None, notes=["not on master"])
    compared, cols = _compared_columns(table, m_rel)
    m_rows, m_sum = m_measure or (None, None)
    check = TableCheck(layer, table, compared, m_rows, None, m_sum)
    if m_measure is None:
        check.notes.append("no recorded load")
    r_rel = shape(replica, schema, table)
    if r_rel is None:
        check.notes.append(f"{schema}.{table} missing")
        return check
    theirs = _by_masters_name(r_rel.columns, mapped)
    if compared == "rows":
        # Columns compare by name, hashed in master's order on both sides: a
        # column master dropped and added again sits elsewhere in the replica.
        extra = [c for c in theirs if c not in m_rel.columns and within is None]
        missing = [c for c in m_rel.columns if c not in theirs]
        change = [f"+{c}" for c in missing] + [f"-{c}" for c in extra]
        if change:
            check.notes.append("columns differ: " + ", ".join(change))
        cols = [c for c in m_rel.columns if c in theirs]
    if cols and any(c not in theirs for c in cols):
        check.notes.append(f"columns missing in {schema}.{table}")
        cols = []
        check.compared = "count"
    ours = [theirs[c] for c in cols] if cols else cols
    check.replica_rows, check.replica_checksum = _measure(
        replica, schema, table, check.compared, ours, within
    )
    if check.compared == "count":
        check.master_checksum = check.replica_checksum = None
    keyed = bool(m_rel.key) and all(k in r_rel.columns for k in m_rel.key)
    if not check.matches and master is not None and keyed and compared == "rows":
        check.examples = _examples(
            master, replica, table, schema, m_rel.key, examples, cols, within, ours
        )
    return check


def _by_masters_name(columns: Sequence[str], mapped: dict[str, str]) -> dict[str, str]:
    """The replica's ``columns`` by master's name for them (``mapped``: master's
    columns the replica names otherwise); a column of the application's own
    named like one of master's mapped away is not master's."""
    back = {ours: theirs for theirs, ours in mapped.items()}
    return {back.get(c, c): c for c in columns if c in back or c not in mapped}


def verify(
    master_url: str | None,
    replica_url: str,
    tables: Sequence[str] = DEFAULT_TABLES,
    *,
    against: str = "master",
    landing: str = Schemas.landing,
    models: str = Schemas.models,
    shadow: str = Schemas.shadow,
    examples: int = EXAMPLES,
    time_zone: str = CRM_TIME_ZONE,
) -> VerifyResult:
    """Check the landing tables and the replica models against master (its
    views read in ``time_zone``, the CRM's).

    ``against="snapshot"`` compares with the counts and checksums the last
    succeeded run recorded inside its master snapshot (no master connection).
    Raises ReplicaError when a database cannot be reached.
    """
    with connect_replica(replica_url) as replica:
        replica.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        if against == "snapshot":
            return _against_snapshot(replica, tables, landing, models, shadow)
        assert master_url
        with connect_master(master_url) as master:
            master.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            master.read_only = True
            refuse_row_security(master, MASTER_SCHEMA, tables)
            unpublished = _unpublished(replica, models, tables)
            checked_models = models if unpublished is None else None
            applications = _application_relations(replica, models)
            mapped = _mapped_columns(replica, models)
            checks = []
            for table in tables:
                m_rel = shape(master, MASTER_SCHEMA, table)
                m_measure = None
                if m_rel is not None:
                    compared, cols = _compared_columns(table, m_rel)
                    # A view counts "today" in its session's time zone: read it
                    # in the CRM's, as extract-load captured it.
                    with (
                        db_time_zone([master], time_zone)
                        if m_rel.is_view
                        else nullcontext()
                    ):
                        m_measure = _measure(
                            master, MASTER_SCHEMA, table, compared, cols
                        )
                stored = m_rel is not None and not m_rel.is_view
                for layer, schema in _layers(table, stored, landing, checked_models):
                    read, within = _replica_read(
                        replica, layer, schema, table, landing, applications, shadow
                    )
                    checks.append(
                        _check(
                            master,
                            replica,
                            layer,
                            read,
                            table,
                            m_rel,
                            m_measure,
                            examples,
                            within,
                            mapped.get(table) if layer == "models" else None,
                        )
                    )
            master.rollback()
            behind = _behind(replica, models, tables) if checked_models else []
        replica.rollback()
    return VerifyResult(
        "master", _ordered(checks), unpublished=unpublished, behind=behind
    )


def _behind(
    replica: psycopg.Connection, models: str, tables: Sequence[str]
) -> list[str]:
    """The models of ``tables`` published from an earlier run than the landing
    tables'."""
    if not meta.has_run_log(replica):
        return []
    loads = {t.table_name: t for t in meta.last_loads(replica)}
    behind = _published_loads(replica, models, loads, tables)
    return sorted(f"{models}.{t}" for t in behind)


def _against_snapshot(
    replica: psycopg.Connection,
    tables: Sequence[str],
    landing: str,
    models: str,
    shadow: str,
) -> VerifyResult:
    meta_exists = _meta_has(replica, "table_loads")
    loads = {t.table_name: t for t in meta.last_loads(replica)} if meta_exists else {}
    last_run = f"select max(run_id) from {meta.META_SCHEMA}.runs where status = %s"
    run = (
        replica.execute(last_run, ("succeeded",)).fetchone()[0] if meta_exists else None
    )
    unpublished = _unpublished(replica, models, tables)
    result_behind = (
        _published_loads(replica, models, loads, tables) if meta_exists else {}
    )
    result = against_loads(
        replica,
        tables,
        loads,
        landing,
        None if unpublished else models,
        run,
        applications=_application_relations(replica, models),
        shadow=shadow,
        model_loads=result_behind,
        mapped=_mapped_columns(replica, models) if meta_exists else {},
    )
    result.unpublished = unpublished
    result.behind = [f"{models}.{t}" for t in sorted(result_behind)]
    replica.rollback()
    return result


def _published_loads(
    replica: psycopg.Connection,
    models: str,
    loads: dict[str, meta.TableLoad],
    tables: Sequence[str],
) -> dict[str, meta.TableLoad | None]:
    """The figures of the run each model was last published from, where they are
    not the landing tables' (``loads``): an extract-load alone replaces the
    landing tables and leaves the models the last publish's. None: that run
    recorded no load of the table."""
    if not _meta_has(replica, "published", "application_relations"):
        return {}
    runs = replica.execute(
        sql.SQL(
            "select relation_name, run_id from {p} where schema_name = %s union"
            " select relation_name, run_id from {a} where schema_name = %s"
            " and kind = 'table'"
        ).format(
            p=sql.Identifier(meta.META_SCHEMA, "published"),
            a=sql.Identifier(meta.META_SCHEMA, "application_relations"),
        ),
        (models, models),
    ).fetchall()
    of_run: dict[int, dict[str, meta.TableLoad]] = {}
    differ: dict[str, meta.TableLoad | None] = {}
    for table, run_id in runs:
        if run_id not in of_run:
            of_run[run_id] = meta.loads_of(replica, run_id)
        theirs, ours = of_run[run_id].get(table), loads.get(table)
        if table not in tables or ours is None:
            continue
        figures = (theirs.master_rows, theirs.master_checksum) if theirs else None
        if figures != (ours.master_rows, ours.master_checksum):
            differ[table] = theirs
    return differ


def against_loads(
    replica: psycopg.Connection,
    tables: Sequence[str],
    loads: dict[str, meta.TableLoad],
    landing: str,
    models: str | None,
    run: int | None,
    *,
    landing_measured: bool = False,
    applications: dict[str, str] | None = None,
    shadow: str = Schemas.shadow,
    model_loads: dict[str, meta.TableLoad | None] | None = None,
    mapped: dict[str, dict[str, str]] | None = None,
) -> VerifyResult:
    """The landing tables and the models (None: not them) against a run's master
    figures (``loads``). ``landing_measured``: the loads' replica figures were
    measured on these very landing tables (a sync's build, which nothing else
    wrote since): they are used instead of reading the tables again.
    ``model_loads``: the models published from another run than the landing
    tables', with that run's figures; ``mapped``: master's columns the
    application's tables name otherwise."""
    checks = []
    model_loads = model_loads or {}
    for table in tables:
        # The run's checksum hashed master's columns in master's order, which the
        # landing table keeps; a model may order them otherwise.
        order = shape(replica, landing, table)
        landed = loads.get(table)
        stored = landed is not None and landed.master_checksum is not None
        for layer, live in _layers(table, stored, landing, models):
            behind = layer == "models" and table in model_loads
            load = model_loads[table] if behind else loads.get(table)
            schema, within = _replica_read(
                replica,
                layer,
                live,
                table,
                landing,
                applications or {},
                shadow,
                published=(meta.META_SCHEMA, f"{live}.{table}") if behind else None,
            )
            r_rel = shape(replica, schema, table)
            # The run recorded master's shape only as a checksum: compare whole rows
            # for tables, counts for views (their recorded checksum is null).
            compared = "rows" if load and load.master_checksum is not None else "count"
            check = TableCheck(
                layer,
                table,
                compared,
                load.master_rows if load else None,
                None,
                load.master_checksum if load and compared == "rows" else None,
            )
            if load is None:
                check.notes.append("no recorded load")
            if r_rel is None:
                check.notes.append(f"{schema}.{table} missing")
            elif layer == "landing" and landing_measured and load is not None:
                check.replica_rows = load.replica_rows
                check.replica_checksum = (
                    load.replica_checksum if compared == "rows" else None
                )
            else:
                cols = None
                renamed = (mapped or {}).get(table, {}) if layer == "models" else {}
                names = _by_masters_name(r_rel.columns, renamed)
                if order is not None and (
                    set(order.columns) == set(names)
                    or (within is not None and set(order.columns) <= set(names))
                ):
                    cols = [names[c] for c in order.columns]
                check.replica_rows, check.replica_checksum = _measure(
                    replica, schema, table, compared, cols, within
                )
            checks.append(check)
    return VerifyResult("snapshot", _ordered(checks), run)


def _layers(
    table: str, stored: bool, landing: str, models: str | None
) -> list[tuple[str, str]]:
    """The layers that copy ``table``: the landing table, and the model of the
    same name (``models``: their schema, None when they are not checked), but
    for a dashboard master keeps as a table (``stored``), whose model is the
    replica's own computation, not a copy."""
    if models is None or (stored and table in DASHBOARD_VIEWS):
        return [("landing", landing)]
    return [("landing", landing), ("models", models)]


def _ordered(checks: list[TableCheck]) -> list[TableCheck]:
    """Landing tables first, then the models, each in the run's table order."""
    return sorted(checks, key=lambda c: c.layer != "landing")


def summary_line(result: VerifyResult) -> str:
    """One line naming what differs (with example keys where they were cheap)."""
    parts = []
    for check in result.failures:
        detail = check.notes + check.examples
        if not detail:
            detail = [
                "count differs"
                if check.master_rows != check.replica_rows
                else "checksum differs"
            ]
        parts.append(f"{check.name} ({'; '.join(detail)})")
    line = f"{len(parts)} of {len(result.checks)} checks differ: " + ", ".join(parts)
    if result.against == "master" and result.behind:
        line += (
            f"; {', '.join(result.behind)} are the last publish's rows, the landing"
            " tables a later extract-load's (replica build publishes them)"
        )
    return line


def to_json(result: VerifyResult) -> str:
    return json.dumps(
        {
            "ok": result.ok,
            "against": result.against,
            "run_id": result.run_id,
            # Nothing published yet: the models missing, and not checked.
            "unpublished_models": result.unpublished,
            "checks": [
                {
                    **asdict(c),
                    "master_checksum": None
                    if c.master_checksum is None
                    else str(c.master_checksum),
                    "replica_checksum": None
                    if c.replica_checksum is None
                    else str(c.replica_checksum),
                    "matches": c.matches,
                }
                for c in result.checks
            ],
        },
        indent=2,
    )


def to_text(result: VerifyResult) -> str:
    """The per-table table a person reads."""
    rows = [
        (
            c.layer,
            c.table,
            c.master_rows,
            c.replica_rows,
            c.compared,
            "match" if c.matches else "DIFFERS",
        )
        for c in result.checks
    ]
    head = "master" if result.against == "master" else f"run {result.run_id}"
    headers = ["layer", "table", head, "replica", "compared", "result"]
    return summary.table(headers, rows)


@contextmanager
def aborts_on_error() -> Iterator[None]:
    """Inside, a failure to check (connection, missing schema, driver error) becomes
    CheckAborted (exit 2), distinct from a check that ran and failed (exit 1)."""
    try:
        yield
    except CheckAborted:
        raise
    except ReplicaError as exc:
        raise CheckAborted(exc.message) from None
    except psycopg.Error as exc:
        raise CheckAborted(database_error(exc, "the check").message) from None
    except OSError as exc:
        raise CheckAborted(one_line(exc)) from None
