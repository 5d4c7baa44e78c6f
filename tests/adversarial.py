"""The adversarial master of tests/adversarial.sql, written into a database."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

SQL = Path(__file__).with_name("adversarial.sql")
_SECTION = re.compile(r"^-- needs: (\w+)$", re.M)


def sections() -> list[tuple[str | None, str]]:
    """(what it needs or None, SQL) in file order: the core first."""
    parts = _SECTION.split(SQL.read_text())
    return [(None, parts[0])] + list(zip(parts[1::2], parts[2::2], strict=True))


def write(url: str) -> list[str]:
    """Write the adversarial master into the (empty) database at ``url``: the core
    and each section whose extension (or XML support) the server has. Returns
    what those sections needed."""
    used = []
    with psycopg.connect(url, autocommit=True) as conn:
        available = {
            r[0] for r in conn.execute("select name from pg_available_extensions")
        }
        try:
            conn.execute("select '<x/>'::xml")
            available.add("xml")
        except psycopg.errors.FeatureNotSupported:
            pass
        for needs, text in sections():
            if needs is None or needs in available:
                conn.execute(text)
                if needs:
                    used.append(needs)
    return used
