"""`replica serve`: the viewer's pages against the synced replica, bad input,
read-only sessions, a publish underneath it, and the pages in headless Chromium
(the DOM against the database, a screenshot, the keyboard through a thread)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from html import unescape

import psycopg
import pytest
from browser import FLAGS, Browser, near, need_chromium, png_pixels
from conftest import PROJECT_DIR, run_cli

from crm_replica.serve import ReadOnlyPool, open_server
from crm_replica.serve.pages import cursor_text
from crm_replica.settings import schemas as settings

SCHEMAS = settings.load(PROJECT_DIR)
OUT_GREEN = (0xDC, 0xF3, 0xE4)  # an outbound bubble
ACCENT = (0x3B, 0x6F, 0xD8)  # the bars


@pytest.fixture(scope="module")
def viewer(synced):
    server = open_server(
        synced["replica"], PROJECT_DIR, SCHEMAS, port=0, quiet=True, pool_size=3
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def db(synced):
    with psycopg.connect(synced["replica"], autocommit=True) as conn:
        yield conn


def get(server, path: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(server.url.rstrip("/") + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def busiest_lead(db) -> uuid.UUID:
    return db.execute(
        "select lead_id from replica_read.lead_details"
        " order by messages_in + messages_out desc, lead_id limit 1"
    ).fetchone()[0]


def thread_ids(db, lead, n=50) -> list[str]:
    """The newest n events of a lead's thread, oldest first (as the page shows)."""
    rows = db.execute(
        "select id from replica_read.lead_thread where lead_id = %s"
        " order by occurred_at desc, id desc limit %s",
        (lead, n),
    ).fetchall()
    return [str(r[0]) for r in reversed(rows)]


def test_leads_page_lists_the_leads_with_filters(viewer, db):
    status, html = get(viewer, "/")
    assert status == 200
    listed = re.findall(r'data-lead="([0-9a-f-]{36})"', html)
    # The leads the reads show (lead_details): master's; the application's own
    # leads in its table are not the replica's.
    assert sorted(listed) == sorted(
        str(r[0]) for r in db.execute("select lead_id from replica_read.lead_details")
    )
    assert (
        len(listed) == db.execute("select count(*) from master_raw.leads").fetchone()[0]
    )
    status, html = get(viewer, "/?bant_status=need_qualified")
    assert len(re.findall(r"data-lead=", html)) == 2
    name = db.execute(
        "select name from replica_read.lead_details order by name limit 1"
    ).fetchone()[0]
    status, html = get(viewer, "/?q=" + urllib.request.quote(name))
    assert name in unescape(html)


def test_lead_page_shows_details_analytics_and_thread(viewer, db):
    lead = busiest_lead(db)
    status, html = get(viewer, f"/leads/{lead}")
    assert status == 200
    details = db.execute(
        "select name, messages_in, messages_out, conversation_turns"
        " from replica_read.lead_details where lead_id = %s",
        (lead,),
    ).fetchone()
    assert details[0] in unescape(html)
    assert f'id="messages-in">{details[1]:,}<' in html
    assert f'id="messages-out">{details[2]:,}<' in html
    assert f'id="turns">{details[3]:,}<' in html
    assert re.findall(r'id="e-([0-9a-f-]{36})"', html) == thread_ids(db, lead)
    assert 'id="older"' in html  # more than a page
    assert html.count('<p dir="auto">') >= 1 and "All 21 fields" in html
    status, html = get(viewer, f"/leads/{lead}?show=conversations")
    kinds = set(re.findall(r'data-kind="(\w+)"', html))
    assert kinds == {"conversation"}


def test_older_messages_follow_the_keyset(viewer, db):
    lead = busiest_lead(db)
    _, html = get(viewer, f"/leads/{lead}")
    older = unescape(re.search(r'id="older" rel="prev" href="([^"]+)"', html).group(1))
    status, html = get(viewer, older)
    assert status == 200
    shown = re.findall(r'id="e-([0-9a-f-]{36})"', html)
    assert shown == thread_ids(db, lead, 10**6)[:-50][-50:]
    assert 'id="newer"' in html


def test_conversation_page(viewer, db):
    turn, message = db.execute(
        "select conversation_id, whatsapp_message_id"
        " from replica_intermediate.int_conversations_linked_to_whatsapp_messages"
        " where whatsapp_message_id is not null order by conversation_id limit 1"
    ).fetchone()
    status, html = get(viewer, f"/conversations/{turn}")
    assert status == 200
    content, lead = db.execute(
        "select message_content, lead_id from conversations where id = %s", (turn,)
    ).fetchone()
    assert content in unescape(html)
    assert f'data-id="{message}"' in html
    link = unescape(re.search(r'id="in-thread" href="([^"]+)"', html).group(1))
    status, page = get(viewer, link.split("#")[0])
    assert status == 200 and f'id="e-{turn}"' in page and "hit" in page


def test_a_turn_shows_the_whatsapp_text_it_stores_when_it_differs(viewer, db):
    """The newest inbound WhatsApp message is stored by turns with other texts:
    each turn's bubble shows its own text and, marked, the message's."""
    lead, message, content = db.execute(
        "select links.lead_id, links.id, m.content"
        " from replica_read.thread_message_links as links"
        " inner join whatsapp_messages as m on links.id = m.id"
        " where links.direction = 'inbound'"
        " order by links.occurred_at desc, links.id desc limit 1"
    ).fetchone()
    turns = db.execute(
        "select t.id, c.message_content, t.occurred_at"
        " from replica_read.lead_thread as t"
        " inner join conversations as c on t.id = c.id"
        " where t.kind = 'conversation' and t.whatsapp_message_id = %s",
        (message,),
    ).fetchall()
    assert turns and content.strip()
    for turn, text, at in turns:
        query = urllib.parse.urlencode(
            {"through_at": cursor_text(at), "through_id": str(turn)}
        )
        status, html = get(viewer, f"/leads/{lead}?{query}")
        assert status == 200
        block = unescape(html.split(f'id="e-{turn}"', 1)[1].split("</div>", 1)[0])
        assert f'<p dir="auto">{text or ""}</p>' in block
        sent = (
            f'<blockquote class="sent" data-whatsapp-message="{message}">'
            f'<b>Sent on WhatsApp</b><p dir="auto">{content}</p></blockquote>'
        )
        if (text or "").strip(" \t\r\n") == content.strip(" \t\r\n"):
            assert 'class="sent"' not in block
        else:
            assert sent in block
    # on the lead's latest page, a bubble shows a sent text exactly when its row has one
    _, html = get(viewer, f"/leads/{lead}")
    for event in re.findall(r'id="e-([0-9a-f-]{36})"', html):
        block = html.split(f'id="e-{event}"', 1)[1].split("</div>", 1)[0]
        [sent_text] = db.execute(
            "select message_body from replica_read.lead_thread where id = %s",
            (event,),
        ).fetchone()
        assert ('class="sent"' in block) == (sent_text is not None), event


def test_search_highlights_hits_that_open_the_thread_at_them(viewer, db):
    status, html = get(viewer, "/search?q=" + urllib.request.quote("תודה"))
    assert status == 200
    assert "<mark>תודה</mark>" in html
    links = [unescape(h) for h in re.findall(r'class="hit" href="([^"]+)"', html)]
    assert links
    path, _, anchor = links[0].partition("#")
    status, page = get(viewer, path)
    hit = anchor.removeprefix("e-")
    assert status == 200
    assert re.search(rf'class="event [a-z]+ hit" id="e-{hit}"', page)
    status, html = get(
        viewer, "/search?q=" + urllib.request.quote("<script>alert(1)</script>")
    )
    assert status == 200 and "<script>alert" not in html


def test_dashboards_as_of_the_snapshot(viewer, db):
    status, html = get(viewer, "/dashboards")
    assert status == 200
    run_id = db.execute(
        "select max(run_id) from replica_meta.runs where status = 'succeeded'"
    ).fetchone()[0]
    assert f"run {run_id}" in html
    for name in settings.DASHBOARD_VIEWS:
        assert f'id="{name}"' in html
    total = db.execute("select total_leads from dashboard_business_kpis").fetchone()[0]
    assert f">{total}<" in html
    assert html.count("<svg") >= 2


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/leads/not-a-uuid", 400, "not a lead id"),
        (f"/leads/{uuid.UUID(int=0)}", 404, "no lead"),
        ("/conversations/123", 400, "not a conversation id"),
        (f"/conversations/{uuid.UUID(int=0)}", 404, "no conversation"),
        ("/search?q=", 400, "type one or more words"),
        ("/search?q=%20%20", 400, "type one or more words"),
        ("/search?q=" + "word%20" * 13, 400, "at most 12 words"),
        ("/search?q=" + "x" * 300, 400, "at most 12 words and 200 characters"),
        ("/search?q=a&direction=up", 400, "direction is inbound or outbound"),
        ("/search?q=a&through_rank=1", 400, "goes with"),
        ("/?through_at=yesterday&through_id=x", 400, "not a time"),
        (f"/leads/{uuid.UUID(int=0)}?through_at=2026-01-01", 400, "offset"),
        (f"/leads/{uuid.UUID(int=0)}?show=everything", 400, "show is one of"),
        ("/?q=%ff", 400, "cannot be read"),
        ("/nowhere", 404, "no page"),
    ],
)
def test_bad_input_is_a_clear_4xx_page(viewer, path, status, says):
    got, html = get(viewer, path)
    assert got == status, html[-500:]
    assert says in unescape(html)
    assert "Traceback" not in html and 'id="error"' in html


def test_the_viewer_only_reads(viewer, synced):
    assert get(viewer, "/", method="POST")[0] == 405
    assert get(viewer, "/", method="HEAD")[0] == 200
    pool = ReadOnlyPool(synced["replica"], size=1, statement_timeout=0.3).open()
    try:
        with pool.transaction() as conn:
            assert conn.execute("show transaction_read_only").fetchone()[0] == "on"
            assert conn.execute("show statement_timeout").fetchone()[0] == "300ms"
        with (
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
            pool.transaction() as c,
        ):
            c.execute("create table replica_read.nope (x int)")
        with pytest.raises(psycopg.errors.QueryCanceled), pool.transaction() as c:
            c.execute("select pg_sleep(2)")
    finally:
        pool.close()


def test_a_page_that_waits_too_long_is_a_503(synced, db):
    server = open_server(
        synced["replica"],
        PROJECT_DIR,
        SCHEMAS,
        port=0,
        quiet=True,
        statement_timeout=0.5,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with psycopg.connect(synced["replica"]) as locker:
            locker.execute(
                "lock table replica_read.lead_details in access exclusive mode"
            )
            status, html = get(server, "/")
            locker.rollback()
        assert status == 503 and "took longer than 0.5 s" in html
        assert get(server, "/")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_pages_read_the_new_replica_once_a_publish_commits(viewer, db, synced):
    """A publish moves relations between schemas in one transaction: a page read
    while it runs waits for it, and reads the new relation after the commit."""
    lead = busiest_lead(db)
    assert get(viewer, f"/leads/{lead}")[0] == 200  # the pool's sessions know the old
    db.execute("create schema if not exists swap_new")
    db.execute("create schema if not exists swap_old")
    db.execute(
        "create table swap_new.lead_details as select * from replica_read.lead_details"
    )
    db.execute("update swap_new.lead_details set name = name || ' (published)'")
    try:
        with psycopg.connect(synced["replica"]) as publish:
            publish.execute("alter table replica_read.lead_details set schema swap_old")
            publish.execute("alter table swap_new.lead_details set schema replica_read")
            answer: list = []
            reader = threading.Thread(
                target=lambda: answer.append(get(viewer, f"/leads/{lead}"))
            )
            reader.start()
            time.sleep(1)
            assert not answer  # waiting for the publish
            publish.commit()
            reader.join(30)
        status, html = answer[0]
        assert status == 200 and "(published)" in unescape(html)
    finally:
        with db.transaction():
            db.execute("drop table if exists replica_read.lead_details")
            db.execute("alter table swap_old.lead_details set schema replica_read")
        db.execute("drop schema swap_new cascade")
        db.execute("drop schema swap_old cascade")
    assert "(published)" not in get(viewer, f"/leads/{lead}")[1]


# --- in a real browser ----------------------------------------------------------


def test_lead_page_in_chromium(viewer, db, tmp_path):
    binary = need_chromium()
    lead = busiest_lead(db)
    url = f"{viewer.url}leads/{lead}"
    dom = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={tmp_path / 'p1'}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rows = db.execute(
        "select id, body from replica_read.lead_thread where lead_id = %s"
        " and kind in ('message', 'conversation')"
        " order by occurred_at desc, id desc limit 50",
        (lead,),
    ).fetchall()
    ids = thread_ids(db, lead)
    for event_id, body in rows:
        if str(event_id) in ids:
            block = dom.split(f'id="e-{event_id}"', 1)[1].split("</div>", 1)[0]
            assert f'<p dir="auto">{body}</p>' in unescape(block)
    assert re.search("[\u0590-\u05ff]", dom) and 'dir="auto"' in dom
    shot = tmp_path / "lead.png"
    subprocess.run(
        [
            binary,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'p2'}",
            "--window-size=1200,2000",
            f"--screenshot={shot}",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    width, height, colours = png_pixels(shot)
    assert (width, height) == (1200, 2000)
    assert len(colours) > 100, "the screenshot is (nearly) blank"
    assert near(ACCENT, colours), "no chart bar"
    assert near(OUT_GREEN, colours), "no outbound bubble"


def test_keyboard_moves_through_the_thread(viewer, db, tmp_path):
    need_chromium()
    lead = busiest_lead(db)
    ids = thread_ids(db, lead)
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(f"{viewer.url}leads/{lead}")
        active = "document.activeElement.id"
        browser.press("ArrowDown")
        assert browser.evaluate(active) == f"e-{ids[0]}"
        for _ in range(3):
            browser.press("ArrowDown")
        assert browser.evaluate(active) == f"e-{ids[3]}"
        browser.press("k")
        assert browser.evaluate(active) == f"e-{ids[2]}"
        browser.press("End")
        assert browser.evaluate(active) == f"e-{ids[-1]}"
        browser.press("ArrowDown")
        assert browser.evaluate(active) == f"e-{ids[-1]}"
        # a search hit opens its thread focused on it
        _, html = get(viewer, "/search?q=" + urllib.request.quote("תודה"))
        link = unescape(re.search(r'class="hit" href="([^"]+)"', html).group(1))
        browser.open(viewer.url.rstrip("/") + link)
        assert browser.evaluate(active) == link.split("#")[1]
        browser.press("ArrowUp")
        assert browser.evaluate(active).startswith("e-")
        assert browser.evaluate(active) != link.split("#")[1]
    finally:
        browser.close()


# --- the command ------------------------------------------------------------------


def test_serve_command_serves_until_ctrl_c(synced, tmp_path):
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crm_replica.cli",
            "serve",
            "--replica-url",
            synced["replica"],
            "--project-dir",
            str(PROJECT_DIR),
            "--workdir",
            str(tmp_path),
            "--port",
            "0",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as at a terminal, even when the tests run in the background.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = child.stdout.readline()
        url = re.search(r"on (http://127\.0\.0\.1:\d+/)", line).group(1)
        with urllib.request.urlopen(url + "dashboards", timeout=30) as r:
            assert r.status == 200
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        assert "stopped" in err and "Traceback" not in err
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_serve_refuses_a_replica_it_cannot_reach(tmp_path):
    result = run_cli(
        [
            "serve",
            "--replica-url",
            "postgresql://nobody@127.0.0.1:1/none",
            "--port",
            "0",
        ],
        tmp_path,
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot connect to the replica")
