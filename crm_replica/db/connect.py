"""Connections: read-only master sessions, replica sessions, their settings checked.

Every session runs with the same formatting settings on both sides (so that row
text, and so checksums, compare equal), without any role's statement or
idle-in-transaction timeout (a load's snapshot and checksum sessions sit idle in
their transaction while a COPY runs; pg_dump does the same), and with a lock
timeout of its own, so that a run waiting on someone's lock fails clearly instead of
hanging. Master sessions are read-only from their first statement and run with
``row_security = off``: a read that a row-level security policy would filter fails
instead of returning a silent subset. The settings go in the startup packet and are
checked after connecting; where a pooler dropped them they are SET, and checked
again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

from crm_replica.db.secrets import one_line, redact, remember, url_password
from crm_replica.errors import ReplicaError

#: Identical on both sides so that row text (and so checksums) compare equal.
SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
}
#: No role's timeout cuts a run short (the lock timeout is set apart).
RUN_SETTINGS = {"statement_timeout": "0", "idle_in_transaction_session_timeout": "0"}
#: Master sessions: read-only, and never a silently filtered read.
MASTER_SETTINGS = {"default_transaction_read_only": "on", "row_security": "off"}
#: Seconds a statement waits for another session's lock before the run fails.
DEFAULT_LOCK_TIMEOUT = 30

_lock_timeout_ms = DEFAULT_LOCK_TIMEOUT * 1000

__all__ = ["redact", "one_line"]


def set_lock_timeout(seconds: float) -> None:
    """How long every session opened from now on waits for a lock (0: forever)."""
    global _lock_timeout_ms
    _lock_timeout_ms = int(seconds * 1000)


def lock_timeout_seconds() -> float:
    return _lock_timeout_ms / 1000


@dataclass(frozen=True)
class Target:
    """Where a URL points, with no secret in it: safe to print."""

    host: str
    port: str
    dbname: str
    user: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:{self.port}/{self.dbname}"


def parse_url(url: str, role: str) -> dict[str, str]:
    """Connection parameters of ``url``; a clear error when it is not a URL. Its
    password is remembered, so that no message ever shows it."""
    if not url or not url.strip():
        raise ReplicaError(f"the {role} URL is empty")
    written = url_password(url)
    remember(written)
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ReplicaError(f"the {role} URL is not valid: {one_line(exc)}") from None
    remember(params.get("password"))
    if written and written != params.get("password"):
        raise ReplicaError(
            f"the {role} URL is not valid: its password holds a character that must"
            " be percent-encoded ('@' as %40, '/' as %2F)"
        )
    port = str(params.get("port") or "5432")
    if not all(part.isdigit() for part in port.split(",")):
        raise ReplicaError(
            f"the {role} URL is not valid: port {redact(port)!r} is not a number"
        )
    return {k: str(v) for k, v in params.items() if v is not None}


def describe(url: str, role: str = "database") -> Target:
    p = parse_url(url, role)
    return Target(
        p.get("host", "localhost"),
        p.get("port", "5432"),
        p.get("dbname", p.get("user", "")),
        p.get("user", ""),
    )


def _wanted(read_only: bool) -> dict[str, str]:
    wanted = {
        **SESSION_SETTINGS,
        **RUN_SETTINGS,
        "lock_timeout": str(_lock_timeout_ms),
    }
    if read_only:
        wanted.update(MASTER_SETTINGS)
    return wanted


def _options(wanted: dict[str, str]) -> str:
    return " ".join(f"-c {k}={v.replace(' ', '')}" for k, v in wanted.items())


def _differing(conn: psycopg.Connection, wanted: dict[str, str]) -> dict[str, str]:
    """The settings whose session value is not the one wanted."""
    rows = conn.execute(
        "select lower(name), setting from pg_settings where lower(name) = any(%s)",
        ([k.lower() for k in wanted],),
    ).fetchall()
    actual = {name: setting for name, setting in rows}

    def norm(value: str | None) -> str | None:
        return None if value is None else value.replace(" ", "").lower()

    return {k: v for k, v in wanted.items() if norm(actual.get(k.lower())) != norm(v)}


def _settle(conn: psycopg.Connection, role: str, wanted: dict[str, str]) -> None:
    """Check the session's settings; SET those a pooler dropped, and check again."""
    differing = _differing(conn, wanted)
    if differing:
        for name, value in differing.items():
            conn.execute("select set_config(%s, %s, false)", (name, value))
        differing = _differing(conn, wanted)
    if not conn.autocommit:
        conn.commit()  # a rollback would undo the SETs
    if differing:
        names = ", ".join(sorted(differing))
        raise ReplicaError(
            f"the {role} session could not be given its settings: {names}"
        )


def connect(
    url: str,
    role: str,
    *,
    read_only: bool,
    autocommit: bool = False,
    application_name: str = "crm-replica",
) -> psycopg.Connection:
    """Open a session with identical settings on every side, and check them.

    ``read_only`` makes every transaction of the session read-only from its start
    (``default_transaction_read_only`` in the startup packet) and turns row-level
    security filtering into an error (``row_security = off``).
    """
    params = parse_url(url, role)
    params.setdefault("connect_timeout", "10")
    params["application_name"] = application_name
    wanted = _wanted(read_only)
    params["options"] = (params.get("options", "") + " " + _options(wanted)).strip()
    try:
        conn = psycopg.connect(**params, autocommit=autocommit)
    except psycopg.Error as exc:
        raise ReplicaError(
            f"cannot connect to the {role} ({describe(url, role)}): {one_line(exc)}"
        ) from None
    try:
        _settle(conn, role, wanted)
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def time_zone(conns: Sequence[psycopg.Connection], zone: str) -> Iterator[None]:
    """Inside, ``conns`` run in time zone ``zone`` instead of UTC.

    For reading master's dashboard views, which count "today" in their session's
    time zone: read in the CRM's, as the CRM reads them. Tables are never read
    inside (their row text and checksums are UTC's on both sides). The sessions
    are back in UTC after (after a failure, as far as they still answer)."""
    _set_time_zone(conns, zone)
    try:
        yield
    except BaseException:
        with suppress(psycopg.Error):
            _set_time_zone(conns, SESSION_SETTINGS["TimeZone"])
        raise
    _set_time_zone(conns, SESSION_SETTINGS["TimeZone"])


def _set_time_zone(conns: Sequence[psycopg.Connection], zone: str) -> None:
    for conn in conns:
        failed = conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        if not conn.closed and not failed:
            conn.execute("select set_config('TimeZone', %s, false)", (zone,))


def connect_master(url: str, **kw) -> psycopg.Connection:
    """A master session: read-only, always."""
    return connect(url, "master", read_only=True, **kw)


def connect_replica(url: str, **kw) -> psycopg.Connection:
    return connect(url, "replica", read_only=False, **kw)


def database_error(exc: psycopg.Error, doing: str) -> ReplicaError:
    """Turn a driver error into one redacted line."""
    return ReplicaError(f"{doing} failed: {explain(exc)}")


_FIX = (
    "connect as a role with BYPASSRLS or as the table's owner (on Supabase, the "
    "postgres role)"
)


def row_security_error(tables: Sequence[str], role: str | None) -> ReplicaError:
    names = ", ".join(tables)
    whom = f"role {role!r}" if role else "the runner's role"
    return ReplicaError(
        f"master's row-level security would hide rows of {names} from {whom}:"
        f" a copy would be partial; {_FIX}"
    )


_RLS_MESSAGE = re.compile(r'row-level security policy for table "([^"]+)"')


def explain(exc: psycopg.Error) -> str:
    """One line for a driver error, naming the fix where the cause is known."""
    line = one_line(exc)
    rls = _RLS_MESSAGE.search(line)
    if rls:
        return row_security_error([rls.group(1)], None).message
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return (
            f"{line}: another session holds a lock the run needs; try again later, "
            "or wait longer with --lock-timeout"
        )
    return line
