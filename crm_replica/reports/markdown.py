"""A report as Markdown and as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

from crm_replica.format import duration, md_escape, signed, size, when
from crm_replica.load import META_SCHEMA
from crm_replica.reports.gather import Report
from crm_replica.reports.text import durations, headline, published


def _md_cell(value: object) -> str:
    return "" if value is None else md_escape(str(value))


def _md_table(headers: list[str], rows: list[list[object]], right: set[int]) -> str:
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(report: Report) -> str:
    run = report.run
    out = [f"# Sync report: run {run.run_id}", "", f"**{headline(report)}**", ""]
    facts = [
        ("mode", run.mode),
        ("status", run.status),
        ("published", published(report)),
        ("master", f"`{run.master}`"),
        ("snapshot", when(run.snapshot_at)),
        ("started", when(run.started_at)),
        ("finished", when(run.finished_at)),
        *durations(report),
    ]
    if run.error:
        facts.append(("error", run.error))
    out += [_md_table(["", ""], [list(f) for f in facts], set()), ""]

    out += ["## Tables", ""]
    if report.tables:
        rows = [
            [
                t.table,
                f"{t.master_rows:,}",
                f"{t.replica_rows:,}",
                t.master_checksum or "-",
                t.replica_checksum or "-",
                t.match,
                size(t.bytes),
                f"{t.seconds:.2f}",
            ]
            for t in report.tables
        ]
        headers = ["table", "master rows", "replica rows", "master checksum"]
        headers += ["replica checksum", "match", "bytes", "seconds"]
        out += [_md_table(headers, rows, {1, 2, 6, 7}), ""]
    else:
        out += ["No table was loaded by this run.", ""]

    out += ["## Changes since the previous sync", "", *_md_changes(report), ""]
    out += ["## Conflicts resolved", "", *_md_conflicts(report), ""]
    out += ["## dbt tests", "", *_md_build(report), ""]
    if report.steps:
        rows = [
            [s.step, s.status, f"{s.seconds:.2f}", s.detail or ""] for s in report.steps
        ]
        out += ["## Sync steps", ""]
        out += [_md_table(["step", "status", "seconds", "detail"], rows, {2}), ""]
    out += ["## Deleted rows flagged", ""]
    if report.deleted:
        rows = [[t, f"{n:,}"] for t, n in report.deleted.items()]
        out += [_md_table(["table", "rows"], rows, {1}), ""]
    else:
        out += ["None flagged by this run.", ""]
    out += [
        "## Sync history",
        "",
        "Duration: the sync's steps where recorded, else the load's.",
        "",
    ]
    rows = [
        [h.run_id, h.mode, h.status, when(h.started_at), duration(h.seconds)]
        for h in report.history
    ]
    out += [_md_table(["run", "mode", "status", "started", "duration"], rows, {0, 4})]
    out += ["", f"_Generated {when(report.generated_at)} from `{META_SCHEMA}`._", ""]
    return "\n".join(out)


def _md_changes(report: Report) -> list[str]:
    out = []
    if report.previous_run_id is None:
        out.append("No previous succeeded run to compare with.")
    elif not report.tables:
        out.append("This run loaded no table.")
    else:
        out.append(f"Compared with run {report.previous_run_id} (master rows).")
        out.append("")
        rows = [
            [c.table, f"{c.previous_rows:,}", f"{c.rows:,}", signed(c.delta)]
            for c in report.changes
        ]
        headers = ["table", f"run {report.previous_run_id}", "this run", "change"]
        out.append(_md_table(headers, rows, {1, 2, 3}))
        out.append("")
        out.append("- tables added: " + (", ".join(report.tables_added) or "none"))
        out.append(
            "- tables not loaded this time: "
            + (", ".join(report.tables_removed) or "none")
        )
    changes = report.run.schema_changes
    out.append("- schema changes:" + ("" if changes else " none"))
    out += [f"  - {c}" for c in changes]
    return out


def _md_conflicts(report: Report) -> list[str]:
    if report.conflicts is None:
        return ["`merge_conflicts` is not built in this replica (run `replica build`)."]
    if not report.conflicts:
        return [f"None (`{report.conflicts_relation}` is empty)."]
    rows = [
        [c.table, c.id, c.column, c.local_value, c.master_value, c.resolution]
        for c in report.conflicts
    ]
    headers = ["table", "id", "column", "local value", "master value", "resolution"]
    return [
        f"{len(report.conflicts)} differing columns in `{report.conflicts_relation}`"
        " (as of the latest dbt build):",
        "",
        _md_table(headers, rows, set()),
    ]


def _md_build(report: Report) -> list[str]:
    if not report.build:
        return ["No build recorded for this run."]
    counts = ", ".join(f"{s} {n}" for s, n in report.build_counts.items())
    out = [f"{len(report.build)} nodes: {counts}."]
    failures = report.build_failures
    if failures:
        rows = [
            [n.unique_id, n.status, n.message or "", _seconds(n.seconds)]
            for n in failures
        ]
        out += ["", _md_table(["node", "status", "message", "seconds"], rows, {3})]
    return out


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def to_dict(report: Report) -> dict:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat()

    run = report.run
    return {
        "run": {
            **asdict(run),
            "snapshot_at": iso(run.snapshot_at),
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
            "seconds": run.seconds,
            "published": report.published,
            "published_before": report.published_before,
        },
        "published": published(report),
        "headline": headline(report),
        "tables": [{**asdict(t), "match": t.match} for t in report.tables],
        "changes": {
            "previous_run_id": report.previous_run_id,
            "tables": [{**asdict(c), "delta": c.delta} for c in report.changes],
            "tables_added": report.tables_added,
            "tables_removed": report.tables_removed,
            "schema_changes": run.schema_changes,
        },
        "conflicts": {
            "relation": report.conflicts_relation,
            "built": report.conflicts is not None,
            "rows": [asdict(c) for c in report.conflicts or []],
        },
        "build": {
            "recorded": bool(report.build),
            "counts": report.build_counts,
            "failures": [asdict(n) for n in report.build_failures],
            "nodes": [asdict(n) for n in report.build],
        },
        "sync_steps": [asdict(s) for s in report.steps],
        "deleted_rows": report.deleted,
        "history": [
            {**asdict(h), "started_at": iso(h.started_at)} for h in report.history
        ],
        "generated_at": iso(report.generated_at),
    }


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False)
