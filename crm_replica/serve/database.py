"""The viewer's sessions: a pool of read-only replica sessions.

Every session is read-only from its first statement
(``default_transaction_read_only``) and every transaction is begun ``READ ONLY``;
a statement that runs longer than the statement timeout is cancelled, and so is
one that waits longer for a lock (a publish holds its locks for a moment). Each
request runs in one transaction, so it reads one published replica: relations
are found by name when a statement runs, so after a publish commits the next
statement reads the new ones. Statements run unprepared (psycopg's automatic
preparation is off): the server plans each with its values, which the search's
plan depends on; and without parallel workers, whose start costs more than a page
of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.types.datetime import TimestamptzLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from crm_replica.db import describe, one_line, parse_url
from crm_replica.errors import ReplicaError

APPLICATION_NAME = "crm-replica serve"


def _settings(statement_timeout: float) -> dict[str, str]:
    ms = str(int(statement_timeout * 1000))
    return {
        "default_transaction_read_only": "on",
        "statement_timeout": ms,
        "lock_timeout": ms,
        "idle_in_transaction_session_timeout": str(int(ms) * 4),
        "TimeZone": "UTC",
        # A read stops after a page: starting parallel workers costs more than it
        # saves (the search's newest-first scans are planned parallel at scale).
        "max_parallel_workers_per_gather": "0",
    }


class _Timestamptz(TimestamptzLoader):
    """PostgreSQL's infinite times as the first and last datetimes (a thread row
    with no time at all sorts at -infinity)."""

    def load(self, data):
        if data == b"-infinity":
            return datetime.min.replace(tzinfo=UTC)
        if data == b"infinity":
            return datetime.max.replace(tzinfo=UTC)
        return super().load(data)


def _configure(conn: psycopg.Connection) -> None:
    conn.read_only = True
    conn.adapters.register_loader("timestamptz", _Timestamptz)


class ReadOnlyPool:
    """A pool of read-only sessions on the replica."""

    def __init__(
        self, replica_url: str, *, size: int = 4, statement_timeout: float = 5.0
    ) -> None:
        params = parse_url(replica_url, "replica")
        params.setdefault("connect_timeout", "10")
        params["application_name"] = APPLICATION_NAME
        options = " ".join(
            f"-c {k}={v}" for k, v in _settings(statement_timeout).items()
        )
        params["options"] = (params.get("options", "") + " " + options).strip()
        self.where = describe(replica_url, "replica")
        self.statement_timeout = statement_timeout
        self._pool = ConnectionPool(
            make_conninfo(**params),
            min_size=1,
            max_size=size,
            kwargs={"prepare_threshold": None},
            configure=_configure,
            timeout=statement_timeout + 5,
            name="replica-read",
            open=False,
        )

    def open(self) -> ReadOnlyPool:
        """Open the pool and wait for its first session: a clear error when the
        replica cannot be reached."""
        self._pool.open()
        try:
            self._pool.wait(timeout=15)
        except PoolTimeout:
            self._pool.close()
            raise ReplicaError(
                f"cannot connect to the replica ({self.where})" + self._last_error()
            ) from None
        return self

    def _last_error(self) -> str:
        try:
            psycopg.connect(self._pool.conninfo, connect_timeout=5).close()
        except psycopg.Error as exc:
            return f": {one_line(exc)}"
        return ""

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A session in a read-only transaction, for one request."""
        with self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        self._pool.close()
