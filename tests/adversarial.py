"""The adversarial master of tests/adversarial.sql, written into a database."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

SQL = Path(__file__).with_name("adversarial.sql")
_SECTION = re.compile(r"^-- needs extension: (\w+)$", re.M)


def sections() -> list[tuple[str | None, str]]:
    """(extension or None, SQL) in file order: the core first."""
    parts = _SECTION.split(SQL.read_text())
    return [(None, parts[0])] + list(zip(parts[1::2], parts[2::2], strict=True))


def write(url: str) -> list[str]:
    """Write the adversarial master into the (empty) database at ``url``: the core
    and each section whose extension the server has. Returns those extensions."""
    used = []
    with psycopg.connect(url, autocommit=True) as conn:
        available = {
            r[0] for r in conn.execute("select name from pg_available_extensions")
        }
        for extension, text in sections():
            if extension is None or extension in available:
                conn.execute(text)
                if extension:
                    used.append(extension)
    return used
