"""The synthetic master follows docs/master.md: counts, shapes, links, dashboards."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from conftest import CRM_TIME_ZONE

from crm_replica.demo import synthetic
from crm_replica.settings import CRM_TABLES

# docs/master.md, "Tables and row counts".
DOCUMENTED = {
    "conversations": 499,
    "whatsapp_messages": 1296,
    "leads": 11,
    "clients": 2,
    "projects": 2,
    "agent_interaction_logs": 191,
    "conversation_audit_log": 14,
    "lead_status_history": 138,
}


@pytest.fixture(scope="module")
def master(master_url):
    """Master read as the CRM reads it: "today" is the CRM's."""
    with psycopg.connect(master_url, options=f"-c TimeZone={CRM_TIME_ZONE}") as conn:
        yield conn


def test_counts_match_the_documented_master(master):
    counts = {
        t: master.execute(f"select count(*) from {t}").fetchone()[0] for t in CRM_TABLES
    }
    assert counts == DOCUMENTED


def test_column_counts(master):
    def columns(table: str) -> int:
        return master.execute(
            "select count(*) from information_schema.columns where table_name = %s"
            " and table_schema = 'public'",
            (table,),
        ).fetchone()[0]

    assert columns("leads") == 21
    assert columns("conversations") == 12
    assert columns("whatsapp_messages") == 13


def test_bant_distribution_view(master):
    rows = master.execute(
        "select bant_status, lead_count, percentage, avg_score"
        " from dashboard_bant_distribution order by lead_count desc"
    ).fetchall()
    assert [(r[0], r[1], float(r[2]), r[3]) for r in rows] == [
        ("no_bant", 8, 72.73, None),
        ("need_qualified", 2, 18.18, None),
        ("partially_qualified", 1, 9.09, None),
    ]


def test_lead_funnel_view(master):
    rows = master.execute(
        "select stage_name, lead_count, conversion_rate, stage_order"
        " from dashboard_lead_funnel order by stage_order"
    ).fetchall()
    assert [(r[0], r[1], float(r[2]), r[3]) for r in rows] == [
        ("unqualified", 8, 72.73, 1),
        ("consideration", 2, 18.18, 2),
        ("intent", 1, 9.09, 3),
    ]


def test_business_kpis_view_reads_as_master_does(master):
    row = master.execute(
        "select total_leads, qualified_leads, fully_qualified_leads, avg_lead_score,"
        " new_leads, leads_today, leads_this_week, conversion_rate"
        " from dashboard_business_kpis"
    ).fetchone()
    assert row == (11, 0, 0, None, 7, 3, 4, 0)


def test_system_metrics_view_has_one_row(master):
    rows = master.execute(
        "select total_queue_items_24h, processed_messages,"
        " success_rate_percentage from dashboard_system_metrics"
    ).fetchall()
    assert len(rows) == 1
    total, processed, rate = rows[0]
    assert 0 < processed <= total and 0 < rate <= 100


def test_messages_link_to_leads_by_normalised_phone(master):
    linked = master.execute("""
        select count(*) from whatsapp_messages m
        join leads l on regexp_replace(l.phone, '\\D', '', 'g') in (
            regexp_replace(m.sender_number, '\\D', '', 'g'),
            regexp_replace(m.receiver_number, '\\D', '', 'g'))
        where not m.test_mode""").fetchone()[0]
    real = master.execute(
        "select count(*) from whatsapp_messages where not test_mode"
    ).fetchone()[0]
    assert 0 < linked < real  # most real messages link; unknown senders do not


def test_conversations_link_to_messages_by_wamid(master):
    linked, total = master.execute("""
        select count(m.id), count(*) from conversations c
        left join whatsapp_messages m
            on m.wamid = regexp_replace(c.message_id, '\\.\\d+$', '')""").fetchone()
    assert 0 < linked < total / 2  # a minority, as in real data


def test_payloads_are_webhook_shaped_with_bare_digits(master):
    rows = master.execute(
        "select sender_number, payload from whatsapp_messages"
        " where not test_mode and payload ? 'entry'"
    ).fetchall()
    assert rows
    for sender, payload in rows:
        message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        assert message["from"] == sender.lstrip("+")
        assert message["id"].startswith("wamid.")
        assert all(
            isinstance(v, str) for v in message.values() if not isinstance(v, dict)
        )


def test_load_test_rows_are_most_messages(master):
    test_rows, scenarios = master.execute(
        "select count(*), array_agg(distinct test_scenario_name) from whatsapp_messages"
        " where test_mode and wamid is null and payload = '{}'"
    ).fetchone()
    assert test_rows > 1296 / 2
    assert set(scenarios) == {"load_test", "rate_limit_test", "basic_message_flow"}


def test_text_is_hebrew_with_emoji(master):
    texts = [
        r[0]
        for r in master.execute("select message_content from conversations").fetchall()
    ]
    assert any(re.search("[\u0590-\u05ff]", t) for t in texts)
    assert any(re.search("[\U0001f300-\U0001faff]", t) for t in texts)


def test_same_seed_same_rows_other_seed_other_rows():
    a, b = synthetic.master_rows(seed=7), synthetic.master_rows(seed=7)
    c = synthetic.master_rows(seed=8)

    def ids(rows: synthetic.Rows) -> list:
        return [row[0] for row in rows.tables["leads"]]

    assert ids(a) == ids(b) != ids(c)
    assert [r[2] for r in a.tables["conversations"]] == [
        r[2] for r in b.tables["conversations"]
    ]


@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        # 01:30 on 16 January in Israel (UTC+2): its day began at 22:00 UTC.
        (datetime(2026, 1, 15, 23, 30, tzinfo=UTC), datetime(2026, 1, 15, 22, 0)),
        # 02:30 on 15 July (UTC+3, summer time): 21:00 UTC the day before.
        (datetime(2026, 7, 14, 23, 30, tzinfo=UTC), datetime(2026, 7, 14, 21, 0)),
        # Mid-afternoon in Israel, still the same day in UTC.
        (datetime(2026, 1, 15, 13, 0, tzinfo=UTC), datetime(2026, 1, 14, 22, 0)),
    ],
)
def test_todays_leads_are_the_crms_today(now, midnight):
    """Three leads since the CRM's midnight (Israel's), whatever UTC's day is."""
    midnight = midnight.replace(tzinfo=UTC)
    assert synthetic.crm_midnight(now) == midnight
    created = sorted(r[5] for r in synthetic.master_rows(now=now).tables["leads"])
    assert [midnight <= c <= now for c in created].count(True) == 3
    assert sum(now - timedelta(days=7) <= c <= now for c in created) == 4


def test_scale_multiplies_volume_tables_only():
    one, three = synthetic.master_rows(scale=1), synthetic.master_rows(scale=3)
    for table in CRM_TABLES:
        factor = 3 if table in synthetic.VOLUME_TABLES else 1
        assert len(three.tables[table]) == factor * len(one.tables[table])


def test_local_tables_overlap_master_with_other_values():
    master = synthetic.master_rows()
    ids = {
        t: [r[0] for r in master.tables[t]] for t in ("clients", "projects", "leads")
    }
    local = synthetic.local_rows(ids)
    assert {t: len(r) for t, r in local.tables.items()} == {
        "clients": 6,
        "projects": 7,
        "leads": 26,
    }
    assert all(len(r) == 6 for r in local.tables["leads"])
    for table, overlap in synthetic.LOCAL_OVERLAP.items():
        master_by_id = {r[0]: r for r in master.tables[table]}
        shared = [r for r in local.tables[table] if r[0] in master_by_id]
        assert len(shared) == overlap
        assert all(r[1] != master_by_id[r[0]][1] for r in shared)  # names differ


def test_webhook_payload_is_valid_json():
    rows = synthetic.master_rows().tables["whatsapp_messages"]
    for row in rows:
        json.loads(row[4])
