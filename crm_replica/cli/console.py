"""Progress on the terminal (stderr): a bar per table while loading, one for dbt.

Both draw on one rich Progress, so that a sync shows them together.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from crm_replica.format import table
from crm_replica.load import Progress as LoadProgress
from crm_replica.load import RunResult
from crm_replica.load import runlog as meta


class Bars:
    """The shared display; use as a context manager around the work."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<26}"),
            BarColumn(bar_width=12),
            TextColumn("{task.fields[size]:>9}"),
            TextColumn("{task.fields[speed]:>10}"),
            TextColumn("{task.fields[rows]}"),
            console=Console(file=sys.stderr, highlight=False),
            transient=False,
        )

    def __enter__(self) -> Bars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


class LoadBars(LoadProgress):
    """One bar per table: MB streamed, MB/s, and rows and rows/s once done."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars.progress
        self.tasks: dict[str, TaskID] = {}
        self.lock = threading.Lock()
        self.pending: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.drawn: dict[str, float] = {}

    def table_started(self, table: str, size: int) -> None:
        with self.lock:
            self.tasks[table] = self.bars.add_task(
                table, total=size or None, rows="", size="", speed=""
            )
            self.started[table] = time.monotonic()

    def table_advanced(self, table: str, nbytes: int) -> None:
        # Drawing is throttled: a 1 GB table streams in thousands of batches.
        with self.lock:
            self.pending[table] = self.pending.get(table, 0) + nbytes
            now = time.monotonic()
            if now - self.drawn.get(table, 0.0) < 0.2:
                return
            self.drawn[table], nbytes = now, self.pending.pop(table)
        task = self.tasks[table]
        self.bars.advance(task, nbytes)
        current = self.bars.tasks[task]
        if current.total is not None and current.completed > current.total:
            self.bars.update(task, total=current.completed * 1.1)
        elapsed = max(time.monotonic() - self.started[table], 1e-3)
        self.bars.update(
            task,
            size=f"{current.completed / 1e6:.1f} MB",
            speed=f"{current.completed / 1e6 / elapsed:.1f} MB/s",
        )

    def table_done(self, table: str, load: meta.TableLoad) -> None:
        task = self.tasks[table]
        rate = load.replica_rows / load.seconds if load.seconds else 0
        self.bars.update(
            task,
            total=max(load.bytes, 1),
            completed=max(load.bytes, 1),
            size=f"{load.bytes / 1e6:.1f} MB",
            speed=f"{load.bytes / 1e6 / max(load.seconds, 1e-3):.1f} MB/s",
            rows=f"{plural(load.replica_rows, 'row')}, {rate:,.0f} rows/s",
        )


class NodeBar:
    """A bar over dbt's nodes, fed by its JSON log events."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars.progress
        self.task: TaskID | None = None

    def on_event(self, event: dict) -> None:
        name, data = event["info"]["name"], event.get("data", {})
        if self.task is None and name == "LogStartLine" and "total" in data:
            self.task = self.bars.add_task(
                "dbt build", total=int(data["total"]), rows="", size="", speed=""
            )
        if self.task is None or not name.endswith("Result"):
            return
        self.bars.advance(self.task)
        done = self.bars.tasks[self.task]
        self.bars.update(self.task, rows=f"{done.completed:.0f}/{done.total:.0f} nodes")


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


def plural(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``1,296 rows``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
