"""Progress on the terminal (stderr): a bar per table while loading, one for dbt."""

from __future__ import annotations

import sys
import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from runner import meta
from runner.extract_load import Progress as LoadProgress


def _console() -> Console:
    return Console(file=sys.stderr, highlight=False)


class LoadBars(LoadProgress):
    """One bar per table: MB streamed, MB/s, and rows and rows/s once done."""

    def __init__(self) -> None:
        self.bars = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[rows]}"),
            TimeElapsedColumn(),
            console=_console(),
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.lock = threading.Lock()

    def __enter__(self) -> LoadBars:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def table_started(self, table: str, size: int) -> None:
        with self.lock:
            self.tasks[table] = self.bars.add_task(table, total=size or None, rows="")

    def table_advanced(self, table: str, nbytes: int) -> None:
        task = self.tasks[table]
        self.bars.advance(task, nbytes)
        current = self.bars.tasks[task]
        if current.total is not None and current.completed > current.total:
            self.bars.update(task, total=current.completed * 1.1)

    def table_done(self, table: str, load: meta.TableLoad) -> None:
        task = self.tasks[table]
        rate = load.replica_rows / load.seconds if load.seconds else 0
        self.bars.update(
            task,
            total=max(load.bytes, 1),
            completed=max(load.bytes, 1),
            rows=f"{load.replica_rows:,} rows {rate:,.0f}/s",
        )


class NodeBar:
    """A bar over dbt's nodes, fed by its JSON log events."""

    def __init__(self) -> None:
        self.bars = Progress(
            TextColumn("dbt build"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=_console(),
        )
        self.task: TaskID | None = None

    def __enter__(self) -> NodeBar:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def on_event(self, event: dict) -> None:
        data = event.get("data", {})
        if not event["info"]["name"].endswith("Result") or "total" not in data:
            return
        if self.task is None:
            self.task = self.bars.add_task("dbt", total=int(data["total"]))
        self.bars.advance(self.task)
