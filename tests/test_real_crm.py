"""A master shaped as real CRMs are (tests/realcrm.py): other and extra columns,
optional columns missing, dashboards stored as stale tables, statuses outside the
vocabulary, most senders no lead's, leads sharing a phone. The sync publishes a
faithful copy of it, and says what it observed of its data."""

from __future__ import annotations

import json

import psycopg
import pytest
import realcrm
from conftest import new_database, rows_text, run_cli

COLUMNS = """
select attname::text, format_type(atttypid, atttypmod)
from pg_attribute
where attrelid = %s::regclass and attnum > 0 and not attisdropped
order by attnum
"""


def columns(url: str, relation: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        found = conn.execute(COLUMNS, (relation,)).fetchall()
    # A type of master's lands in the replica's landing schema: compare its name.
    return [(name, kind.rsplit(".", 1)[-1]) for name, kind in found]


@pytest.fixture(scope="module")
def real(clusters, tmp_path_factory) -> dict:
    master = new_database(clusters["master"], "realcrm")
    realcrm.create(master)
    replica = new_database(clusters["replica"], "realreplica")
    workdir = tmp_path_factory.mktemp("realcrm")
    result = run_cli(
        ["sync", "--master-url", master, "--replica-url", replica], workdir
    )
    return {
        "master": master,
        "replica": replica,
        "workdir": workdir,
        "first": result,
    }


def sync(real: dict, *extra: str):
    return run_cli(
        [
            "sync",
            "--master-url",
            real["master"],
            "--replica-url",
            real["replica"],
            *extra,
        ],
        real["workdir"],
    )


def test_a_full_sync_publishes_every_master_column_with_masters_type(real):
    assert real["first"].exit_code == 0, real["first"].output
    for table in realcrm.COUNTS:
        if table.startswith("dashboard_"):
            continue
        assert columns(real["replica"], f"public.{table}") == columns(
            real["master"], f"public.{table}"
        ), table
        assert rows_text(real["replica"], "public", table) == rows_text(
            real["master"], "public", table
        ), table
    names = [c for c, _ in columns(real["replica"], "public.leads")]
    for extra in realcrm.EXTRA_COLUMNS["leads"]:
        assert extra in names
    assert "last_message_from" not in names


def test_the_run_notes_say_what_master_lacks(real):
    output = real["first"].output
    lacks = "the models read it as null"
    assert f"note: master_raw.leads has no last_message_from: {lacks}" in output
    assert "note: master_raw.agent_interaction_logs has no triggering_message_id" in (
        output
    )
    with psycopg.connect(real["replica"]) as conn:
        notes = conn.execute(
            "select schema_changes from replica_meta.runs order by run_id desc limit 1"
        ).fetchone()[0]
    said = f"models: master_raw.lead_status_history has no changed_by: {lacks}"
    assert said in notes


def test_observations_come_with_their_figures_and_do_not_block(real):
    output = real["first"].output
    assert "observed: leads.status: 24 of 47 rows outside the vocabulary:" in output
    assert "purchase_ready 12" in output
    assert (
        "observed: master's dashboard_business_kpis was computed 2025-06-05" in output
    )
    assert f"total_leads {realcrm.STORED_TOTAL_LEADS} there, 47 now" in output
    link = "observed: lead_id: 61 of 309 rows link (19.7 %); the threshold is 60.0 %"
    assert link in output
    assert "observed: numbers several leads share: 3" in output
    report = json.loads(
        next(real["workdir"].glob("reports/report-run-*.json")).read_text()
    )
    text = json.dumps(report)
    assert "dashboard_business_kpis_drift_from_master" in text
    assert "47 now" in text


def test_messages_of_a_shared_number_follow_the_conversations_lead(real):
    with psycopg.connect(real["replica"]) as conn:
        disagree = conn.execute(
            "select count(*) from replica_intermediate"
            ".int_conversations_linked_to_whatsapp_messages"
            " where whatsapp_message_id is not null"
            " and message_lead_id is distinct from lead_id"
        ).fetchone()[0]
        shared = conn.execute(
            "select count(*) from replica_intermediate"
            ".int_whatsapp_messages_linked_to_leads where sharing_leads > 1"
        ).fetchone()[0]
    assert shared > 0
    assert disagree == 0


def test_display_names_come_from_first_and_last_name(real):
    with psycopg.connect(real["replica"]) as conn:
        names = conn.execute(
            "select count(*), count(display_name), count(name)"
            " from replica_read.lead_details"
        ).fetchone()
    assert names == (47, 47, 0)


def test_verify_passes_and_the_stored_dashboards_are_copied(real):
    result = run_cli(
        [
            "verify",
            "--master-url",
            real["master"],
            "--replica-url",
            real["replica"],
            "--json",
        ],
        real["workdir"],
    )
    assert result.exit_code == 0, result.output
    checks = json.loads(result.output)["checks"]
    landed = {c["table"] for c in checks if c["layer"] == "landing"}
    assert "dashboard_business_kpis" in landed


def test_an_incremental_sync_and_a_column_master_adds_follow(real):
    with psycopg.connect(real["master"], autocommit=True) as conn:
        conn.execute("alter table leads add column tier text")
        conn.execute(
            "update leads set tier = 'gold', updated_at = now() where phone like '%1'"
        )
        conn.execute(
            "insert into leads (first_name, last_name, phone, status)"
            " values ('Rina', 'Katz', '+972540000003', 'awareness')"
        )
    result = sync(real, "--mode", "incremental")
    assert result.exit_code == 0, result.output
    assert columns(real["replica"], "public.leads") == columns(
        real["master"], "public.leads"
    )
    assert rows_text(real["replica"], "public", "leads") == rows_text(
        real["master"], "public", "leads"
    )
    # The new lead shares lead 3's phone: one more number several leads share.
    assert "observed: numbers several leads share: 4" in result.output
    full = sync(real)
    assert full.exit_code == 0, full.output
    assert rows_text(real["replica"], "public", "leads") == rows_text(
        real["master"], "public", "leads"
    )


def test_the_applications_reads_run_on_a_real_crms_replica(real):
    """The reads (analyses/read_*.sql) name only what every replica has: a
    column master lacks reaches them as the read models' null."""
    from conftest import PROJECT_DIR

    from crm_replica.serve import Reads
    from crm_replica.settings import schemas as settings

    reads = Reads.load(PROJECT_DIR, settings.load(PROJECT_DIR))
    with psycopg.connect(
        real["replica"], autocommit=True, prepare_threshold=None
    ) as conn:
        lead, turn = conn.execute(
            "select lead_id, id from public.conversations"
            " where lead_id is not null order by id limit 1"
        ).fetchone()
        [found] = reads.run(conn, "read_conversation", [turn])
        assert found["id"] == turn
        assert found["agent_interactions"] is not None
        [details] = reads.run(conn, "read_lead", [lead])
        assert details["lead_id"] == lead
        page = reads.run(conn, "read_thread", [lead, None, None, 50, None])
        assert page, "the lead's thread is empty"
        leads = reads.run(conn, "read_leads", [None] * 6 + [20])
        assert len(leads) == 21
