"""``replica serve``: the viewer over HTTP (the standard library's threading
server), its pages rendered by Jinja2 templates with autoescape.

Only GET and HEAD; each request runs in one read-only transaction of the pool.
Bad input is a 4xx page, a slow or unreachable replica a 503 page, and anything
else a 500 page with one line: never a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import jinja2
import psycopg
from markupsafe import Markup
from psycopg_pool import PoolTimeout

from crm_replica.db import one_line
from crm_replica.format import templates as format_templates
from crm_replica.serve.database import ReadOnlyPool
from crm_replica.serve.pages import Page, Problem, Viewer, cursor_text

#: The search's headline marks a match between these (analyses/read_search.sql).
MARK_START, MARK_END = "\ue000", "\ue001"
#: The page's own resources only: its inline style and script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
    " script-src 'unsafe-inline'; img-src data:; form-action 'self';"
    " base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_ROUTES = (
    (re.compile(r"/"), "leads"),
    (re.compile(r"/leads/([^/]+)"), "lead"),
    (re.compile(r"/conversations/([^/]+)"), "conversation"),
    (re.compile(r"/search"), "search"),
    (re.compile(r"/dashboards"), "dashboards"),
)


def templates() -> jinja2.Environment:
    """The viewer's pages: the shared environment, with the viewer's own formats
    (times to the minute, durations up to days, a missing value as a dash)."""
    env = format_templates("crm_replica.serve", undefined=jinja2.StrictUndefined)
    env.filters.update(
        when=_when,
        duration=_duration,
        num=_num,
        pct=_pct,
        highlight=_highlight,
        cursor=cursor_text,
        pretty=_pretty,
    )
    env.globals["url"] = _url
    return env


def _url(path: str, **params: Any) -> str:
    query = urlencode(
        {k: cursor_text(v) for k, v in params.items() if v is not None and v != ""}
    )
    return quote(path) + ("?" + query if query else "")


def _when(value: Any) -> str:
    if isinstance(value, str):  # a time inside JSON
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    if value.year in (1, 9999):
        return "no time"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "–"
    s = float(seconds)
    if s < 60:
        return f"{s:.0f} s"
    for unit, size, sub, subsize in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "min", 60),
        ("min", 60, "s", 1),
    ):
        if s >= size:
            whole, rest = divmod(s, size)
            part = round(rest / subsize)
            return f"{whole:.0f} {unit}" + (f" {part} {sub}" if part else "")
    return f"{s:.0f} s"


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:,}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{float(value) * 100:.1f}%"


def _highlight(text: str | None) -> Markup:
    """The search's headline, escaped, with its matches in <mark>."""
    escaped = escape(text or "")
    return Markup(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def _pretty(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


class ViewerServer(ThreadingHTTPServer):
    """The HTTP server: the pool, the pages and their templates."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        viewer: Viewer,
        pool: ReadOnlyPool,
        *,
        quiet: bool = False,
    ) -> None:
        super().__init__(address, _Handler)
        self.viewer = viewer
        self.pool = pool
        self.quiet = quiet
        self.env = templates()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"

    def page(self, path: str, params: dict[str, str]) -> Page:
        for pattern, name in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            with self.pool.transaction() as conn:
                if name == "leads":
                    return self.viewer.leads(conn, params)
                if name == "lead":
                    return self.viewer.lead(conn, match.group(1), params)
                if name == "conversation":
                    return self.viewer.conversation(conn, match.group(1))
                if name == "search":
                    return self.viewer.search(conn, params)
                return self.viewer.dashboards(conn)
        raise Problem(404, f"no page at {path[:100]}")

    def respond(self, raw_path: str) -> tuple[int, str]:
        """The status and HTML of a GET."""
        page = self._page(raw_path)
        try:
            html = self.env.get_template(page.template).render(**page.context)
        except Exception as exc:  # a page that fails to render: say so, log it
            self.log(f"error rendering {raw_path[:200]}: {type(exc).__name__}: {exc}")
            page = _error(500, f"this page failed: {type(exc).__name__}")
            html = self.env.get_template(page.template).render(**page.context)
        return page.status, html

    def _page(self, raw_path: str) -> Page:
        try:
            url = urlsplit(raw_path)
            params = dict(
                parse_qsl(
                    url.query,
                    keep_blank_values=True,
                    max_num_fields=40,
                    errors="strict",
                )
            )
            page = self.page(url.path, params)
        except Problem as problem:
            page = _error(problem.status, problem.message)
        except (ValueError, UnicodeError):
            page = _error(400, "the address's parameters cannot be read")
        except psycopg.errors.QueryCanceled:
            page = _error(
                503,
                f"the replica took longer than {self.pool.statement_timeout:g} s"
                " to answer; try again, or narrow the search",
            )
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
            page = _error(
                503,
                "the replica has no read models (or older ones): run `replica"
                f" sync` or `replica build` ({one_line(exc)})",
            )
        except (psycopg.OperationalError, PoolTimeout) as exc:
            page = _error(503, f"the replica cannot be reached: {one_line(exc)}")
        except Exception as exc:  # the page says what failed, the log the rest
            self.log(f"error on {raw_path[:200]}: {type(exc).__name__}: {exc}")
            page = _error(500, f"this page failed: {type(exc).__name__}")
        return page

    def server_close(self) -> None:
        super().server_close()
        self.pool.close()

    def log(self, line: str) -> None:
        if not self.quiet:
            sys.stderr.write(line.rstrip() + "\n")


def _error(status: int, message: str) -> Page:
    return Page(
        "error.html",
        {"status": status, "reason": HTTPStatus(status).phrase, "message": message},
        status,
    )


class _Handler(BaseHTTPRequestHandler):
    server: ViewerServer
    server_version = "crm-replica-serve"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        self._send(*self.server.respond(self.path))

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(*self.server.respond(self.path), body=False)

    def _refuse(self) -> None:
        self._send(
            405,
            self.server.env.get_template("error.html").render(
                status=405,
                reason="Method Not Allowed",
                message="the viewer only reads: GET and HEAD",
            ),
            allow="GET, HEAD",
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

    def _send(
        self, status: int, html: str, *, body: bool = True, allow: str | None = None
    ) -> None:
        data = html.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        self.server.log(f"{self.address_string()} {format % args}")
