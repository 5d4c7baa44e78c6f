"""Sync reports: gathered from the replica's run log, rendered as Markdown, JSON or
one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from crm_replica.reports.gather import Report, gather
from crm_replica.reports.html import to_html
from crm_replica.reports.markdown import to_json, to_markdown

__all__ = ["Report", "gather", "render", "write"]

FORMATS = {"md": ".md", "json": ".json", "html": ".html"}


def render(report: Report, fmt: str) -> str:
    if fmt == "md":
        return to_markdown(report)
    if fmt == "json":
        return to_json(report) + "\n"
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"unknown format {fmt!r}")


def output_paths(out: Path, fmt: str | None, run_id: int) -> dict[str, Path]:
    """Where ``--out`` puts each format: a directory (an existing one, or a name
    without a suffix) gets report-run-N.<ext> for ``fmt`` or all three; a file
    takes ``fmt``, else the format its suffix names, else Markdown."""
    if out.is_dir() or not out.suffix:
        formats = [fmt] if fmt else list(FORMATS)
        return {f: out / f"report-run-{run_id}{FORMATS[f]}" for f in formats}
    by_suffix = {ext: f for f, ext in FORMATS.items()} | {".htm": "html"}
    return {fmt or by_suffix.get(out.suffix.lower(), "md"): out}


def write(report: Report, out: Path, fmt: str | None) -> list[Path]:
    paths = output_paths(out, fmt, report.run.run_id)
    for f, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(report, f), encoding="utf-8")
    return list(paths.values())
