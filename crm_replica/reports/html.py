"""The sync report as one self-contained HTML page: inline CSS, inline SVG charts,
no script and no external asset, so it opens the same from a mail attachment."""

from __future__ import annotations

import math
from html import escape

from crm_replica.reports.gather import Report
from crm_replica.reports.text import (
    duration,
    durations,
    headline,
    signed,
    size,
    when,
)

COLOURS = {"succeeded": "#2f9e62", "failed": "#d64545", "running": "#9aa5b1"}
BAR = "#3b6fd8"

CSS = """
:root { --ink: #1d2433; --muted: #5d6779; --line: #e3e7ee; --bg: #f5f7fb;
  --ok: #2f9e62; --bad: #d64545; --warn: #c98a12; --accent: #3b6fd8; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
  sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 28px 24px 48px; }
header { display: flex; align-items: center; gap: 14px; flex-wrap: wrap; }
h1 { font-size: 26px; margin: 0; letter-spacing: -0.01em; }
h2 { font-size: 18px; margin: 0 0 12px; }
.badge { display: inline-block; padding: 3px 12px; border-radius: 999px;
  font-weight: 600; font-size: 13px; color: #fff; text-transform: uppercase;
  letter-spacing: 0.04em; }
.succeeded, .match { background: var(--ok); }
.failed, .DIFFERS, .fail, .error { background: var(--bad); }
.running, .not-taken, .skipped { background: #9aa5b1; }
.warn { background: var(--warn); }
.headline { margin: 8px 0 20px; color: var(--muted); font-size: 16px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 20px; margin: 0 0 18px; box-shadow: 0 1px 2px rgba(16,24,40,.04); }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr));
  gap: 12px; }
.fact { background: var(--bg); border-radius: 8px; padding: 10px 12px; }
.fact b { display: block; font-size: 12px; color: var(--muted); font-weight: 600;
  text-transform: uppercase; letter-spacing: 0.05em; }
.fact span { font-size: 15px; overflow-wrap: anywhere; }
.error-box { margin-top: 12px; padding: 10px 14px; border-radius: 8px;
  background: #fdecec; color: #8a1f1f; border: 1px solid #f3c2c2; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th { text-align: left; color: var(--muted); font-weight: 600; font-size: 12px;
  text-transform: uppercase; letter-spacing: 0.04em; border-bottom: 2px solid
  var(--line); padding: 6px 8px; }
td { border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
tr.group th { border-bottom: 0; padding-bottom: 0; color: var(--ink); }
tr:nth-child(even) td { background: #fafbfd; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.num { text-align: right; }
.sum { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 11.5px;
  color: var(--muted); }
.badge, .num, .sum { white-space: nowrap; }
.wide { overflow-x: auto; }
td .badge { font-size: 11px; padding: 1px 8px; }
.up { color: var(--ok); font-weight: 600; }
.down { color: var(--bad); font-weight: 600; }
.note { color: var(--muted); margin: 8px 0 0; }
.chips { display: flex; gap: 8px; flex-wrap: wrap; margin-bottom: 10px; }
.chip { border-radius: 6px; padding: 4px 10px; background: var(--bg);
  font-weight: 600; }
svg text { font: 12px system-ui, "DejaVu Sans", sans-serif; fill: var(--ink); }
svg .axis { fill: var(--muted); font-size: 11px; }
details summary { cursor: pointer; color: var(--accent); margin-top: 10px; }
footer { color: var(--muted); font-size: 13px; text-align: center; }
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _badge(text: str) -> str:
    return f'<span class="badge {_e(text.replace(" ", "-"))}">{_e(text)}</span>'


def _table(
    headers: list[str], rows: list[list[str]], right: set[int], above: str = ""
) -> str:
    """``rows`` hold HTML already escaped; ``above``, a header row over the
    column names."""
    head = above + "<tr>"
    head += "".join(
        f'<th class="num">{_e(h)}</th>' if i in right else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{v}</td>' if i in right else f"<td>{v}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead>{head}</tr></thead><tbody>{body}</tbody></table>"


def rows_chart(report: Report) -> str:
    """Horizontal bars: replica rows per table."""
    tables = report.tables
    if not tables:
        return '<p class="note">No table loaded: nothing to chart.</p>'
    label_w, bar_w, row_h, top = 230, 660, 26, 8
    width = label_w + bar_w + 90
    height = top * 2 + row_h * len(tables)
    biggest = max(t.replica_rows for t in tables) or 1
    parts = [
        f'<svg role="img" aria-label="Rows per table" viewBox="0 0 {width} {height}"'
        f' width="100%" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, t in enumerate(tables):
        y = top + i * row_h
        w = max(2.0, bar_w * t.replica_rows / biggest) if t.replica_rows else 0
        colour = COLOURS["failed"] if t.match == "DIFFERS" else BAR
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{_e(t.table)}'
            f"</text>"
            f'<rect x="{label_w}" y="{y + 5}" width="{w:.1f}" height="{row_h - 10}"'
            f' rx="3" fill="{colour}"><title>{_e(t.table)}: {t.replica_rows:,}'
            f" rows</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 17}">{t.replica_rows:,}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _tick(top: float) -> float:
    """A round axis step (1, 2 or 5 times a power of ten) giving 3 to 6 ticks."""
    step = 10.0 ** math.floor(math.log10(top / 4)) if top > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if top / (step * factor) <= 6:
            return step * factor
    return step * 10  # pragma: no cover


def history_chart(report: Report) -> str:
    """Vertical bars: each run's duration, coloured by its status."""
    runs = report.history
    left, top, plot_w, plot_h, bottom = 56, 12, 920, 180, 36
    width, height = left + plot_w + 12, top + plot_h + bottom
    tick = _tick(max((h.seconds or 0 for h in runs), default=0))
    ticks = int(-(-max((h.seconds or 0 for h in runs), default=0) // tick)) or 1
    longest = tick * ticks
    step = plot_w / max(len(runs), 1)
    bar = min(36.0, step * 0.7)
    parts = [
        f'<svg role="img" aria-label="Sync history" viewBox="0 0 {width} {height}"'
        f' width="100%" xmlns="http://www.w3.org/2000/svg">'
    ]
    for k in range(ticks + 1):
        value = tick * k
        y = top + plot_h - plot_h * k / ticks
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"'
            f' stroke="#e3e7ee"/><text class="axis" x="{left - 6}" y="{y + 4:.1f}"'
            f' text-anchor="end">{_e(duration(value) if k else "0")}</text>'
        )
    every = max(1, len(runs) // 15)
    for i, h in enumerate(runs):
        x = left + i * step + (step - bar) / 2
        seconds = h.seconds or 0
        bar_h = max(2.0, plot_h * seconds / longest)
        y = top + plot_h - bar_h
        colour = COLOURS.get(h.status, COLOURS["running"])
        outline = (
            ' stroke="#1d2433" stroke-width="2"'
            if h.run_id == report.run.run_id
            else ""
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{bar_h:.1f}"'
            f' rx="2" fill="{colour}"{outline}><title>run {h.run_id} ({_e(h.mode)}):'
            f" {_e(h.status)}, {_e(duration(h.seconds))}</title></rect>"
        )
        if i % every == 0 or h.run_id == report.run.run_id:
            parts.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{top + plot_h + 16}"'
                f' text-anchor="middle">{h.run_id}</text>'
            )
    parts.append(
        f'<text class="axis" x="{left + plot_w / 2}" y="{height - 4}"'
        ' text-anchor="middle">run</text></svg>'
    )
    legend = " ".join(
        f'<span class="chip"><svg width="10" height="10"><rect width="10" height="10"'
        f' rx="2" fill="{c}"/></svg> {s}</span>'
        for s, c in COLOURS.items()
    )
    return "".join(parts) + f'<div class="chips">{legend}</div>'


def _facts(report: Report) -> str:
    run = report.run
    facts = [
        ("mode", run.mode),
        ("master", run.master),
        ("snapshot", when(run.snapshot_at)),
        ("started", when(run.started_at)),
        ("finished", when(run.finished_at)),
        *durations(report),
    ]
    cards = "".join(
        f'<div class="fact"><b>{_e(k)}</b><span>{_e(v)}</span></div>' for k, v in facts
    )
    error = f'<div class="error-box"><b>Error:</b> {_e(run.error)}</div>'
    return f'<div class="facts">{cards}</div>' + (error if run.error else "")


def _tables(report: Report) -> str:
    if not report.tables:
        return '<p class="note">No table was loaded by this run.</p>'
    rows = [
        [
            f"<b>{_e(t.table)}</b>",
            f"{t.master_rows:,}",
            f"{t.replica_rows:,}",
            f'<span class="sum">{_e(t.master_checksum or "-")}</span>',
            f'<span class="sum">{_e(t.replica_checksum or "-")}</span>',
            _badge(t.match),
            _e(size(t.bytes)),
            f"{t.seconds:.2f}",
        ]
        for t in report.tables
    ]
    headers = ["table", "master", "replica", "master", "replica", "match", "bytes"]
    headers.append("seconds")
    above = (
        '<tr class="group"><th></th><th colspan="2" class="num">rows</th>'
        '<th colspan="2">checksum</th><th colspan="3"></th></tr>'
    )
    total = sum(t.replica_rows for t in report.tables)
    nbytes = sum(t.bytes for t in report.tables)
    return (
        '<div class="wide">'
        + _table(headers, rows, {1, 2, 6, 7}, above)
        + "</div>"
        + (
            f'<p class="note">{len(report.tables)} tables, {total:,} rows,'
            f" {_e(size(nbytes))}.</p>"
        )
    )


def _changes(report: Report) -> str:
    run = report.run
    out = []
    if report.previous_run_id is None:
        out.append('<p class="note">No previous succeeded run to compare with.</p>')
    elif not report.tables:
        out.append('<p class="note">This run loaded no table.</p>')
    else:

        def delta(d: int) -> str:
            cls = "up" if d > 0 else "down" if d < 0 else ""
            return f'<span class="{cls}">{signed(d)}</span>'

        rows = [
            [_e(c.table), f"{c.previous_rows:,}", f"{c.rows:,}", delta(c.delta)]
            for c in report.changes
        ]
        headers = ["table", f"run {report.previous_run_id}", "this run", "change"]
        out.append(
            f'<p class="note">Master rows compared with run {report.previous_run_id},'
            " the previous succeeded run.</p>"
        )
        out.append(_table(headers, rows, {1, 2, 3}))
        out.append(
            '<p class="note">Tables added: '
            + _e(", ".join(report.tables_added) or "none")
            + ". Tables not loaded this time: "
            + _e(", ".join(report.tables_removed) or "none")
            + ".</p>"
        )
    n = len(run.schema_changes)
    items = "<ul>" + "".join(f"<li>{_e(c)}</li>" for c in run.schema_changes) + "</ul>"
    if n == 0:
        out.append('<p class="note">Schema changes: none.</p>')
    elif n <= 5:
        out.append(f'<p class="note">Schema changes:</p>{items}')
    else:
        out.append(f"<details><summary>{n} schema changes</summary>{items}</details>")
    return "".join(out)


def _conflicts(report: Report) -> str:
    if report.conflicts is None:
        return (
            '<p class="note">merge_conflicts is not built in this replica'
            " (run <code>replica build</code>).</p>"
        )
    if not report.conflicts:
        return f'<p class="note">None: {_e(report.conflicts_relation)} is empty.</p>'
    rows = [
        [
            _e(c.table),
            f'<span class="sum">{_e(c.id)}</span>',
            _e(c.column),
            f'<span dir="auto">{_e(c.local_value)}</span>',
            f'<span dir="auto">{_e(c.master_value)}</span>',
            _e(c.resolution),
        ]
        for c in report.conflicts
    ]
    headers = ["table", "id", "column", "local value", "master value", "resolution"]
    by_table: dict[str, int] = {}
    for c in report.conflicts:
        by_table[c.table] = by_table.get(c.table, 0) + 1
    chips = "".join(
        f'<span class="chip">{_e(t)}: {n}</span>' for t, n in by_table.items()
    )
    return (
        f'<div class="chips">{chips}</div><p class="note">{len(report.conflicts)}'
        f" differing columns in {_e(report.conflicts_relation)}, as of the latest"
        " dbt build.</p>"
        + ("<details open>" if len(report.conflicts) <= 50 else "<details>")
        + "<summary>Show them</summary>"
        + _table(headers, rows, set())
        + "</details>"
    )


def _build(report: Report) -> str:
    if not report.build:
        return '<p class="note">No build recorded for this run.</p>'
    chips = "".join(
        f'<span class="chip">{_e(s)}: {n}</span>'
        for s, n in report.build_counts.items()
    )
    out = f'<div class="chips"><span class="chip">{len(report.build)} nodes</span>'
    out += chips + "</div>"
    failures = report.build_failures
    if not failures:
        return out + '<p class="note">Every test and model passed.</p>'
    rows = [
        [
            f'<span class="sum">{_e(n.unique_id)}</span>',
            _badge(n.status),
            _e(n.message),
            "-" if n.seconds is None else f"{n.seconds:.2f}",
        ]
        for n in failures
    ]
    return out + _table(["node", "status", "message", "seconds"], rows, {3})


def _steps(report: Report) -> str:
    rows = [
        [_e(s.step), _badge(s.status), f"{s.seconds:.2f}", _e(s.detail)]
        for s in report.steps
    ]
    return _table(["step", "status", "seconds", "detail"], rows, {2})


def _deleted(report: Report) -> str:
    if not report.deleted:
        return '<p class="note">None flagged by this run.</p>'
    rows = [[_e(t), f"{n:,}"] for t, n in report.deleted.items()]
    return _table(["table", "rows flagged"], rows, {1})


def _runs(n: int) -> str:
    return "run" if n == 1 else f"{n} runs"


def _section(title: str, body: str, ident: str) -> str:
    return f'<section id="{ident}"><h2>{_e(title)}</h2>{body}</section>'


def to_html(report: Report) -> str:
    run = report.run
    history_rows = [
        [
            str(h.run_id),
            _e(h.mode),
            _badge(h.status),
            _e(when(h.started_at)),
            _e(duration(h.seconds)),
        ]
        for h in reversed(report.history)
    ]
    history = history_chart(report) + (
        '<p class="note">Bar height: the sync\'s duration (its recorded steps),'
        " else the load's. The reported run is outlined.</p>"
        "<details><summary>Runs</summary>"
        + _table(["run", "mode", "status", "started", "duration"], history_rows, {0, 4})
        + "</details>"
    )
    sections = [
        f"<header><h1>Sync report · run {run.run_id}</h1>{_badge(run.status)}</header>",
        f'<p class="headline">{_e(headline(report))}</p>',
        _section("Run", _facts(report), "run"),
        _section("Tables", _tables(report), "tables"),
        _section("Rows per table", rows_chart(report), "rows-chart"),
        _section(
            f"Sync history (last {_runs(len(report.history))})", history, "history"
        ),
        _section("Changes since the previous sync", _changes(report), "changes"),
        _section("dbt tests", _build(report), "build"),
    ]
    if report.steps:
        sections.append(_section("Sync steps", _steps(report), "steps"))
    sections += [
        _section("Conflicts resolved", _conflicts(report), "conflicts"),
        _section("Deleted rows flagged", _deleted(report), "deleted"),
        f"<footer>Generated {_e(when(report.generated_at))} from"
        " replica_meta.</footer>",
    ]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Sync report · run {run.run_id}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(sections)}</main></body></html>\n"
    )
