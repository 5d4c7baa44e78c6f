"""The sync report as one self-contained HTML page (templates/report.html: inline
CSS, inline SVG charts, no script and no external asset, so it opens the same from
a mail attachment). The template autoescapes every value; the charts' geometry is
computed here and drawn by the template's macros."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from crm_replica.format import duration, signed, size, templates, when
from crm_replica.reports.gather import Report
from crm_replica.reports.text import durations, headline, published

COLOURS = {
    "succeeded": "#2f9e62",
    "failed": "#d64545",
    "abandoned": "#c98a12",
    "running": "#9aa5b1",
}
BAR = "#3b6fd8"

_ENV = templates("crm_replica.reports")


def _cell(kind: str, value: object, **extra) -> dict:
    """A table cell the template draws as ``kind`` (badge, sum, bold, auto,
    delta) around ``value``, which it escapes."""
    return {"kind": kind, "value": "" if value is None else value, **extra}


@dataclass
class RowsChart:
    """Horizontal bars: replica rows per table."""

    width: int
    height: int
    label_right: int
    bar_left: int
    bars: list[dict] = field(default_factory=list)


def rows_chart(report: Report) -> RowsChart:
    label_w, bar_w, row_h, top = 230, 660, 26, 8
    chart = RowsChart(
        label_w + bar_w + 90, top * 2 + row_h * len(report.tables), label_w - 8, label_w
    )
    biggest = max((t.replica_rows for t in report.tables), default=0) or 1
    for i, t in enumerate(report.tables):
        y = top + i * row_h
        w = max(2.0, bar_w * t.replica_rows / biggest) if t.replica_rows else 0.0
        chart.bars.append(
            {
                "label": t.table,
                "rows": t.replica_rows,
                "y": y + 5,
                "text_y": y + 17,
                "width": w,
                "height": row_h - 10,
                "value_x": label_w + w + 6,
                "colour": COLOURS["failed"] if t.match == "DIFFERS" else BAR,
            }
        )
    return chart


def _tick(top: float) -> float:
    """A round axis step (1, 2 or 5 times a power of ten) giving 3 to 6 ticks."""
    step = 10.0 ** math.floor(math.log10(top / 4)) if top > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if top / (step * factor) <= 6:
            return step * factor
    return step * 10  # pragma: no cover


@dataclass
class HistoryChart:
    """Vertical bars: each run's duration, coloured by its status."""

    width: int
    height: int
    left: int
    right: int
    plot_width: int
    axis_y: int
    ticks: list[dict] = field(default_factory=list)
    bars: list[dict] = field(default_factory=list)
    legend: dict[str, str] = field(default_factory=lambda: dict(COLOURS))


def history_chart(report: Report) -> HistoryChart:
    runs = report.history
    left, top, plot_w, plot_h, bottom = 56, 12, 920, 180, 36
    chart = HistoryChart(
        left + plot_w + 12,
        top + plot_h + bottom,
        left,
        left + plot_w,
        plot_w,
        top + plot_h + 16,
    )
    slowest = max((h.seconds or 0 for h in runs), default=0)
    tick = _tick(slowest)
    ticks = int(-(-slowest // tick)) or 1
    longest = tick * ticks
    for k in range(ticks + 1):
        chart.ticks.append(
            {
                "y": top + plot_h - plot_h * k / ticks,
                "label": duration(tick * k) if k else "0",
            }
        )
    step = plot_w / max(len(runs), 1)
    bar = min(36.0, step * 0.7)
    every = max(1, len(runs) // 15)
    for i, h in enumerate(runs):
        height = max(2.0, plot_h * (h.seconds or 0) / longest)
        current = h.run_id == report.run.run_id
        chart.bars.append(
            {
                "x": left + i * step + (step - bar) / 2,
                "y": top + plot_h - height,
                "width": bar,
                "height": height,
                "colour": COLOURS.get(h.status, COLOURS["running"]),
                "current": current,
                "labelled": i % every == 0 or current,
                "run_id": h.run_id,
                "mode": h.mode,
                "status": h.status,
                "seconds": h.seconds,
            }
        )
    return chart


def _runs(n: int) -> str:
    return "run" if n == 1 else f"{n} runs"


def to_html(report: Report) -> str:
    run = report.run
    by_table: dict[str, int] = {}
    for c in report.conflicts or []:
        by_table[c.table] = by_table.get(c.table, 0) + 1
    css = (
        _ENV.loader.get_source(_ENV, "report.css")[0]  # type: ignore[union-attr]
    )
    return _ENV.get_template("report.html").render(
        report=report,
        run=run,
        css=css,
        headline=headline(report),
        facts=[
            ("mode", run.mode),
            ("published", published(report)),
            ("master", run.master),
            ("snapshot", when(run.snapshot_at)),
            ("started", when(run.started_at)),
            ("finished", when(run.finished_at)),
            *durations(report),
        ],
        table_rows=[
            [
                _cell("bold", t.table),
                f"{t.master_rows:,}",
                f"{t.replica_rows:,}",
                _cell("sum", t.master_checksum or "-"),
                _cell("sum", t.replica_checksum or "-"),
                _cell("badge", t.match),
                size(t.bytes),
                f"{t.seconds:.2f}",
            ]
            for t in report.tables
        ],
        total_rows=sum(t.replica_rows for t in report.tables),
        total_bytes=sum(t.bytes for t in report.tables),
        rows_geometry=rows_chart(report),
        history_geometry=history_chart(report),
        history_runs=_runs(len(report.history)),
        history_rows=[
            [
                str(h.run_id),
                h.mode,
                _cell("badge", h.status),
                when(h.started_at),
                duration(h.seconds),
            ]
            for h in reversed(report.history)
        ],
        change_rows=[
            [
                c.table,
                f"{c.previous_rows:,}",
                f"{c.rows:,}",
                _cell(
                    "delta",
                    signed(c.delta),
                    cls="up" if c.delta > 0 else "down" if c.delta < 0 else "",
                ),
            ]
            for c in report.changes
        ],
        failure_rows=[
            [
                _cell("sum", n.unique_id),
                _cell("badge", n.status),
                n.message,
                "-" if n.seconds is None else f"{n.seconds:.2f}",
            ]
            for n in report.build_failures
        ],
        step_rows=[
            [s.step, _cell("badge", s.status), f"{s.seconds:.2f}", s.detail]
            for s in report.steps
        ],
        conflicts_by_table=by_table,
        conflict_rows=[
            [
                c.table,
                _cell("sum", c.id),
                c.column,
                _cell("auto", c.local_value),
                _cell("auto", c.master_value),
                c.resolution,
            ]
            for c in report.conflicts or []
        ],
        deleted_rows=[[t, f"{n:,}"] for t, n in report.deleted.items()],
    )
