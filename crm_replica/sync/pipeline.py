"""`replica sync`: write, audit, publish.

Under the run lock, for the whole command:

1. **prepare**: the build area (publish.prepare_build_area): empty, or the oldest
   generation when it would be dropped after this sync anyway;
2. **extract-load**: master's tables into the build area's landing schema, from one
   snapshot (full: fresh tables; incremental: the generation's tables merged up to
   date);
3. **dbt build**: every model into the build area (sources: the build's landing
   tables; ``run_id`` and the schema names as vars);
4. **verify**: the build's landing tables and models against this run's figures,
   taken in the master snapshot;
5. **publish**: one transaction moves the built relations in and the replaced ones
   into a generation, and records the run ``succeeded``; then generations beyond
   ``keep`` are dropped;
6. **report**: Markdown, JSON and HTML under ``WORKDIR/reports/``.

Whatever stops a sync before the publish commits (a failed build or verification,
Ctrl-C, SIGKILL, a killed backend), the application goes on reading the previous
complete replica, and the run is recorded failed (or, killed, abandoned by the
next run). Each step is recorded in ``replica_meta.sync_steps`` and the build's
node results in ``replica_meta.build_results``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from crm_replica import reports
from crm_replica.checks import against_loads
from crm_replica.db import connect_replica, one_line, refuse_same_urls
from crm_replica.errors import DbtFailed, ReplicaError, VerifyFailed
from crm_replica.load import Progress, RunResult, Target, extract_load, runlock
from crm_replica.load import runlog as meta
from crm_replica.settings import BUILD_PREFIX, Config, Schemas, TableSpec, build_schema
from crm_replica.settings import schemas as settings
from crm_replica.sync import dbt as dbt_invoke
from crm_replica.sync import publish

DEFAULT_KEEP = 3


@dataclass
class Step:
    name: str
    status: str
    seconds: float
    detail: str = ""


@dataclass
class SyncResult:
    load: RunResult | None = None
    build: dbt_invoke.DbtOutcome | None = None
    steps: list[Step] = field(default_factory=list)
    #: The run whose generation the build area started from (None: empty).
    base_run: int | None = None
    #: The run the publish replaced (its relations are now its generation).
    replaced_run: int | None = None
    reports: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Tables equal to the build area's generation: nothing built from them ran.
    unchanged: list[str] = field(default_factory=list)
    #: master's columns the sync added to the application's tables
    columns_added: list[str] = field(default_factory=list)


def pause(point: str) -> None:
    """A hook for the fault-injection script (tests/faults/inject.py): with
    CRM_REPLICA_PAUSE set to a step's name (or ``publish-commit``, inside the
    publishing transaction), a sync waits there CRM_REPLICA_PAUSE_SECONDS (3) after
    writing the name into CRM_REPLICA_PAUSE_FILE, so that a fault lands in that
    step. Inert unless set."""
    if os.environ.get("CRM_REPLICA_PAUSE") != point:
        return
    marker = os.environ.get("CRM_REPLICA_PAUSE_FILE")
    if marker:
        Path(marker).write_text(point)
    time.sleep(float(os.environ.get("CRM_REPLICA_PAUSE_SECONDS", "3")))


def _timed(result: SyncResult, name: str, action: Callable[[], object]) -> object:
    started = time.perf_counter()
    pause(name)
    try:
        value = action()
    except BaseException as exc:
        detail = exc.message if isinstance(exc, ReplicaError) else one_line(exc)
        if isinstance(exc, KeyboardInterrupt):
            detail = "interrupted"
        result.steps.append(
            Step(name, "failed", time.perf_counter() - started, one_line(detail))
        )
        raise
    result.steps.append(Step(name, "succeeded", time.perf_counter() - started))
    return value


def live_run(conn: psycopg.Connection, schemas: Schemas) -> int | None:
    """The run whose relations the application reads now: the latest succeeded."""
    return conn.execute(
        f"select max(run_id) from {schemas.meta}.runs where status = 'succeeded'"
    ).fetchone()[0]


#: dbt arguments that select part of the project.
_SELECTING = ("-s", "--select", "-m", "--models", "--exclude", "--selector")


def build_models(
    replica_url: str,
    project_dir: Path,
    workdir: Path,
    *,
    schemas: Schemas,
    config: Config | None = None,
    extra: Sequence[str] = (),
    on_event: Callable[[dict], None] | None = None,
    echo: Callable[[str], None] | None = None,
) -> dbt_invoke.DbtOutcome:
    """`replica build`: dbt builds the models beside the live ones, from the live
    landing tables, and what it built is published in one transaction (those it
    replaces are dropped: generations are a sync's). Models a selection leaves
    out are read where they are live (dbt's --defer, on a manifest of the live
    schemas). A failed build publishes nothing."""
    with runlock.hold(replica_url):
        with connect_replica(replica_url, autocommit=True) as conn:
            meta.ensure_schema(conn)
            with conn.transaction():
                publish.ensure_schema(conn, schemas)
                runlock.drop_build_area(conn)
                live = live_run(conn, schemas)
        args = list(extra)
        config = config or Config()
        runner_vars = {
            **schemas.dbt_vars(),
            "schema_prefix": BUILD_PREFIX,
            **config.application.dbt_vars(),
        }
        if any(a.split("=", 1)[0] in _SELECTING for a in args):
            state = _live_manifest(project_dir, workdir, replica_url, schemas, args)
            args += ["--defer", "--favor-state", "--state", str(state)]
        try:
            outcome = dbt_invoke.build(
                project_dir,
                workdir,
                replica_url,
                args,
                on_event=on_event,
                echo=echo,
                schema=schemas.models,
                runner_vars=runner_vars,
            )
            with connect_replica(replica_url) as conn, conn.transaction():
                outcome.notes += publish.publish(
                    conn,
                    schemas,
                    live or 0,
                    None,
                    partial=True,
                    application=config.application,
                    deletes={t.name: t.deletes for t in config.tables},
                )
                if live is not None:  # its models are no longer all one build's
                    meta.set_fingerprint(conn, live, None)
                runlock.check_held(conn)  # last, just before the commit
        except BaseException:
            with (
                contextlib.suppress(ReplicaError, psycopg.Error),
                connect_replica(replica_url, autocommit=True) as conn,
            ):
                runlock.drop_build_area(conn)
            raise
        return outcome


def _live_manifest(
    project_dir: Path,
    workdir: Path,
    replica_url: str,
    schemas: Schemas,
    args: Sequence[str],
) -> Path:
    """A manifest naming the live schemas, for --defer (dbt parse; the user's
    --vars too, so that it parses as the build will)."""
    state = workdir / "live-state"
    user_vars: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--vars" and i + 1 < len(args):
            user_vars += args[i : i + 2]
        elif arg.startswith("--vars="):
            user_vars.append(arg)
    outcome = dbt_invoke.run_dbt(
        project_dir,
        workdir,
        replica_url,
        ["parse", "--target-path", str(state), *user_vars],
        schema=schemas.models,
        runner_vars={**schemas.dbt_vars(), "schema_prefix": ""},
    )
    if outcome.returncode != 0:
        raise ReplicaError(
            "dbt parse failed: "
            + (outcome.errors[0] if outcome.errors else "see the dbt log")
        )
    return state


def sync(
    master_url: str,
    replica_url: str,
    project_dir: Path,
    workdir: Path,
    *,
    config: Config,
    schemas: Schemas | None = None,
    tables: Sequence[TableSpec] | None = None,
    mode: str = "full",
    jobs: int = 2,
    keep: int = DEFAULT_KEEP,
    progress: Progress | None = None,
    on_event: Callable[[dict], None] | None = None,
) -> SyncResult:
    """Run the whole sync; raises (ReplicaError, DbtFailed, VerifyFailed) at the
    first failure, having published nothing."""
    schemas = schemas or settings.load(project_dir, config.landing_schema)
    refuse_same_urls(master_url, replica_url)
    with runlock.hold(replica_url):
        return _Sync(
            master_url,
            replica_url,
            project_dir,
            workdir,
            config,
            schemas,
            keep,
        ).run(tables, mode, jobs, progress, on_event)


@dataclass
class _Sync:
    master_url: str
    replica_url: str
    project_dir: Path
    workdir: Path
    config: Config
    schemas: Schemas
    keep: int
    result: SyncResult = field(default_factory=SyncResult)

    def run(
        self,
        tables: Sequence[TableSpec] | None,
        mode: str,
        jobs: int,
        progress: Progress | None,
        on_event: Callable[[dict], None] | None,
    ) -> SyncResult:
        result = self.result
        base = _timed(result, "prepare", self._prepare)
        result.base_run = base
        if base is None:
            result.steps[-1].detail = "an empty build area"
            if mode == "incremental":
                result.notes.append(
                    "no generation to build on: every table was loaded whole"
                )
        else:
            result.steps[-1].detail = f"on the generation of run {base}"
        try:
            result.load = _timed(
                result,
                "extract-load",
                lambda: extract_load(
                    self.master_url,
                    self.replica_url,
                    tables,
                    config=self.config,
                    jobs=jobs,
                    mode=mode,
                    progress=progress,
                    target=Target(
                        build_schema(self.schemas.landing),
                        self.schemas.landing,
                        publish=False,
                        since_run=base,
                        time_zone=self.schemas.time_zone,
                    ),
                ),
            )
        except BaseException:
            self._abandon_build()
            raise  # extract-load recorded its run failed
        run_id = result.load.run_id
        try:
            self._build(run_id, on_event)
            self._verify(run_id)
            _timed(result, "publish", lambda: self._publish(run_id))
        except BaseException as exc:
            self._fail(run_id, exc)
            raise
        finally:
            self._record(run_id)
        with contextlib.suppress(ReplicaError, psycopg.Error):
            _timed(result, "prune", self._prune)
        with contextlib.suppress(ReplicaError, psycopg.Error):
            self._report(run_id)
        return result

    def _prepare(self) -> int | None:
        with connect_replica(self.replica_url, autocommit=True) as conn:
            meta.ensure_schema(conn)
            with conn.transaction():
                publish.ensure_schema(conn, self.schemas)
                return publish.prepare_build_area(conn, self.schemas, self.keep)

    def _selection(self, run_id: int) -> list[str]:
        """What dbt must build: everything, unless the build area holds a
        generation built by this same project (settings.fingerprint); then only
        what descends from a landing table whose content differs from that
        generation's, and what every run rebuilds (tag every_run: the models that
        count from the snapshot time). The rest is in the build area already,
        built from the same inputs by the same code. Without the unit tests: they
        test the code, which the generation's own build tested (a changed project
        has another fingerprint and builds, unit tests included, in full)."""
        fingerprint = settings.fingerprint(self.project_dir)
        base = self.result.base_run
        assert self.result.load is not None
        with connect_replica(self.replica_url, autocommit=True) as conn:
            meta.set_fingerprint(conn, run_id, fingerprint)
            if base is None or meta.fingerprint_of(conn, base) != fingerprint:
                return []
            before = meta.loads_of(conn, base)
        changed = []
        for load in self.result.load.loads:
            if load.changed_rows is not None:
                differs = load.changed_rows > 0
            else:
                old = before.get(load.table_name)
                differs = (
                    old is None
                    or load.master_checksum is None
                    or (old.master_rows, old.master_checksum)
                    != (load.master_rows, load.master_checksum)
                )
            if differs:
                changed.append(load.table_name)
        self.result.unchanged = [
            t.table_name for t in self.result.load.loads if t.table_name not in changed
        ]
        return [
            "--select",
            " ".join([*(f"source:master.{t}+" for t in changed), "tag:every_run+"]),
            "--exclude-resource-type",
            "unit_test",
        ]

    def _build(self, run_id: int, on_event) -> None:
        selection = self._selection(run_id)
        runner_vars = {
            **self.schemas.dbt_vars(),
            "landing_schema": build_schema(self.schemas.landing),
            "schema_prefix": BUILD_PREFIX,
            **self.config.application.dbt_vars(),
        }
        try:
            self.result.build = _timed(
                self.result,
                "dbt build",
                lambda: dbt_invoke.build(
                    self.project_dir,
                    self.workdir,
                    self.replica_url,
                    selection,
                    on_event=on_event,
                    schema=self.schemas.models,
                    runner_vars=runner_vars,
                    run_id=run_id,
                ),
            )
        except DbtFailed as exc:
            if exc.outcome is not None:
                self.result.build = exc.outcome
            raise
        # After the build, which archived the application's tables as they were
        # (its first one): master's columns they lack, each table in a short
        # transaction of its own, before the publish writes master's rows.
        with connect_replica(self.replica_url, autocommit=True) as conn:
            self.result.columns_added = publish.add_master_columns(
                conn, self.schemas, self.config.application
            )

    def _verify(self, run_id: int) -> None:
        assert self.result.load is not None
        loads = {t.table_name: t for t in self.result.load.loads}

        def check():
            with connect_replica(self.replica_url) as conn:
                return against_loads(
                    conn,
                    list(loads),
                    loads,
                    build_schema(self.schemas.landing),
                    build_schema(self.schemas.models),
                    run_id,
                    landing_measured=True,
                )

        checked = _timed(self.result, "verify", check)
        if not checked.ok:
            bad = ", ".join(f"{c.layer}.{c.table}" for c in checked.failures[:5])
            self.result.steps[-1].status = "failed"
            self.result.steps[-1].detail = bad
            raise VerifyFailed(
                f"the build does not match run {run_id}'s snapshot: {bad}"
            )

    def _publish(self, run_id: int) -> None:
        assert self.result.load is not None
        started = time.perf_counter()
        with connect_replica(self.replica_url) as conn, conn.transaction():
            replaced = live_run(conn, self.schemas)
            notes = self.result.columns_added + publish.publish(
                conn,
                self.schemas,
                run_id,
                replaced,
                application=self.config.application,
                deletes={t.name: t.deletes for t in self.config.tables},
            )
            said = self.result.build.notes if self.result.build else []
            self.result.notes += said + notes
            meta.succeed(conn, run_id, notes + [f"models: {n}" for n in said])
            # The steps so far and the publish, in the publishing transaction: the
            # run log says this run published (meta.last_published) exactly when
            # it did, whatever stops the sync after the commit.
            self._write_steps(
                conn,
                run_id,
                [
                    *self.result.steps,
                    Step("publish", "succeeded", time.perf_counter() - started),
                ],
            )
            pause("publish-commit")
            runlock.check_held(conn)  # last, just before the commit
        self.result.replaced_run = replaced

    def _prune(self) -> None:
        """Drop the generations beyond --keep (after the publish: not in its
        transaction, and a failure here loses nothing)."""
        with connect_replica(self.replica_url, autocommit=True) as conn:
            dropped = publish.prune(conn, self.schemas, self.keep)
        if dropped:
            self.result.steps[-1].detail = "dropped the generation of run " + ", ".join(
                map(str, dropped)
            )

    def _fail(self, run_id: int, exc: BaseException) -> None:
        """Record the run failed; the build area goes (nothing was published)."""
        if isinstance(exc, ReplicaError):
            exc.message += "; nothing was published: " + self._what_is_live()
            message = exc.message
        elif isinstance(exc, KeyboardInterrupt):
            message = "interrupted"
        else:
            message = one_line(exc)
        with (
            contextlib.suppress(ReplicaError, psycopg.Error),
            connect_replica(self.replica_url, autocommit=True) as conn,
        ):
            meta.fail_run(conn, run_id, message)
        self._abandon_build()

    def _what_is_live(self) -> str:
        """What the application reads, after a run that published nothing."""
        with (
            contextlib.suppress(ReplicaError, psycopg.Error),
            connect_replica(self.replica_url, autocommit=True) as conn,
        ):
            live = meta.last_published(conn)
            if live is None:
                return "the replica has never been published (no sync has succeeded)"
            return f"the replica still holds run {live}"
        return "the replica still holds what it held before"

    def _abandon_build(self) -> None:
        with (
            contextlib.suppress(ReplicaError, psycopg.Error),
            connect_replica(self.replica_url, autocommit=True) as conn,
            conn.transaction(),
        ):
            runlock.drop_build_area(conn)

    def _report(self, run_id: int) -> None:
        """Write the run's report (Markdown, JSON, HTML) under WORKDIR/reports/."""

        def write():
            return reports.write(
                reports.gather(self.replica_url, run_id), self.workdir / "reports", None
            )

        with contextlib.suppress(ReplicaError, psycopg.Error, OSError):
            self.result.reports = _timed(self.result, "report", write)
        self._record(run_id)

    def _record(self, run_id: int) -> None:
        """Write the steps and the build's results into the run log."""
        result = self.result
        try:
            with connect_replica(self.replica_url) as conn, conn.transaction():
                self._write_steps(conn, run_id, result.steps)
                if result.build is not None:
                    nodes = [
                        (run_id, n.unique_id, n.status, n.message or None, n.seconds)
                        for n in result.build.results
                    ]
                    conn.cursor().executemany(
                        f"insert into {self.schemas.meta}.build_results"
                        " values (%s, %s, %s, %s, %s) on conflict do nothing",
                        nodes,
                    )
        except (ReplicaError, psycopg.Error):
            pass  # the log is a record, not a step: a sync does not fail on it

    def _write_steps(
        self, conn: psycopg.Connection, run_id: int, steps: Sequence[Step]
    ) -> None:
        """Record ``steps`` (those recorded already stay as they were)."""
        conn.cursor().executemany(
            f"insert into {self.schemas.meta}.sync_steps"
            " values (%s, %s, %s, %s, %s) on conflict do nothing",
            [(run_id, s.name, s.status, s.seconds, s.detail or None) for s in steps],
        )
