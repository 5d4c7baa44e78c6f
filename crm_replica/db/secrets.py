"""Passwords never reach output: every URL's password is remembered when the URL is
read, and every message the runner prints or records goes through ``redact``."""

from __future__ import annotations

import re
import threading

_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*(?=@)", re.I
)
_KV_PASSWORD = re.compile(r"(?P<head>password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)
#: A URL's user information, read greedily up to its last '@': what a person meant
#: as the password when it holds an unencoded '@' or '/'.
_USERINFO = re.compile(
    r"^[a-z][a-z0-9+.-]*://(?P<user>[^:@/]*):(?P<password>.*)@", re.I
)
#: Shorter passwords (and pieces of one) are not hunted for in text: they would
#: blank out parts of ordinary words. URLs in text are redacted whatever the length.
_SHORTEST = 4

_known: set[str] = set()
_lock = threading.Lock()


def remember(secret: str | None) -> None:
    """Hide ``secret`` (and its pieces between '@', '/' and ':') from now on."""
    if not secret:
        return
    pieces = {secret, *re.split(r"[@/:]", secret)}
    with _lock:
        _known.update(p for p in pieces if len(p) >= _SHORTEST)


def url_password(url: str) -> str | None:
    """The password a person wrote in ``url``, read up to its last '@' (libpq stops
    at the first '@' or '/', which leaves the rest of the password in the host)."""
    match = _USERINFO.match(url.strip())
    return match.group("password") if match else None


def redact(text: str) -> str:
    """``text`` without any password: known ones, URL ones, ``password=`` pairs."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(r"\g<head>***", text)
    return _KV_PASSWORD.sub(r"\g<head>***", text)


def one_line(exc: BaseException | str) -> str:
    """The first non-empty line of an error (or text), without passwords: what a
    message to a person, a run log or a report carries."""
    text = exc if isinstance(exc, str) else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines:
        return redact(lines[0])
    return "" if isinstance(exc, str) else type(exc).__name__
