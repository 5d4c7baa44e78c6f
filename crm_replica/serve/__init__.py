"""``replica serve``: a read-only local web viewer of the replica, over the
application's reads (analyses/read_*.sql).

reads (the statements, rendered for the replica's schema names), database (a pool
of read-only sessions with a statement timeout), pages (what each page reads and
shows), server (HTTP and the templates)."""

from __future__ import annotations

from pathlib import Path

from crm_replica.serve.database import ReadOnlyPool
from crm_replica.serve.pages import Problem, Viewer
from crm_replica.serve.reads import READS, Reads, model_schemas, render
from crm_replica.serve.server import ViewerServer
from crm_replica.settings import Schemas

__all__ = [
    "READS",
    "Problem",
    "ReadOnlyPool",
    "Reads",
    "Viewer",
    "ViewerServer",
    "model_schemas",
    "open_server",
    "render",
]


def open_server(
    replica_url: str,
    project_dir: Path,
    schemas: Schemas,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    pool_size: int = 4,
    statement_timeout: float = 5.0,
    quiet: bool = False,
) -> ViewerServer:
    """The viewer's server, bound and with its pool open (``serve_forever`` to
    run it; ``close`` to stop)."""
    reads = Reads.load(project_dir, schemas)
    pool = ReadOnlyPool(
        replica_url, size=pool_size, statement_timeout=statement_timeout
    ).open()
    try:
        return ViewerServer((host, port), Viewer(reads, schemas), pool, quiet=quiet)
    except BaseException:
        pool.close()
        raise
