"""Connections: read-only master sessions, replica sessions, redaction of secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

from runner.errors import ReplicaError

#: Identical on both sides so that row text (and so checksums) compare equal.
SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
    "client_encoding": "UTF8",
}

_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*(?=@)", re.I
)
_KV_PASSWORD = re.compile(r"(?P<head>password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)


def redact(text: str) -> str:
    """Hide passwords in URLs (``scheme://user:secret@``) and ``password=`` pairs."""
    text = _URL_PASSWORD.sub(r"\g<head>***", text)
    return _KV_PASSWORD.sub(r"\g<head>***", text)


@dataclass(frozen=True)
class Target:
    """Where a URL points, with no secret in it: safe to print."""

    host: str
    port: str
    dbname: str
    user: str

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


def parse_url(url: str, role: str) -> dict[str, str]:
    """Connection parameters of ``url``; a clear error when it is not a URL."""
    if not url or not url.strip():
        raise ReplicaError(f"the {role} URL is empty")
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ReplicaError(f"the {role} URL is not valid: {_first_line(exc)}") from None
    port = str(params.get("port") or "5432")
    if not all(part.isdigit() for part in port.split(",")):
        raise ReplicaError(
            f"the {role} URL is not valid: port {port!r} is not a number"
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


def _options(read_only: bool) -> str:
    opts = [
        f"-c {k}={v.replace(' ', '')}"
        for k, v in SESSION_SETTINGS.items()
        if k != "client_encoding"
    ]
    if read_only:
        opts.append("-c default_transaction_read_only=on")
    return " ".join(opts)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return redact(lines[0] if lines else type(exc).__name__)


def connect(
    url: str,
    role: str,
    *,
    read_only: bool,
    autocommit: bool = False,
    application_name: str = "crm-replica",
) -> psycopg.Connection:
    """Open a session with identical settings on every side.

    ``read_only`` makes every transaction of the session read-only from its start
    (``default_transaction_read_only`` in the startup packet), and it is checked.
    """
    params = parse_url(url, role)
    params.setdefault("connect_timeout", "10")
    params["application_name"] = application_name
    params["options"] = (params.get("options", "") + " " + _options(read_only)).strip()
    try:
        conn = psycopg.connect(**params, autocommit=autocommit)
    except psycopg.Error as exc:
        raise ReplicaError(
            f"cannot connect to the {role} ({describe(url, role)}): {_first_line(exc)}"
        ) from None
    if read_only:
        state = conn.execute("show default_transaction_read_only").fetchone()
        if not state or state[0] != "on":
            conn.close()
            raise ReplicaError(f"the {role} session could not be made read-only")
        if not autocommit:
            conn.rollback()
    return conn


def connect_master(url: str, **kw) -> psycopg.Connection:
    """A master session: read-only, always."""
    return connect(url, "master", read_only=True, **kw)


def connect_replica(url: str, **kw) -> psycopg.Connection:
    return connect(url, "replica", read_only=False, **kw)


def database_error(exc: psycopg.Error, doing: str) -> ReplicaError:
    """Turn a driver error into one redacted line."""
    return ReplicaError(f"{doing} failed: {_first_line(exc)}")
