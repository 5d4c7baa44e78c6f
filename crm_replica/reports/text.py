"""A report's headline and durations: shared by the Markdown, JSON and HTML
renderings (times, sizes and counts are written by crm_replica.format)."""

from __future__ import annotations

from crm_replica.format import duration
from crm_replica.reports.gather import Report


def durations(report: Report) -> list[tuple[str, str]]:
    """The load's duration (runs.started_at to finished_at) and, for a sync that
    recorded its steps, the whole sync's (their sum: backup, load, build, …)."""
    load = (
        "load duration" if report.steps else "duration",
        duration(report.run.seconds),
    )
    if not report.steps:
        return [load]
    return [("sync duration", duration(sum(s.seconds for s in report.steps))), load]


def _kept(report: Report) -> str:
    """What the replica held while a run that published nothing ran."""
    if report.published_before is None:
        return "the replica had never been published"
    return f"the replica kept run {report.published_before}"


def published(report: Report) -> str:
    """What the run published: the replica's models, landing tables only (an
    extract-load), or nothing (a failed run)."""
    run = report.run
    if report.published:
        return "yes: the replica's models"
    if run.status == "running":
        return "not yet"
    if run.status == "succeeded":
        note = "" if report.published_before else "; no sync had published yet"
        return f"landing tables only (an extract-load){note}"
    return f"nothing: {_kept(report)}"


def headline(report: Report) -> str:
    """One sentence: how the run went."""
    run = report.run
    if run.status != "succeeded":
        line = f"Run {run.run_id} {run.status}" + (
            f": {run.error}" if run.error else ""
        )
        if run.status == "running" or "nothing was published" in (run.error or ""):
            return line
        return f"{line}; it published nothing ({_kept(report)})"
    parts = [f"{len(report.tables)} tables loaded"]
    bad = report.mismatches
    parts.append(f"{len(bad)} differ ({', '.join(bad)})" if bad else "all match")
    if report.build:
        warned = sum(1 for n in report.build_failures if n.status == "warn")
        failed = len(report.build_failures) - warned
        if failed:
            parts.append(f"dbt: {failed} of {len(report.build)} nodes failed")
        else:
            parts.append(f"dbt: {len(report.build)} nodes passed")
        if warned:
            parts.append(f"{warned} with a warning")
    return f"Run {run.run_id} succeeded: " + ", ".join(parts)
