"""The viewer's pages: each reads the replica through the application's reads
(reads.py) and returns a template and its context. Bad input is a 4xx Problem,
never a traceback."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from crm_replica.serve.reads import Reads
from crm_replica.settings import DASHBOARD_VIEWS, Schemas

PAGE_SIZE = 50
LEADS_PAGE = 50
SEARCH_PAGE = 20
#: The newest matches a search ranks at a time (read_search's window).
SEARCH_WINDOW = 100
#: The longest search text, in characters and in words.
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 12
DAYS = 30
TRANSITIONS = 20
#: What the lead page's thread shows: read_thread's kinds.
SHOW = {
    "all": None,
    "messages": ["message", "conversation"],
    "conversations": ["conversation"],
}


class Problem(Exception):
    """A request the viewer cannot answer: an HTTP status and one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Page:
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200


Params = dict[str, str]


def _one(params: Params, name: str, limit: int = 200) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise Problem(400, f"the {name} parameter is too long")
    return value


def _uuid(text: str | None, what: str) -> uuid.UUID | None:
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Problem(400, f"not a {what} id: {text[:60]!r}") from None


def _when(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    if text in ("-infinity", "infinity"):
        return datetime.min if text.startswith("-") else datetime.max
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Problem(400, f"not a time: {what}={text[:60]!r}") from None
    if value.tzinfo is None:
        raise Problem(400, f"a time needs its UTC offset: {what}={text[:60]!r}")
    return value


def _cursor(params: Params, prefix: str) -> tuple[Any, Any]:
    """A keyset cursor (occurred_at, id), both or neither."""
    at = _when(_one(params, f"{prefix}_at"), f"{prefix}_at")
    key = _uuid(_one(params, f"{prefix}_id"), "row")
    if (at is None) != (key is None):
        raise Problem(400, f"{prefix}_at and {prefix}_id go together")
    return _db_time(at), key


def _db_time(value: datetime | None) -> Any:
    """Python has no infinite datetimes: PostgreSQL's are passed as text."""
    if value is datetime.min:
        return "-infinity"
    if value is datetime.max:
        return "infinity"
    return value


def cursor_text(value: Any) -> str:
    """A thread time as a URL parameter (what _cursor reads back); PostgreSQL's
    infinities arrive as the first and last datetimes (database.py)."""
    if isinstance(value, datetime):
        if value.year == 1:
            return "-infinity"
        if value.year == 9999:
            return "infinity"
        return value.isoformat()
    return str(value)


class Viewer:
    """The pages of one replica."""

    def __init__(self, reads: Reads, schemas: Schemas) -> None:
        self.reads = reads
        self.schemas = schemas

    # --- / -----------------------------------------------------------------

    def leads(self, conn: psycopg.Connection, params: Params) -> Page:
        bant = _one(params, "bant_status", 50)
        state = _one(params, "state", 50)
        project = _uuid(_one(params, "project"), "project")
        text = _one(params, "q", MAX_QUERY_CHARS)
        at = _when(_one(params, "through_at"), "through_at")
        key = _uuid(_one(params, "through_id"), "lead")
        if (at is None) != (key is None):
            raise Problem(400, "through_at and through_id go together")
        rows = self.reads.run(
            conn,
            "read_leads",
            [bant, state, project, text, _db_time(at), key, LEADS_PAGE],
        )
        facets: dict[str, list[dict]] = {}
        for facet in self.reads.run(conn, "read_lead_facets", []):
            facets.setdefault(facet["facet"], []).append(facet)
        following = rows[LEADS_PAGE] if len(rows) > LEADS_PAGE else None
        return Page(
            "leads.html",
            {
                "leads": rows[:LEADS_PAGE],
                "following": following,
                "facets": facets,
                "filters": {
                    "bant_status": bant,
                    "state": state,
                    "project": str(project) if project else None,
                    "q": text,
                },
                "paged": at is not None,
            },
        )

    # --- /leads/<id> ---------------------------------------------------------

    def lead(self, conn: psycopg.Connection, lead_text: str, params: Params) -> Page:
        lead_id = _uuid(lead_text, "lead")
        show = _one(params, "show", 20) or "all"
        if show not in SHOW:
            raise Problem(400, f"show is one of {', '.join(SHOW)}, not {show!r}")
        through_at, through_id = _cursor(params, "through")
        found = self.reads.run(conn, "read_lead", [lead_id])
        if not found:
            raise Problem(404, f"no lead {lead_id} in the replica")
        analytics = self.reads.run(
            conn, "read_lead_analytics", [lead_id, DAYS, TRANSITIONS]
        )
        if analytics:
            _chartable(analytics[0])
        kinds = SHOW[show]
        rows = self.reads.run(
            conn, "read_thread", [lead_id, through_at, through_id, PAGE_SIZE, kinds]
        )
        older = rows[PAGE_SIZE] if len(rows) > PAGE_SIZE else None
        events = list(reversed(rows[:PAGE_SIZE]))
        newer = None
        if through_at is not None and events:
            after = self.reads.run(
                conn,
                "read_thread_newer",
                [
                    lead_id,
                    events[-1]["occurred_at"],
                    events[-1]["id"],
                    PAGE_SIZE,
                    kinds,
                ],
            )
            if after:
                newer = after[-1] if len(after) == PAGE_SIZE else "latest"
        return Page(
            "lead.html",
            {
                "lead": found[0],
                "analytics": analytics[0] if analytics else None,
                "events": events,
                "older": older,
                "newer": newer,
                "show": show,
                "shows": list(SHOW),
                "hit": str(through_id) if through_id else None,
            },
        )

    # --- /conversations/<id> -------------------------------------------------

    def conversation(self, conn: psycopg.Connection, text: str) -> Page:
        conversation_id = _uuid(text, "conversation")
        found = self.reads.run(conn, "read_conversation", [conversation_id])
        if not found:
            raise Problem(404, f"no conversation {conversation_id} in the replica")
        return Page("conversation.html", {"c": found[0]})

    # --- /search -------------------------------------------------------------

    def search(self, conn: psycopg.Connection, params: Params) -> Page:
        form = {
            k: params.get(k, "")[:MAX_QUERY_CHARS]
            for k in ("q", "direction", "kind", "from", "to", "lead")
        }
        if "q" not in params:
            return Page("search.html", {"form": form, "hits": None})
        text = params["q"]
        if not text.strip():
            raise Problem(400, "type one or more words to search for")
        if len(text) > MAX_QUERY_CHARS or len(text.split()) > MAX_QUERY_WORDS:
            raise Problem(
                400,
                f"a search is at most {MAX_QUERY_WORDS} words and"
                f" {MAX_QUERY_CHARS} characters",
            )
        direction = _one(params, "direction", 20)
        if direction not in (None, "inbound", "outbound"):
            raise Problem(400, "direction is inbound or outbound")
        kind = _one(params, "kind", 20)
        if kind not in (None, "message", "conversation"):
            raise Problem(400, "kind is message or conversation")
        lead_id = _uuid(_one(params, "lead"), "lead")
        since = _date(_one(params, "from", 40), "from")
        until = _date(_one(params, "to", 40), "to")
        window_at, window_id = _cursor(params, "window")
        rank = _one(params, "through_rank", 40)
        through_at, through_id = _cursor(params, "through")
        if (rank is None) != (through_at is None):
            raise Problem(400, "through_rank goes with through_at and through_id")
        try:
            rank_value = Decimal(rank) if rank is not None else None
        except InvalidOperation:
            raise Problem(400, f"not a rank: {rank[:40]!r}") from None
        rows = self.reads.run(
            conn,
            "read_search",
            [
                text,
                lead_id,
                direction,
                kind,
                since,
                until,
                window_at,
                window_id,
                SEARCH_WINDOW,
                rank_value,
                through_at,
                through_id,
                SEARCH_PAGE,
            ],
        )
        following = rows[SEARCH_PAGE] if len(rows) > SEARCH_PAGE else None
        next_window = None
        if rows and rows[0]["next_window_at"] is not None and following is None:
            next_window = rows[0]
        return Page(
            "search.html",
            {
                "form": form,
                "hits": rows[:SEARCH_PAGE],
                "following": following,
                "next_window": next_window,
                "window": {"at": window_at, "id": window_id},
                "window_size": SEARCH_WINDOW,
            },
        )

    # --- /dashboards ---------------------------------------------------------

    def dashboards(self, conn: psycopg.Connection) -> Page:
        tables = []
        for name in DASHBOARD_VIEWS:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    sql.SQL("select * from {}").format(
                        sql.Identifier(self.schemas.models, name)
                    )
                )
                columns = [c.name for c in cur.description or []]
                tables.append(
                    {"name": name, "columns": columns, "rows": cur.fetchall()}
                )
        snapshot = conn.execute(
            sql.SQL(
                "select run_id, snapshot_at from {} where status = 'succeeded'"
                " order by run_id desc limit 1"
            ).format(sql.Identifier(self.schemas.meta, "runs"))
        ).fetchone()
        return Page(
            "dashboards.html",
            {
                "tables": tables,
                "run_id": snapshot[0] if snapshot else None,
                "snapshot_at": snapshot[1] if snapshot else None,
            },
        )


def _date(text: str | None, what: str) -> datetime | None:
    """A search bound: a date (midnight UTC) or a time with its offset."""
    if text is None:
        return None
    if len(text) == 10:
        text += "T00:00:00+00:00"
    return _when(text, what)


def _chartable(analytics: dict[str, Any]) -> None:
    """Per day with short labels; per hour with every hour, zero or not."""
    for day in analytics["by_day"]:
        day["label"] = str(day["message_date"])[5:]
    hours = {h["hour_of_day"]: h for h in analytics["by_hour"]}
    analytics["by_hour"] = [
        {
            "label": hour,
            "messages_in": hours.get(hour, {}).get("messages_in", 0),
            "messages_out": hours.get(hour, {}).get("messages_out", 0),
        }
        for hour in range(24)
    ]
