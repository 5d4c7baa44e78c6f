"""How values are written as text: plain text tables, as every command prints
them; times, durations, sizes and counts, and Markdown table cells, as the sync
report and `replica analyze`'s files write them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from jinja2 import Environment, PackageLoader, select_autoescape


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: text left-aligned, numbers right-aligned."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
        for i, h in enumerate(headers)
    ]
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) for r in rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)


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


def thousands(value: int) -> str:
    return f"{value:,}"


def md_escape(text: str) -> str:
    """``text`` as one Markdown table cell: pipes escaped, line breaks as spaces."""
    text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return text.replace("|", "\\|")


def templates(package: str, **options) -> Environment:
    """The Jinja2 templates of ``package`` (its ``templates/`` folder): HTML ones
    autoescaped, the others (Markdown, SQL) as written; the shared formatting
    helpers as filters."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        **options,
    )
    env.filters.update(
        when=when, duration=duration, size=size, signed=signed, thousands=thousands
    )
    return env
