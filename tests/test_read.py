"""The application's reads (analyses/read_*.sql) against the read models, on the
synced replica: each returns exactly what the models hold, in their order, page
after page; the analytics follow their rules on real threads."""

from __future__ import annotations

import statistics
import uuid
from datetime import timedelta

import psycopg
import pytest
from conftest import PROJECT_DIR

from crm_replica.serve import Reads, model_schemas
from crm_replica.settings import schemas as settings

SCHEMAS = settings.load(PROJECT_DIR)


@pytest.fixture(scope="module")
def reads() -> Reads:
    return Reads.load(PROJECT_DIR, SCHEMAS)


@pytest.fixture(scope="module")
def conn(synced):
    with psycopg.connect(
        synced["replica"], autocommit=True, prepare_threshold=None
    ) as c:
        yield c


def thread(conn, lead, kinds=None) -> list[tuple]:
    """lead_thread's rows of a lead, newest first: what a thread's pages show."""
    return conn.execute(
        "select occurred_at, id, kind from replica_read.lead_thread"
        " where lead_id = %s and (%s::text[] is null or kind = any(%s::text[]))"
        " order by occurred_at desc, id desc",
        (lead, kinds, kinds),
    ).fetchall()


def leads(conn) -> list[uuid.UUID]:
    """The leads the reads show (lead_details: master's, and the application's
    own only when var local_only_leads keeps them)."""
    return [
        r[0]
        for r in conn.execute(
            "select lead_id from replica_read.lead_details order by lead_id"
        )
    ]


def test_every_read_names_live_relations(reads, conn):
    relations = model_schemas(PROJECT_DIR, SCHEMAS)
    for name, text in reads.statements.items():
        assert "{{" not in text and "{%" not in text, name
        assert text.lstrip().startswith("/*"), f"{name}: its header, as a comment"
        for model, schema in relations.items():
            if f'"{schema}"."{model}"' in text:
                found = conn.execute(
                    "select to_regclass(%s)", (f'"{schema}"."{model}"',)
                ).fetchone()[0]
                assert found is not None, (name, model)


@pytest.mark.parametrize(
    "kinds", [None, ["conversation"], ["message", "conversation"], ["status_change"]]
)
def test_thread_pages_walk_each_lead_thread_in_order(reads, conn, kinds):
    for lead in leads(conn):
        expected = thread(conn, lead, kinds)
        seen, through, size = [], (None, None), 7
        while True:
            rows = reads.run(conn, "read_thread", [lead, *through, size, kinds])
            seen += [(r["occurred_at"], r["id"], r["kind"]) for r in rows[:size]]
            if len(rows) <= size:
                break
            through = (rows[size]["occurred_at"], rows[size]["id"])
        assert seen == expected, lead


def test_a_thread_row_carries_its_text_and_links(reads, conn):
    lead = conn.execute(
        "select lead_id from replica_read.lead_thread where kind = 'message'"
        " group by 1 order by count(*) desc limit 1"
    ).fetchone()[0]
    rows = reads.run(conn, "read_thread", [lead, None, None, 500, None])
    view = {
        r[0]: r[1:]
        for r in conn.execute(
            "select id, kind, direction, body, status, conversation_id,"
            " whatsapp_message_id, message_body"
            " from replica_read.lead_thread where lead_id = %s",
            (lead,),
        )
    }
    for row in rows:
        assert (
            row["kind"],
            row["direction"],
            row["body"],
            row["status"],
            row["conversation_id"],
            row["whatsapp_message_id"],
            row["message_body"],
        ) == view[row["id"]]
    kinds = {r["kind"] for r in rows}
    assert {"message", "conversation"} <= kinds
    assert any(r["whatsapp_message_id"] for r in rows if r["kind"] == "conversation")


WHITESPACE = " \t\r\n"


def sent_text(turn_text: str | None, message_text: str | None) -> str | None:
    """The rule, in Python: a turn shows the text of the WhatsApp message it stores
    when that text, trimmed, is not empty and not the turn's own (trimmed)."""
    sent = (message_text or "").strip(WHITESPACE)
    if not sent or sent == (turn_text or "").strip(WHITESPACE):
        return None
    return message_text


def pages(reads, conn, lead, kinds=None, size=7) -> list[dict]:
    """Every row of a lead's thread, page after page of read_thread."""
    seen, through = [], (None, None)
    while True:
        rows = reads.run(conn, "read_thread", [lead, *through, size, kinds])
        seen += rows[:size]
        if len(rows) <= size:
            return seen
        through = (rows[size]["occurred_at"], rows[size]["id"])


def test_the_newest_inbound_message_is_on_a_page_with_its_text(reads, conn):
    lead, message, content = conn.execute(
        "select links.lead_id, links.id, m.content"
        " from replica_read.thread_message_links as links"
        " inner join public.whatsapp_messages as m on links.id = m.id"
        " where links.direction = 'inbound'"
        " order by links.occurred_at desc, links.id desc limit 1"
    ).fetchone()
    stored_by = conn.execute(
        "select count(*) from"
        " replica_intermediate.int_conversations_linked_to_whatsapp_messages"
        " where whatsapp_message_id = %s",
        (message,),
    ).fetchone()[0]
    assert content and stored_by  # the demo's: turns store it, with other texts
    shown = [r for r in pages(reads, conn, lead) if r["whatsapp_message_id"] == message]
    assert len(shown) == stored_by
    for row in shown:
        assert content in (row["body"], row.get("message_body")), row


def test_every_turn_shows_the_text_of_the_message_it_stores_when_it_differs(
    reads, conn
):
    texts = {
        r[0]: r[1:]
        for r in conn.execute(
            "select c.id, c.message_content, m.content from public.conversations c"
            " left join replica_intermediate"
            ".int_conversations_linked_to_whatsapp_messages l"
            " on l.conversation_id = c.id"
            " left join public.whatsapp_messages m on m.id = l.whatsapp_message_id"
        )
    }
    view = dict(
        conn.execute(
            "select id, message_body from replica_read.lead_thread"
            " where kind = 'conversation'"
        ).fetchall()
    )
    assert view == {turn: sent_text(*texts[turn]) for turn in view}
    cases = set()
    for lead in leads(conn):
        for row in pages(reads, conn, lead, size=50):
            if row["kind"] != "conversation":
                assert row["message_body"] is None, row
                continue
            turn_text, message_text = texts[row["id"]]
            assert row["message_body"] == sent_text(turn_text, message_text), row
            cases.add(
                "no message"
                if row["whatsapp_message_id"] is None
                else "differs"
                if row["message_body"] is not None
                else "same"
            )
    assert cases == {"no message", "differs", "same"}


def test_newer_goes_on_from_the_middle_of_a_thread(reads, conn):
    lead = leads(conn)[0]
    rows = list(reversed(thread(conn, lead)))  # oldest first
    middle = len(rows) // 2
    after = reads.run(
        conn, "read_thread_newer", [lead, rows[middle][0], rows[middle][1], 5, None]
    )
    assert [(r["occurred_at"], r["id"]) for r in after] == [
        r[:2] for r in rows[middle + 1 : middle + 6]
    ]


COLUMNS = [
    "name",
    "email",
    "phone",
    "status",
    "created_at",
    "updated_at",
    "client_id",
    "current_project_id",
    "state",
    "bant_status",
    "state_status_metadata",
    "lead_metadata",
    "last_message_from",
    "first_interaction",
    "last_interaction",
    "interaction_count",
    "next_follow_up",
    "follow_up_count",
    "requires_human_review",
    "last_agent_processed_at",
]


def test_lead_details_are_the_lead_and_what_its_thread_holds(reads, conn):
    master = ", ".join("l." + c for c in COLUMNS)
    mine = ", ".join("d." + c for c in COLUMNS)
    # The application's leads table holds its own leads beside master's; the
    # reads show master's (var local_only_leads: archive).
    differing = conn.execute(
        "select count(*) from (select * from public.leads where id in"
        " (select id from master_raw.leads)) as l full join replica_read.lead_details"
        f" as d on d.lead_id = l.id where (l.id, {master})"
        f" is distinct from (d.lead_id, {mine})"
    ).fetchone()[0]
    assert len(COLUMNS) == 20 and differing == 0  # id and 20: every lead's 21
    for lead in leads(conn):
        [details] = reads.run(conn, "read_lead", [lead])
        counts = conn.execute(
            "select count(*) filter (where kind in ('message', 'conversation')"
            " and direction = 'inbound'), count(*) filter (where kind in"
            " ('message', 'conversation') and direction = 'outbound'),"
            " count(*) filter (where kind = 'conversation'),"
            " count(*) filter (where kind = 'status_change'),"
            " count(*) filter (where kind = 'agent_interaction'),"
            " max(occurred_at) filter (where kind in ('message', 'conversation'))"
            " from replica_read.lead_thread where lead_id = %s",
            (lead,),
        ).fetchone()
        assert (
            details["messages_in"],
            details["messages_out"],
            details["conversation_turns"],
            details["status_changes"],
            details["agent_interactions"],
            details["last_message_at"],
        ) == counts
        names = conn.execute(
            "select c.name, p.name from public.leads l"
            " left join public.clients c on c.id = l.client_id"
            " left join public.projects p on p.id = l.current_project_id"
            " where l.id = %s",
            (lead,),
        ).fetchone()
        assert (details["client_name"], details["project_name"]) == names
    assert reads.run(conn, "read_lead", [uuid.uuid4()]) == []


def expected_analytics(conn, lead) -> dict:
    """The rules, in Python, on the lead's thread."""
    rows = conn.execute(
        "select occurred_at, id, direction from replica_read.lead_thread"
        " where lead_id = %s and kind in ('message', 'conversation')"
        " order by occurred_at, id",
        (lead,),
    ).fetchall()
    outbound = sorted(r[0] for r in rows if r[2] == "outbound")
    waits = []
    for at, _, direction in rows:
        if direction == "inbound":
            reply = next((o for o in outbound if o >= at), None)
            if reply is not None:
                waits.append((reply - at).total_seconds())
    gaps = [(b[0] - a[0], a[0]) for a, b in zip(rows, rows[1:], strict=False)]
    longest = max(gaps, key=lambda g: (g[0], -g[1].timestamp()), default=None)
    inbound = sum(1 for r in rows if r[2] == "inbound")
    return {
        "messages_in": inbound,
        "inbound_answered": len(waits),
        "median": statistics.median(waits) if waits else None,
        "silence": longest[0].total_seconds() if longest else None,
        "silence_from": longest[1] if longest else None,
    }


def test_analytics_follow_the_rules_on_real_threads(reads, conn):
    for lead in leads(conn):
        [analytics] = reads.run(conn, "read_lead_analytics", [lead, 365, 1000])
        want = expected_analytics(conn, lead)
        assert analytics["messages_in"] == want["messages_in"]
        assert analytics["inbound_answered"] == want["inbound_answered"]
        if want["median"] is None:
            assert analytics["response_seconds_median"] is None
        else:
            assert analytics["response_seconds_median"] == pytest.approx(want["median"])
        assert analytics["longest_silence_seconds"] == want["silence"]
        assert analytics["longest_silence_from"] == want["silence_from"]
        days = analytics["by_day"]
        assert sum(d["messages_in"] for d in days) == want["messages_in"]
        assert (
            sum(h["messages_in"] for h in analytics["by_hour"]) == want["messages_in"]
        )
        bant = conn.execute(
            "select count(*) from public.lead_status_history"
            " where lead_id = %s and status_type = 'bant'",
            (lead,),
        ).fetchone()[0]
        assert analytics["bant_transition_count"] == bant
        assert len(analytics["bant_transitions"]) == bant
        if bant:
            assert sum(t["is_current"] for t in analytics["bant_transitions"]) == 1


def test_conversation_has_its_message_audit_log_and_agent_runs(reads, conn):
    turn, message = conn.execute(
        "select conversation_id, whatsapp_message_id"
        " from replica_intermediate.int_conversations_linked_to_whatsapp_messages"
        " where whatsapp_message_id is not null order by conversation_id limit 1"
    ).fetchone()
    [c] = reads.run(conn, "read_conversation", [turn])
    assert [m["id"] for m in c["whatsapp_messages"]] == [str(message)]
    content = conn.execute(
        "select content from public.whatsapp_messages where id = %s", (message,)
    ).fetchone()[0]
    assert c["whatsapp_messages"][0]["content"] == content
    audited = conn.execute(
        "select conversation_id, count(*) from public.conversation_audit_log"
        " group by 1 order by 2 desc limit 1"
    ).fetchone()
    [c] = reads.run(conn, "read_conversation", [audited[0]])
    assert len(c["audit_log"]) == audited[1]
    triggered = conn.execute(
        "select triggering_message_id, count(*) from public.agent_interaction_logs"
        " where triggering_message_id is not null group by 1 order by 2 desc limit 1"
    ).fetchone()
    [c] = reads.run(conn, "read_conversation", [triggered[0]])
    assert len(c["agent_interactions"]) == triggered[1]
    on_thread = conn.execute(
        "select occurred_at from replica_read.lead_thread where id = %s", (turn,)
    ).fetchone()[0]
    assert c["occurred_at"] is not None and on_thread is not None
    assert reads.run(conn, "read_conversation", [uuid.uuid4()]) == []


def search_all(reads, conn, text, *, window=4, page=3, **filters) -> list[dict]:
    """Every hit of a search, window after window, page after page."""
    f = {"lead": None, "direction": None, "kind": None, "since": None, "until": None}
    f.update(filters)
    hits, window_at = [], (None, None)
    while True:
        through = (None, None, None)
        while True:
            rows = reads.run(
                conn,
                "read_search",
                [
                    text,
                    f["lead"],
                    f["direction"],
                    f["kind"],
                    f["since"],
                    f["until"],
                    *window_at,
                    window,
                    *through,
                    page,
                ],
            )
            hits += rows[:page]
            if len(rows) <= page:
                break
            nxt = rows[page]
            through = (nxt["rank"], nxt["occurred_at"], nxt["id"])
        if not rows or rows[0]["next_window_at"] is None:
            return hits
        window_at = (rows[0]["next_window_at"], rows[0]["next_window_id"])


def matching(conn, tsquery, where="true", params=()) -> set:
    return {
        r[0]
        for r in conn.execute(
            "select id from replica_read.lead_thread"
            " where kind in ('message', 'conversation') and not is_test_mode"
            f" and to_tsvector('simple', body) @@ %s::tsquery and {where}",
            (tsquery, *params),
        )
    }


def test_search_finds_every_match_once_ranked_within_windows(reads, conn):
    word = "תודה"
    hits = search_all(reads, conn, word)
    ids = [h["id"] for h in hits]
    assert len(ids) == len(set(ids)) > 4  # several windows
    assert set(ids) == matching(conn, word)
    for start in range(0, len(hits), 4):  # each window of 4: best first
        window = hits[start : start + 4]
        ranks = [(h["rank"], h["occurred_at"], h["id"]) for h in window]
        assert ranks == sorted(ranks, reverse=True)
    for h in hits:
        assert "\ue000" in h["headline"] and "\ue001" in h["headline"]
        place = conn.execute(
            "select lead_id, occurred_at from replica_read.lead_thread where id = %s",
            (h["id"],),
        ).fetchone()
        assert place == (h["lead_id"], h["occurred_at"])  # its place in the thread


def test_search_prefix_filters_and_odd_text(reads, conn):
    prefix = {h["id"] for h in search_all(reads, conn, "תוד*")}
    assert prefix == matching(conn, "תוד:*") and prefix
    lead, at = conn.execute(
        "select lead_id, occurred_at from replica_read.lead_thread"
        " where kind = 'conversation' order by occurred_at limit 1 offset 200"
    ).fetchone()
    for filters, where, params in [
        ({"direction": "inbound"}, "direction = 'inbound'", ()),
        ({"kind": "message"}, "kind = 'message'", ()),
        ({"lead": lead}, "lead_id = %s", (lead,)),
        ({"since": at}, "occurred_at >= %s", (at,)),
        (
            {"until": at + timedelta(days=1)},
            "occurred_at < %s",
            (at + timedelta(days=1),),
        ),
    ]:
        found = {h["id"] for h in search_all(reads, conn, "תוד*", **filters)}
        assert found == matching(conn, "תוד:*", where, params), filters
    assert search_all(reads, conn, "nosuchword") == []
    for odd in ["'); drop table x; --", "a & | ! ( ) : * <> \\", "***", "  "]:
        assert isinstance(search_all(reads, conn, odd), list)


def test_leads_list_pages_and_filters(reads, conn):
    everyone = conn.execute(
        "select lead_id from replica_read.lead_details"
        " order by last_activity_at desc, lead_id desc"
    ).fetchall()
    seen, through = [], (None, None)
    while True:
        rows = reads.run(conn, "read_leads", [None, None, None, None, *through, 4])
        seen += [(r["lead_id"],) for r in rows[:4]]
        if len(rows) <= 4:
            break
        through = (rows[4]["last_activity_at"], rows[4]["lead_id"])
    assert seen == everyone
    bant = reads.run(
        conn, "read_leads", ["need_qualified", None, None, None, None, None, 50]
    )
    assert len(bant) == 2 and {r["bant_status"] for r in bant} == {"need_qualified"}
    name, phone = conn.execute(
        "select name, phone from replica_read.lead_details limit 1"
    ).fetchone()
    by_name = reads.run(
        conn, "read_leads", [None, None, None, name[1:4], None, None, 50]
    )
    assert name in {r["name"] for r in by_name}
    by_phone = reads.run(
        conn, "read_leads", [None, None, None, phone[-6:], None, None, 50]
    )
    assert [r["phone"] for r in by_phone] == [phone]
    assert (
        reads.run(conn, "read_leads", [None, None, None, "%_%", None, None, 50]) == []
    )
    facets = reads.run(conn, "read_lead_facets", [])
    bant_counts = {
        f["facet_value"]: f["lead_count"] for f in facets if f["facet"] == "bant_status"
    }
    assert bant_counts == {"no_bant": 8, "need_qualified": 2, "partially_qualified": 1}
