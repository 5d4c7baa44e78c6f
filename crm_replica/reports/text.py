"""How a report writes times, durations, sizes and its headline: shared by the
Markdown, JSON and HTML renderings."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_replica.reports.gather import Report


def when(value: datetime | None) -> str:
    return "-" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def size(nbytes: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:,} {unit}" if unit == "B" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1000
    raise AssertionError  # pragma: no cover


def signed(value: int) -> str:
    return f"{value:+,}" if value else "0"


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


def headline(report: Report) -> str:
    """One sentence: how the run went."""
    run = report.run
    if run.status != "succeeded":
        return f"Run {run.run_id} {run.status}" + (
            f": {run.error}" if run.error else ""
        )
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
