"""analyze: the schema gap of docs/master.md, a DDL that closes it, a plan."""

from __future__ import annotations

import psycopg
import pytest
from conftest import new_database, run_cli

from crm_replica.analyze import DDL_FILE, PLAN_FILE, REPORT_FILE
from crm_replica.analyze import compare as analyze
from crm_replica.demo import setup as demo

MISSING_TABLES = {
    "conversations",
    "whatsapp_messages",
    "agent_interaction_logs",
    "conversation_audit_log",
    "lead_status_history",
}
#: docs/master.md: master's leads have 21 columns, the local ones 6.
LEADS_MISSING = [
    "email",
    "updated_at",
    "client_id",
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


@pytest.fixture
def legacy(master_url, clusters):
    """A fresh replica holding only the application's legacy tables."""
    replica = new_database(clusters["replica"], "analyze")
    assert demo.ensure_application(replica, master_url, seed=42)
    return replica


def test_names_exactly_the_documented_differences(master_url, legacy):
    a = analyze.analyze(master_url, legacy)
    assert not a.synced
    assert {t.table for t in a.tables if t.replica is None} == MISSING_TABLES
    leads = a.table("leads")
    assert (len(leads.master.columns), len(leads.replica.columns)) == (21, 6)
    assert [c.name for c in leads.missing_columns] == LEADS_MISSING
    assert leads.renames == {"project_id": "current_project_id"}
    assert not leads.extra_columns
    for t in a.tables:
        assert t.type_changes == [] and t.null_changes == []
    # Rows: local vs master, conflicts on the shared ids (synthetic.LOCAL_OVERLAP).
    rows = {
        t.table: (t.local.rows, t.master.rows, len(t.conflicts), t.local_only)
        for t in a.tables
        if t.local is not None
    }
    assert rows == {
        "clients": (6, 2, 1, 5),
        "projects": (7, 2, 2, 5),
        "leads": (26, 11, 5, 21),
    }
    assert all(c.columns for t in a.tables for c in t.conflicts)
    assert not any(t.orphans for t in a.tables)


def test_cli_writes_three_files_and_the_ddl_closes_the_gap(
    master_url, legacy, tmp_path
):
    out = tmp_path / "out"
    args = ["analyze", "--master-url", master_url, "--replica-url", legacy]
    result = run_cli([*args, "--out", str(out)], tmp_path)
    assert result.exit_code == 0, result.output
    assert "15 missing: email, updated_at, client_id" in result.output
    report = (out / REPORT_FILE).read_text()
    assert (
        "| leads | 11 | 26 | 26 (`public`) | 21 / 6 | 15 | 0 | 5 | 21 | 6 |" in report
    )
    assert "`leads.project_id` in the replica is master's `current_project_id`" in (
        report
    )
    plan = (out / PLAN_FILE).read_text()
    assert "**master-wins**" in plan and "| leads | 26 | 0 | 5 | 21 |" in plan
    ddl = (out / DDL_FILE).read_text()
    assert 'rename column "project_id" to "current_project_id"' in ddl
    assert ddl.count('alter table "public"."leads" add column') == 15
    with psycopg.connect(legacy, autocommit=True) as conn:
        conn.execute(ddl)
    after = analyze.analyze(master_url, legacy)
    assert [t.table for t in after.tables if t.schema_differs] == []
    leads = after.table("leads")
    assert (leads.replica.rows, len(leads.conflicts), leads.local_only) == (26, 5, 21)
    again = run_cli([*args, "--out", str(out)], tmp_path)
    assert "-- nothing to do: the schemas match" in (out / DDL_FILE).read_text()
    assert again.exit_code == 0, again.output


def test_local_wins_policy_is_in_the_plan(master_url, legacy, tmp_path):
    args = ["analyze", "--master-url", master_url, "--replica-url", legacy]
    out = tmp_path / "lw"
    result = run_cli(
        [*args, "--out", str(out), "--conflict-policy", "local-wins"], tmp_path
    )
    assert result.exit_code == 0, result.output
    assert "**local-wins**" in (out / PLAN_FILE).read_text()


def test_after_a_sync_compares_the_archived_legacy_rows(synced):
    a = analyze.analyze(synced["master"], synced["replica"])
    assert a.synced
    assert all(t.replica is not None and not t.missing_columns for t in a.tables)
    leads = a.table("leads")
    assert (leads.local.schema, leads.local.rows) == ("local_archive", 26)
    assert len(leads.conflicts) == 5
    # The application's leads name their project as master does, and keep
    # columns of their own beside master's.
    assert not any("legacy column" in note for note in leads.notes)
    assert {"first_name", "last_name", "processing_state"} <= {
        c.name for c in leads.extra_columns
    }


def test_unreachable_master_is_one_line_without_the_password(legacy, tmp_path):
    result = run_cli(
        [
            "analyze",
            "--master-url",
            "postgresql://reader:s3cret-pw@127.0.0.1:1/crm",
            "--replica-url",
            legacy,
            "--out",
            str(tmp_path),
        ],
        tmp_path,
    )
    assert result.exit_code == 1, result.output
    assert "cannot connect to the master" in result.output
    assert "s3cret-pw" not in result.output and "Traceback" not in result.output


def test_after_a_sync_without_legacy_tables_it_is_synced(
    master_url, clusters, tmp_path
):
    """A replica that never had the application's tables: once synced, analyze
    says so (from the run log) and finds no local rows to migrate."""
    replica = new_database(clusters["replica"], "nolegacy")
    urls = ["--master-url", master_url, "--replica-url", replica]
    synced = run_cli(["sync", *urls], tmp_path)
    assert synced.exit_code == 0, synced.output
    a = analyze.analyze(master_url, replica)
    assert a.synced and a.last_run is not None and a.last_run[0] == 1
    assert all(t.local is None for t in a.tables)
    assert not any(t.conflicts or t.local_only for t in a.tables)
    out = tmp_path / "out"
    result = run_cli(["analyze", *urls, "--out", str(out)], tmp_path)
    assert result.exit_code == 0, result.output
    report, plan, ddl = (
        (out / name).read_text() for name in (REPORT_FILE, PLAN_FILE, DDL_FILE)
    )
    assert "never synced" not in report + plan + ddl
    assert "synced (run 1): `public` holds the tables dbt builds from master;" in plan
    assert "the replica had no legacy tables of its own" in plan
    assert "-- The replica is synced: its tables are rebuilt by dbt" in ddl
    assert "\n| leads |" not in plan  # no local rows to resolve
