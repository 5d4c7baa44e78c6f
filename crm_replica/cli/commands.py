"""The ``replica`` command: a thin click layer over the runner's modules."""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click
import psycopg

from crm_replica import __version__, reports
from crm_replica import serve as viewer
from crm_replica.analyze import compare as analyze
from crm_replica.analyze import write as analyze_report
from crm_replica.checks import parse_duration, status, verify
from crm_replica.cli.console import Bars, LoadBars, NodeBar, load_json, load_table
from crm_replica.cli.place import (
    MASTER_ENV,
    REPLICA_ENV,
    Place,
    find_project_dir,
    resolve,
)
from crm_replica.db import (
    DEFAULT_LOCK_TIMEOUT,
    connect_master,
    connect_replica,
    count_own_rows,
    count_rows,
    describe,
    explain,
    list_tables,
    one_line,
    refuse_same_urls,
    set_lock_timeout,
)
from crm_replica.demo import setup
from crm_replica.errors import (
    EXIT_FAILED,
    CheckAborted,
    ReplicaError,
    TableNotFound,
)
from crm_replica.format import table
from crm_replica.load import RunResult, Target, extract_load, runlock
from crm_replica.settings import (
    CRM_TABLES,
    DEFAULT_TABLES,
    Config,
    TableSpec,
    parse_table_list,
    selected,
)
from crm_replica.settings import load as load_config
from crm_replica.settings import schemas as settings
from crm_replica.sync import dbt as dbt_invoke
from crm_replica.sync import generations as backup
from crm_replica.sync import pipeline


class Interrupted(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the command stops and says where it was."""


def _terminate(signum, frame) -> None:
    raise Interrupted()


class Failure(click.ClickException):
    """What the CLI makes of the engine's errors: click prints ``Error: <line>``
    and exits with the error's code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Group(click.Group):
    """The one place errors become exits: the engine's errors (ReplicaError) and
    driver and OS errors that escape a command become one clear line, and an
    interruption (Ctrl-C, SIGTERM) one line saying what the replica holds."""

    def invoke(self, ctx: click.Context):
        signal.signal(signal.SIGTERM, _terminate)
        try:
            return super().invoke(ctx)
        except ReplicaError as exc:
            raise Failure(exc.message, exc.exit_code) from None
        except psycopg.Error as exc:
            raise Failure(explain(exc)) from None
        except OSError as exc:
            raise Failure(one_line(exc)) from None
        except KeyboardInterrupt as exc:
            what = "terminated" if isinstance(exc, Interrupted) else "interrupted"
            note = ctx.meta.get(INTERRUPT_NOTE, "")
            raise Failure(
                f"{what}{': ' + note if note else ''}",
                143 if isinstance(exc, Interrupted) else 130,
            ) from None


#: ctx.meta key: what an interruption of the running command leaves behind.
INTERRUPT_NOTE = "crm_replica.interrupt_note"


def _on_interrupt(note: str) -> None:
    click.get_current_context().meta[INTERRUPT_NOTE] = note


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="replica")
def cli() -> None:
    """Keep a local PostgreSQL replica of the CRM master and rebuild its dashboards.

    With no MASTER_DATABASE_URL / REPLICA_DATABASE_URL (or --master-url /
    --replica-url), commands use embedded PostgreSQL clusters under .replica/.

    \b
    Example:
        replica demo
        replica sync --master-url "$MASTER_DATABASE_URL"
    """


def _lock_timeout(ctx, param, value: float) -> float:
    set_lock_timeout(value)
    return value


#: What a command does with master, as its --master-url says.
_MASTER_HELP = {
    "reads": "Master database URL, read in read-only sessions. Default: the "
    "embedded master cluster.",
    "writes": "Where the demo writes its synthetic master (a database without CRM "
    "tables, or the demo's own). Default: the embedded master cluster.",
    "guards": "Master's URL, only to refuse a replica that is in fact master "
    "(nothing is read from it).",
}


def place_options(master: str | None = "reads") -> Callable[[Callable], Callable]:
    """--master-url (with the help that says what the command does with master;
    none for a command that never connects to it), --replica-url, --workdir,
    --project-dir and --lock-timeout."""
    master_option = (
        [
            click.option(
                "--master-url",
                envvar=MASTER_ENV,
                show_envvar=True,
                help=_MASTER_HELP[master],
            )
        ]
        if master
        else []
    )
    return lambda f: _with(f, master_option + _PLACE_OPTIONS)


def _with(f: Callable, options: list[Callable]) -> Callable:
    return functools.reduce(lambda acc, opt: opt(acc), reversed(options), f)


_PLACE_OPTIONS = [
    click.option(
        "--replica-url",
        envvar=REPLICA_ENV,
        show_envvar=True,
        help="Replica database URL. Default: the embedded replica cluster.",
    ),
    click.option(
        "--workdir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where embedded clusters, the dbt profile and logs live. "
        "Default: .replica/ in the project.",
    ),
    click.option(
        "--project-dir",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        help="The dbt project. Default: found from the current directory.",
    ),
    click.option(
        "--lock-timeout",
        type=click.FloatRange(0),
        default=DEFAULT_LOCK_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        expose_value=False,
        callback=_lock_timeout,
        help="How long a statement waits for another session's lock (on master"
        " or the replica) before the command fails; 0 waits forever.",
    ),
]


wait_option = click.option(
    "--wait",
    type=click.FloatRange(0),
    is_flag=False,
    flag_value=0.0,
    default=None,
    metavar="[SECONDS]",
    help="When another run holds the replica, wait for it (up to SECONDS; "
    "without a number, as long as it takes) instead of refusing at once.",
)


def _refuse_master(place: Place) -> None:
    """Before the first write to the replica: refuse when it is the master."""
    if place.master_url is None:
        if not place.embedded_replica:
            _info(
                "note: not checked that the replica is not the master: no master "
                f"URL given (--master-url or {MASTER_ENV})"
            )
        return
    assert place.replica_url
    refuse_same_urls(place.master_url, place.replica_url)


@contextmanager
def _writing(place: Place, wait: float | None) -> Iterator[None]:
    """The guard, then the run lock for the rest of the command."""
    _refuse_master(place)
    assert place.replica_url
    with runlock.hold(place.replica_url, wait):
        yield


def _info(message: str) -> None:
    click.echo(message, err=True)


def _where(place: Place) -> None:
    for role, url, embedded in (
        ("master", place.master_url, place.embedded_master),
        ("replica", place.replica_url, place.embedded_replica),
    ):
        if url:
            kind = "embedded" if embedded else "url"
            _info(f"{role:8} {describe(url, role)} ({kind})")


def _specs(
    place: Place, config: Config, tables: Sequence[str] | None, all_tables: bool
) -> list[TableSpec]:
    """The tables to copy: named, every table of master's schema, or configured."""
    if all_tables:
        with connect_master(place.master_url) as conn:
            tables = list_tables(conn, config.master_schema)
        if not tables:
            raise ReplicaError(
                f"--all-tables: master's schema {config.master_schema} has no tables"
            )
    return selected(config, tuple(tables) if tables is not None else None)


def _load(
    place: Place,
    specs: list[TableSpec],
    config: Config,
    *,
    mode: str = "full",
    jobs: int = 2,
) -> RunResult:
    """extract-load of ``specs`` with a bar per table."""
    assert place.master_url and place.replica_url
    schemas = _schemas(place, config)
    try:
        with Bars() as bars:
            return extract_load(
                place.master_url,
                place.replica_url,
                specs,
                config=config,
                jobs=jobs,
                mode=mode,
                progress=LoadBars(bars),
                target=Target.live(schemas.landing, schemas.time_zone),
            )
    except ReplicaError as exc:
        if place.embedded_master and isinstance(exc, TableNotFound):
            exc.message += " (the embedded master is empty: run `replica demo`)"
        raise


def _schemas(place: Place, config: Config | None = None) -> settings.Schemas:
    """The schema names: dbt_project.yml's, with replication.yml's landing."""
    config = config or load_config(place.project_dir)
    return settings.load(place.project_dir, config.landing_schema)


def _sync(
    place: Place,
    config: Config,
    specs: list[TableSpec] | None,
    *,
    mode: str = "full",
    jobs: int = 2,
    keep: int = pipeline.DEFAULT_KEEP,
) -> pipeline.SyncResult:
    """pipeline.sync with a bar per table and one for dbt's nodes."""
    assert place.master_url and place.replica_url
    try:
        with Bars() as bars:
            return pipeline.sync(
                place.master_url,
                place.replica_url,
                place.project_dir,
                place.workdir,
                config=config,
                schemas=_schemas(place, config),
                tables=specs,
                mode=mode,
                jobs=jobs,
                keep=keep,
                progress=LoadBars(bars),
                on_event=NodeBar(bars).on_event,
            )
    except ReplicaError as exc:
        if place.embedded_master and isinstance(exc, TableNotFound):
            exc.message += " (the embedded master is empty: run `replica demo`)"
        raise


tables_option = click.option(
    "--tables",
    "table_list",
    metavar="A,B",
    help="Comma-separated master tables to copy. Default: the CRM's eight tables "
    "and four dashboards.",
)


def load_options(f: Callable) -> Callable:
    """--tables, --all-tables, --mode, --jobs, --config for the commands that load."""
    options = [
        tables_option,
        click.option(
            "--all-tables", is_flag=True, help="Copy every table of master's schema."
        ),
        click.option(
            "--mode",
            type=click.Choice(["full", "incremental"]),
            default="full",
            show_default=True,
            help="full: copy every row and swap the tables in; incremental: "
            "merge rows changed since the last load and apply deletes.",
        ),
        click.option(
            "--jobs",
            "-j",
            type=click.IntRange(1, 32),
            default=2,
            show_default=True,
            help="Tables copied at once (full mode).",
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="Replication settings. Default: replication.yml in the project.",
        ),
    ]
    return functools.reduce(lambda acc, opt: opt(acc), reversed(options), f)


def _load_args(
    place: Place, table_list: str | None, all_tables: bool, config_path: Path | None
) -> dict:
    if table_list is not None and all_tables:
        raise click.UsageError("use --tables or --all-tables, not both")
    return {
        "tables": _tables(table_list) if table_list is not None else None,
        "config": load_config(place.project_dir, config_path),
        "all_tables": all_tables,
    }


def _tables(table_list: str | None) -> tuple[str, ...]:
    tables = parse_table_list(table_list) if table_list is not None else DEFAULT_TABLES
    if not tables:
        raise click.BadParameter("name at least one table", param_hint="--tables")
    return tables


@cli.command(short_help="Sync a synthetic master into a replica, from nothing.")
@place_options("writes")
@click.option(
    "--seed", default=42, show_default=True, help="Seed of the synthetic data."
)
@click.option(
    "--scale",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Multiply the volume tables (leads, messages, conversations, logs).",
)
@wait_option
def demo(master_url, replica_url, workdir, project_dir, seed, scale, wait) -> None:
    """Build a synthetic master and a replica, sync them, and show the counts.

    Creates (or reuses) the synthetic master of docs/master.md and the replica's
    legacy local tables, runs extract-load and dbt build, and prints master vs
    replica row counts. It never writes into a database holding CRM tables it did
    not create.

    \b
    Example:
        replica demo
        replica demo --scale 100 --workdir /tmp/bench
    """
    with resolve(project_dir, workdir, master_url, replica_url) as place:
        _where(place)
        _refuse_master(place)
        _on_interrupt(
            "the replica is unchanged (a load is published whole or not at all)"
        )
        with click.progressbar(
            length=1, file=sys.stderr, label="Synthetic master"
        ) as bar:
            state = setup.ensure_master(
                place.master_url,
                seed,
                scale,
                bar.update,
                lambda total: setattr(bar, "length", total),
                time_zone=_schemas(place).time_zone,
            )
        _info(f"synthetic master {state} (seed {seed}, scale {scale})")
        with _writing(place, wait):
            if setup.ensure_application(place.replica_url, place.master_url, seed):
                _info(
                    "replica made the application's database in small: its"
                    " tables, rows, policies, grants, trigger and view (docs/master.md)"
                )
            config = load_config(place.project_dir)
            synced = _sync(place, config, None)
            schemas = _schemas(place, config)
            models = count_rows(place.replica_url, schemas.models, CRM_TABLES)
            own = count_own_rows(
                place.replica_url, schemas.models, schemas.landing, CRM_TABLES
            )
        result, outcome = synced.load, synced.build
        assert result is not None and outcome is not None
        loads = {t.table_name: t for t in result.loads}
        click.echo(
            table(
                ["table", "master", "replica", "application's own", "checksum"],
                [
                    (
                        t,
                        loads[t].master_rows,
                        (models[t] or 0) - own[t],
                        own[t],
                        "match" if loads[t].matches else "DIFFERS",
                    )
                    for t in CRM_TABLES
                ],
            )
        )
        click.echo(f"\ndbt build: {outcome.summary()}")
        click.echo(
            f"run {result.run_id}, master snapshot at "
            f"{result.snapshot_at:%Y-%m-%d %H:%M:%S %Z}"
        )


@cli.command("extract-load", short_help="Load master's tables into master_raw only.")
@place_options()
@load_options
@wait_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def extract_load_command(
    master_url,
    replica_url,
    workdir,
    project_dir,
    table_list,
    all_tables,
    mode,
    jobs,
    config_path,
    wait,
    as_json,
) -> None:
    """Copy master's tables into the replica's master_raw schema, atomically.

    Every table comes from one read-only master snapshot (shared by --jobs
    workers); row counts and checksums are taken on both sides and recorded in
    replica_meta. The tables and their keys, cursors and delete policy come from
    replication.yml (defaults: the CRM's eight tables and four dashboards).

    \b
    Example:
        replica extract-load --tables leads,conversations --json
        replica extract-load --mode incremental
        replica extract-load --all-tables --jobs 4
    """
    with resolve(project_dir, workdir, master_url, replica_url) as place:
        if not as_json:
            _where(place)
        args = _load_args(place, table_list, all_tables, config_path)
        specs = _specs(place, args["config"], args["tables"], args["all_tables"])
        _on_interrupt("nothing was loaded: the landing tables are the previous run's")
        with _writing(place, wait):
            result = _load(place, specs, args["config"], mode=mode, jobs=jobs)
    click.echo(load_json(result) if as_json else load_table(result))
    for note in result.schema_changes:
        _info(f"schema: {note}")


@cli.command(
    context_settings={"ignore_unknown_options": True},
    short_help="Rebuild the models beside the live ones, then publish them.",
)
@place_options("guards")
@wait_option
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def build(master_url, replica_url, workdir, project_dir, wait, dbt_args) -> None:
    """Rebuild the replica's models from its landing tables, and publish them.

    dbt builds beside the live models (schemas _crm_build_*), tests them, and
    what it built replaces the live ones in one transaction; a failed build
    publishes nothing. Arguments after the options go to dbt (--select builds part
    of the project, reading the rest where it is live). Exits 3 when dbt reports
    an error or a failed test.

    \b
    Example:
        replica build
        replica build --select leads+ --fail-fast
    """
    with resolve(
        project_dir, workdir, master_url, replica_url, need_master=False
    ) as place:
        _on_interrupt("nothing was published: the replica is as it was")
        with _writing(place, wait):
            config = load_config(place.project_dir)
            outcome = pipeline.build_models(
                place.replica_url,
                place.project_dir,
                place.workdir,
                schemas=_schemas(place, config),
                config=config,
                extra=dbt_args,
                echo=click.echo,
            )
    _info(f"dbt build: {outcome.summary()}")
    for note in outcome.notes:
        _info(f"note: {note}")


@cli.command(short_help="Load, build and verify beside the replica; publish at once.")
@place_options()
@load_options
@click.option(
    "--keep",
    type=click.IntRange(0),
    default=pipeline.DEFAULT_KEEP,
    show_default=True,
    help="Generations to keep for rollback (the replicas that syncs replaced).",
)
@wait_option
def sync(
    master_url,
    replica_url,
    workdir,
    project_dir,
    table_list,
    all_tables,
    mode,
    jobs,
    config_path,
    keep,
    wait,
) -> None:
    """Bring the replica up to date: load, build, verify, then publish at once.

    The one command a scheduler runs. It loads master's tables and builds every
    model beside the live replica, verifies them against the master snapshot, and
    publishes them in one transaction: the application reads the previous replica
    until then, whatever stops the sync, and the replica it replaces is kept as a
    generation (`replica rollback`). Exit codes: 0 done, 1 error, 3 dbt failed, 4
    verification failed (in every failure nothing was published).

    \b
    Example:
        MASTER_DATABASE_URL=postgresql://reader@db.example.com/postgres \\
        REPLICA_DATABASE_URL=postgresql://localhost/crm replica sync
        replica sync --mode incremental --keep 7
    """
    with resolve(project_dir, workdir, master_url, replica_url) as place:
        _where(place)
        args = _load_args(place, table_list, all_tables, config_path)
        specs = _specs(place, args["config"], args["tables"], args["all_tables"])
        _on_interrupt("nothing was published: the replica is as it was")
        with _writing(place, wait):
            result = _sync(
                place, args["config"], specs, mode=mode, jobs=jobs, keep=keep
            )
    assert result.load is not None and result.build is not None
    for note in result.notes:
        _info(f"note: {note}")
    click.echo(load_table(result.load))
    for note in result.load.schema_changes:
        _info(f"schema: {note}")
    for node in result.build.results:
        if node.status == "warn" and node.detail:
            _info(f"observed: {node.detail}")
    click.echo(f"\ndbt build: {result.build.summary()}")
    click.echo(
        "steps: "
        + ", ".join(
            f"{s.name} {s.seconds:.1f}s"
            + ("" if s.status == "succeeded" else f" ({s.status})")
            for s in result.steps
        )
    )
    for path in result.reports:
        _info(f"report: {path}")


@cli.command("backup", short_help="Write the replica to a pg_dump file.")
@place_options("guards")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (pg_dump's custom format).",
)
@wait_option
def backup_command(master_url, replica_url, workdir, project_dir, out, wait) -> None:
    """Write the replica to a file (pg_dump's custom format).

    Restore it with pg_restore. Rollback needs no backup: every sync keeps the
    replica it replaces as a generation (`replica rollback --list`).

    \b
    Example:
        replica backup --out backups/replica.dump
        pg_restore --no-owner -d postgresql://localhost/crm backups/replica.dump
    """
    with (
        resolve(
            project_dir, workdir, master_url, replica_url, need_master=False
        ) as place,
        _writing(place, wait),
    ):
        path = backup.dump(place.replica_url, out)
    click.echo(f"wrote {path} ({path.stat().st_size:,} bytes)")


@cli.command("rollback", short_help="Publish a kept generation again, atomically.")
@place_options("guards")
@click.option(
    "--to",
    "to_run",
    type=int,
    metavar="RUN",
    help="The run whose generation to restore. Default: the newest.",
)
@click.option("--list", "list_only", is_flag=True, help="List the generations kept.")
@wait_option
def rollback_command(
    master_url, replica_url, workdir, project_dir, to_run, list_only, wait
) -> None:
    """Publish a generation of the replica again, atomically.

    Each sync keeps the replica it replaced as the generation of that run. Rollback
    moves the generation's tables and views back in one transaction (nothing is
    copied; the replaced ones become a generation in turn) and records a run with
    that run's counts and checksums, so that `replica verify --against snapshot`
    proves the restore.

    \b
    Example:
        replica rollback --list
        replica rollback --to 12
    """
    with resolve(
        project_dir, workdir, master_url, replica_url, need_master=False
    ) as place:
        schemas = _schemas(place)
        if list_only:
            with connect_replica(place.replica_url) as conn:
                gens = backup.generations(conn, schemas)
            click.echo(
                table(
                    ["run", "schemas", "relations"],
                    [(g.run_id, f"{g.schema_name}*", len(g.tables)) for g in gens],
                )
            )
            return
        with _writing(place, wait):
            gen = backup.rollback(place.replica_url, schemas, to_run)
    click.echo(
        f"published the generation of run {gen.run_id} again"
        f" ({len(gen.tables)} tables and views)"
    )


@cli.command(short_help="Lint the project's SQL with sqlfluff and the dbt templater.")
@place_options(None)
@click.option("--fix", is_flag=True, help="Rewrite the files to fix what it can.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def lint(replica_url, workdir, project_dir, fix, paths) -> None:
    """Lint the project's SQL with sqlfluff (dbt templater, compiled on the replica).

    Default: the models, the analyses and the SQL tests. Starts the embedded
    replica when no replica URL is given. Exits with sqlfluff's code: 0 clean, 1
    violations.

    \b
    Example:
        replica lint
        replica lint models/dashboards --fix
    """
    with resolve(project_dir, workdir, None, replica_url, need_master=False) as place:
        code = dbt_invoke.lint(
            place.project_dir,
            place.workdir,
            place.replica_url,
            paths or ("models", "analyses", "tests"),
            fix=fix,
        )
    if code:
        raise click.exceptions.Exit(code)


# --- Operate it: analyze, verify, status (logic in crm_replica/analyze, checks,
# status.py; imported in the commands).


@cli.command(
    "analyze", short_help="Compare master with the replica; plan the migration."
)
@place_options()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the three files (created if needed).",
)
@click.option(
    "--conflict-policy",
    type=click.Choice(["master-wins", "local-wins"]),
    default="master-wins",
    show_default=True,
    help="Which side's values a conflicting row keeps, in the migration plan.",
)
def analyze_command(
    master_url, replica_url, workdir, project_dir, out_dir, conflict_policy
) -> None:
    """Compare master's schema and rows with the replica's; plan the migration.

    Reads both catalogs (master read-only) and writes into DIR:
    master-schema-replication.sql (DDL bringing the replica's public schema to
    master's: missing tables, columns, types, keys, indexes, foreign keys),
    schema-comparison-report.md (table by table: columns, types, row counts,
    conflicts) and data-migration-plan.md (ordered steps, conflict policy, risks).
    After a sync, the legacy rows are read from local_archive.

    \b
    Example:
        replica analyze --out migration/
        psql "$REPLICA_DATABASE_URL" -f migration/master-schema-replication.sql
    """

    with resolve(project_dir, workdir, master_url, replica_url) as place:
        _where(place)
        result = analyze.analyze(
            place.master_url,
            place.replica_url,
            policy=conflict_policy,
            application=load_config(place.project_dir).application,
        )
    paths = analyze_report.write(result, out_dir)
    for line in analyze_report.differences(result) or ["the schemas match"]:
        click.echo(f"- {line}")
    for path in paths:
        _info(f"wrote {path}")


@cli.command("verify", short_help="Counts and checksums: the replica against master.")
@place_options()
@click.option(
    "--tables",
    "table_list",
    metavar="A,B",
    help="Comma-separated tables to check. Default: the CRM's eight tables and "
    "master's four dashboards.",
)
@click.option(
    "--against",
    type=click.Choice(["master", "snapshot"]),
    default="master",
    show_default=True,
    help="master: read master now; snapshot: the counts and checksums the last "
    "succeeded run recorded (no master connection).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_command(
    master_url, replica_url, workdir, project_dir, table_list, against, as_json
) -> None:
    """Prove the replica: counts and content checksums against master.

    For each table, in the landing schema (master_raw) and the replica models
    (public): master's count and order-independent checksum against the
    replica's, under identical session settings. Master's dashboard views are
    compared without their volatile id/updated_at/created_at (system metrics by
    count). Exits 0 when all match, 1 when something differs (naming the tables
    and example keys), 2 when the check cannot run.

    \b
    Example:
        replica verify
        replica verify --tables leads,clients --json
    """

    tables = _tables(table_list)
    with (
        verify.aborts_on_error(),
        resolve(
            project_dir,
            workdir,
            master_url,
            replica_url,
            need_master=against == "master",
        ) as place,
    ):
        if not as_json:
            _where(place)
        assert place.replica_url
        schemas = _schemas(place)
        result = verify.verify(
            place.master_url,
            place.replica_url,
            tables,
            against=against,
            landing=schemas.landing,
            models=schemas.models,
            shadow=schemas.shadow,
            time_zone=schemas.time_zone,
        )
    click.echo(verify.to_json(result) if as_json else verify.to_text(result))
    if not result.ok:
        raise ReplicaError(
            verify.summary_line(result)
            + (f"; {verify.nothing_published(result)}" if result.unpublished else "")
        )
    if result.unpublished:
        raise CheckAborted(verify.nothing_published(result))


def _duration(ctx, param, value):

    try:
        return None if value is None else parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command("status", short_help="What master changed since the last sync.")
@place_options()
@click.option(
    "--max-age",
    metavar="AGE",
    callback=_duration,
    help="Exit 1 when the last sync's master snapshot is older than AGE "
    "(24h, 90m, 2d, 1d12h).",
)
@click.option(
    "--checksum",
    "checksums",
    is_flag=True,
    help="Also compare each table's content checksum with the recorded one "
    "(reads every row; sees updates that left updated_at alone).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def status_command(
    master_url, replica_url, workdir, project_dir, max_age, checksums, as_json
) -> None:
    """What changed on master since the last sync, without copying data.

    Per table: rows added, changed and deleted since the last succeeded run's
    snapshot (from created_at/updated_at and row counts), schema changes (master's
    columns against master_raw's), and how old the snapshot is. Exits 1 when the
    replica was never synced or is older than --max-age, 2 when it cannot check.

    \b
    Example:
        replica status
        replica status --max-age 24h --json   # a daily job's alert
    """

    with (
        verify.aborts_on_error(),
        resolve(project_dir, workdir, master_url, replica_url) as place,
    ):
        if not as_json:
            _where(place)
        assert place.master_url and place.replica_url
        result = status.status(
            place.master_url, place.replica_url, checksums=checksums, max_age=max_age
        )
    click.echo(status.to_json(result) if as_json else status.to_text(result))
    if result.run_id is None:
        raise ReplicaError("nothing published yet: the replica was never synced")
    if not result.published:
        raise ReplicaError(
            "nothing published yet: no sync has succeeded on this replica (the"
            f" landing tables are extract-load run {result.run_id}'s)"
        )
    if result.stale:
        assert result.age is not None and max_age is not None
        raise ReplicaError(
            f"the replica is stale: master snapshot {status.format_age(result.age)}"
            f" old, more than {status.format_age(max_age)}"
        )


@cli.command("report", short_help="The sync report of a run (Markdown, JSON, HTML).")
@place_options(None)
@click.option("--run", "run_id", type=click.IntRange(1), help="Default: the last run.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "json", "html"]),
    help="Default: md; with --out, the file's suffix (a directory gets all three).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Write to FILE, or into DIR as report-run-N.md/.json/.html.",
)
def report_command(replica_url, workdir, project_dir, run_id, fmt, out) -> None:
    """The sync report of the last run (or --run N), from the replica's run log.

    Counts, checksums and timings per table, changes since the previous succeeded
    run, conflicts resolved (merge_conflicts), dbt test results, sync steps,
    deleted rows flagged; HTML adds charts of rows per table and sync history
    (one self-contained page). Reads only the replica. Exit 1 when there is no
    run log or no such run.

    \b
    Example:
        replica report
        replica report --run 3 --format html --out reports/
    """

    with resolve(project_dir, workdir, None, replica_url, need_master=False) as place:
        assert place.replica_url
        result = reports.gather(place.replica_url, run_id)
    if out is None:
        click.echo(reports.render(result, fmt or "md"), nl=False)
        return
    for path in reports.write(result, out, fmt):
        _info(f"wrote {path}")


@cli.command("serve", short_help="A read-only web viewer of the replica.")
@place_options(None)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on (only this machine by default).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="The port (0: any free one).",
)
@click.option(
    "--statement-timeout",
    type=click.FloatRange(0.1),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="A page's query that runs (or waits for a lock) longer is cancelled.",
)
@click.option(
    "--pool-size",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Replica sessions the viewer keeps.",
)
@click.option("--quiet", is_flag=True, help="Do not log each request on stderr.")
@click.option(
    "--sql",
    "print_sql",
    is_flag=True,
    help="Print the application's reads as this replica's schema names make them"
    " (what the viewer runs), and exit.",
)
def serve_command(
    replica_url,
    workdir,
    project_dir,
    host,
    port,
    statement_timeout,
    pool_size,
    quiet,
    print_sql,
) -> None:
    """Serve a read-only web viewer of the replica, like `dbt docs serve`.

    Leads (filters, search by name or phone), a lead's details, analytics and
    thread (chat bubbles, older messages by keyset), a conversation turn with its
    WhatsApp message and audit log, message search, and the dashboards as of the
    snapshot. Every page runs the application's reads (analyses/read_*.sql) in
    read-only transactions with a statement timeout; after a sync publishes, the
    next page reads the new replica. Ctrl-C stops it.

    \b
    Example:
        replica serve
        replica serve --port 8000 --replica-url postgresql://localhost/crm
        replica serve --sql > reads.sql
    """
    if print_sql:
        place = Path(project_dir).resolve() if project_dir else find_project_dir()
        reads = viewer.Reads.load(
            place, settings.load(place, load_config(place).landing_schema)
        )
        for name, text in reads.statements.items():
            click.echo(f"-- {name}\n{text}")
        return
    with resolve(project_dir, workdir, None, replica_url, need_master=False) as place:
        assert place.replica_url
        server = viewer.open_server(
            place.replica_url,
            place.project_dir,
            _schemas(place),
            host=host,
            port=port,
            pool_size=pool_size,
            statement_timeout=statement_timeout,
            quiet=quiet,
        )
        click.echo(
            f"serving the replica {describe(place.replica_url, 'replica')}"
            f" on {server.url} (Ctrl-C stops)",
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            _info("stopped")
        finally:
            server.server_close()


def main() -> None:  # pragma: no cover - console script entry
    cli()


if __name__ == "__main__":  # pragma: no cover - `python -m crm_replica.cli`
    cli()
