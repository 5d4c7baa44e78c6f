"""Readable and machine-readable renderings of a run's results."""

from __future__ import annotations

import json
from collections.abc import Sequence

from runner.extract_load import RunResult


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


def load_table(result: RunResult) -> str:
    return table(
        ["table", "master rows", "replica rows", "checksum", "MB", "seconds"],
        [
            (
                t.table_name,
                t.master_rows,
                t.replica_rows,
                t.verdict,
                t.bytes / 1e6,
                t.seconds,
            )
            for t in result.loads
        ],
    )


def _big(number: int | None) -> str | None:
    """A checksum as a string (it exceeds JSON's exact integers); null when not
    taken."""
    return None if number is None else str(number)


def load_json(result: RunResult) -> str:
    return json.dumps(
        {
            "run_id": result.run_id,
            "mode": result.mode,
            "seconds": round(result.seconds, 3),
            "snapshot_at": result.snapshot_at.isoformat(),
            "ok": result.ok,
            "schema_changes": result.schema_changes,
            "tables": [
                {
                    "table": t.table_name,
                    "master_rows": t.master_rows,
                    "replica_rows": t.replica_rows,
                    "master_checksum": _big(t.master_checksum),
                    "replica_checksum": _big(t.replica_checksum),
                    "matches": t.matches,
                    "bytes": t.bytes,
                    "seconds": round(t.seconds, 3),
                }
                for t in result.loads
            ],
        },
        indent=2,
    )
