"""`replica sync`: guard → backup → extract-load → dbt build → verify → report.

The guard runs inside extract-load (read-only master, replica is not master). Before
anything changes, the last succeeded run's state is kept as a generation. A failed
load changes nothing (it is atomic); a failed build or verification restores that
generation, so the replica is left as it was. Each step is recorded in
``replica_meta.sync_steps`` and the build's node results in
``replica_meta.build_results``; the run's report (Markdown, JSON, HTML) is written
under ``WORKDIR/reports/``, whether the sync succeeded or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from runner import backup, dbt_invoke, meta, runlock
from runner.config import Config, TableSpec
from runner.db import connect_replica, redact
from runner.errors import DbtFailed, ReplicaError, VerifyFailed
from runner.extract_load import Progress, RunResult, extract_load
from runner.guard import refuse_same_urls


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
    generation: backup.Generation | None = None
    rolled_back_to: int | None = None
    reports: list[Path] = field(default_factory=list)


def _timed(result: SyncResult, name: str, action: Callable[[], object]) -> object:
    started = time.perf_counter()
    try:
        value = action()
    except BaseException as exc:
        detail = exc.message if isinstance(exc, ReplicaError) else redact(str(exc))
        result.steps.append(
            Step(
                name,
                "failed",
                time.perf_counter() - started,
                detail.splitlines()[0] if detail else "",
            )
        )
        raise
    result.steps.append(Step(name, "succeeded", time.perf_counter() - started))
    return value


def sync(
    master_url: str,
    replica_url: str,
    project_dir: Path,
    workdir: Path,
    *,
    config: Config,
    tables: Sequence[TableSpec] | None = None,
    mode: str = "full",
    jobs: int = 2,
    keep: int = backup.DEFAULT_KEEP,
    do_backup: bool = True,
    progress: Progress | None = None,
    on_event: Callable[[dict], None] | None = None,
) -> SyncResult:
    """Run the whole sync; raises (ReplicaError, DbtFailed, VerifyFailed) at the
    first failure, after restoring the generation when the replica had changed."""
    refuse_same_urls(master_url, replica_url)
    with runlock.hold(replica_url):
        return _sync(
            master_url,
            replica_url,
            project_dir,
            workdir,
            config=config,
            tables=tables,
            mode=mode,
            jobs=jobs,
            keep=keep,
            do_backup=do_backup,
            progress=progress,
            on_event=on_event,
        )


def _sync(
    master_url: str,
    replica_url: str,
    project_dir: Path,
    workdir: Path,
    *,
    config: Config,
    tables: Sequence[TableSpec] | None,
    mode: str,
    jobs: int,
    keep: int,
    do_backup: bool,
    progress: Progress | None,
    on_event: Callable[[dict], None] | None,
) -> SyncResult:
    from runner.verify import verify

    result = SyncResult()
    if do_backup:
        result.generation = _timed(
            result,
            "backup",
            lambda: backup.take(
                replica_url, workdir, keep=keep, landing=config.landing_schema
            ),
        )
        if result.generation is None:
            result.steps[-1].status = "skipped"
            result.steps[-1].detail = "no succeeded run to keep yet"
    try:
        result.load = _timed(
            result,
            "extract-load",
            lambda: extract_load(
                master_url,
                replica_url,
                tables,
                config=config,
                jobs=jobs,
                mode=mode,
                progress=progress,
            ),
        )
    except BaseException:
        _record(replica_url, result, None)  # nothing changed: the load is atomic
        raise
    run_id = result.load.run_id
    try:
        result.build = _timed(
            result,
            "dbt build",
            lambda: dbt_invoke.build(
                project_dir, workdir, replica_url, on_event=on_event
            ),
        )
        names = [t.table_name for t in result.load.loads]
        check = _timed(
            result,
            "verify",
            lambda: verify(None, replica_url, names, against="snapshot"),
        )
        if not check.ok:
            bad = ", ".join(f"{c.layer}.{c.table}" for c in check.failures[:5])
            result.steps[-1].status = "failed"
            result.steps[-1].detail = bad
            raise VerifyFailed(
                f"the replica does not match run {run_id}'s snapshot: {bad}"
            )
    except (DbtFailed, VerifyFailed) as exc:
        if isinstance(exc, DbtFailed) and exc.outcome is not None:
            result.build = exc.outcome
        _restore(replica_url, result, run_id, exc)
        raise
    finally:
        _record(replica_url, result, run_id)
        _report(replica_url, workdir, run_id, result)
    return result


def _report(replica_url: str, workdir: Path, run_id: int, result: SyncResult) -> None:
    """Write the run's report (Markdown, JSON, HTML) under WORKDIR/reports/."""
    from runner import report

    started = time.perf_counter()
    try:
        result.reports = report.write(
            report.gather(replica_url, run_id), workdir / "reports", None
        )
    except (ReplicaError, psycopg.Error, OSError) as exc:
        detail = exc.message if isinstance(exc, ReplicaError) else redact(str(exc))
        result.steps.append(
            Step(
                "report",
                "failed",
                time.perf_counter() - started,
                detail.splitlines()[0] if detail else "",
            )
        )
    else:
        result.steps.append(Step("report", "succeeded", time.perf_counter() - started))
    _record(replica_url, result, run_id)


def _restore(
    replica_url: str, result: SyncResult, run_id: int, exc: ReplicaError
) -> None:
    """Mark the run failed and bring back the generation kept before it."""
    with connect_replica(replica_url, autocommit=True) as conn:
        meta.fail_run(conn, run_id, exc.message)
    if result.generation is None:
        exc.message += (
            " (no earlier generation to restore: the replica keeps this load)"
        )
        return
    gen = _timed(
        result,
        "rollback",
        lambda: backup.rollback(replica_url, result.generation.run_id),
    )
    result.rolled_back_to = gen.run_id
    exc.message += f"; the replica was restored to run {gen.run_id}"


def _record(replica_url: str, result: SyncResult, run_id: int | None) -> None:
    """Write the steps and the build's results into the run log."""
    if run_id is None:
        return
    try:
        with connect_replica(replica_url) as conn, conn.transaction():
            conn.cursor().executemany(
                "insert into replica_meta.sync_steps values (%s, %s, %s, %s, %s)"
                " on conflict do nothing",
                [
                    (run_id, s.name, s.status, s.seconds, s.detail or None)
                    for s in result.steps
                ],
            )
            if result.build is not None:
                conn.cursor().executemany(
                    "insert into replica_meta.build_results values (%s, %s, %s, %s, %s)"
                    " on conflict do nothing",
                    [
                        (run_id, r.unique_id, r.status, r.message or None, r.seconds)
                        for r in result.build.results
                    ],
                )
    except psycopg.Error:
        pass  # the log is a record, not a step: a sync does not fail on it
