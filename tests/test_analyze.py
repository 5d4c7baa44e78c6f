"""analyze: the schema gap between master and the application's database (the
demo's, docs/master.md), a DDL that adds only what the application's tables lack
and leaves the rest to it, a plan."""

from __future__ import annotations

import appdb
import psycopg
import pytest
from conftest import new_database, run_cli

from crm_replica.analyze import DDL_FILE, PLAN_FILE, REPORT_FILE
from crm_replica.analyze import compare as analyze
from crm_replica.demo import setup as demo

MISSING_TABLES = {
    "agent_interaction_logs",
    "conversation_audit_log",
    "lead_status_history",
}
#: docs/master.md: master's leads have 21 columns, the application's 11 (and
#: three of its own: first_name, last_name, processing_state).
LEADS_MISSING = [
    "email",
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

#: Each column of the application's schema: what the DDL must leave as it is.
APP_COLUMNS = """
select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
from pg_attribute a
join pg_class c on c.oid = a.attrelid
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where c.relnamespace = 'public'::regnamespace and a.attnum > 0
  and not a.attisdropped
order by 1, 2
"""


@pytest.fixture
def legacy(master_url, clusters):
    """A fresh replica database: the application's, before any sync, with a view
    of its own named like master's whatsapp_messages."""
    replica = new_database(clusters["replica"], "analyze")
    assert demo.ensure_application(replica, master_url, seed=42)
    with psycopg.connect(replica, autocommit=True) as conn:
        conn.execute(appdb.NAMED_LIKE_MASTERS)
    return replica


def test_names_exactly_the_documented_differences(master_url, legacy):
    a = analyze.analyze(master_url, legacy)
    assert not a.synced
    assert {t.table for t in a.tables if t.replica is None} == MISSING_TABLES | {
        "whatsapp_messages"
    }
    assert a.table("whatsapp_messages").in_the_way == "view"
    leads = a.table("leads")
    assert (len(leads.master.columns), len(leads.replica.columns)) == (21, 11)
    assert [c.name for c in leads.missing_columns] == LEADS_MISSING
    assert leads.renames == {}
    assert [c.name for c in leads.extra_columns] == [
        "first_name",
        "last_name",
        "processing_state",
    ]
    for t in a.tables:
        assert t.type_changes == [] and t.null_changes == []
    # The application's ids default to gen_random_uuid(); master's have none.
    assert [t.table for t in a.tables if t.default_changes] == [
        "clients",
        "projects",
        "leads",
        "conversations",
    ]
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
        "conversations": (3, 499, 0, 3),
    }
    assert all(c.columns for t in a.tables for c in t.conflicts)
    assert not any(t.orphans for t in a.tables)


def test_the_ddl_only_adds_and_leaves_the_rest_to_the_application(
    master_url, legacy, tmp_path
):
    """Point 9 of issue 18: the DDL drops, retypes and weakens nothing of the
    application's (its defaults, not-nulls, its view named like master's table);
    it adds master's columns, tables and keys, and says what it leaves."""
    out = tmp_path / "out"
    args = ["analyze", "--master-url", master_url, "--replica-url", legacy]
    result = run_cli([*args, "--out", str(out)], tmp_path)
    assert result.exit_code == 0, result.output
    assert "13 missing: email, state, bant_status" in result.output
    report = (out / REPORT_FILE).read_text()
    assert (
        "| leads | 11 | 26 | 26 (`public`) | 21 / 11 | 13 | 0 | 5 | 21 | 6 |" in report
    )
    plan = (out / PLAN_FILE).read_text()
    assert "**master-wins**" in plan and "| leads | 26 | 0 | 5 | 21 |" in plan
    ddl = (out / DDL_FILE).read_text()
    statements = [
        line for line in ddl.splitlines() if line and not line.startswith("--")
    ]
    assert not [s for s in statements if " drop " in f" {s.lower()} "]
    assert not [s for s in statements if "alter column" in s or "rename" in s]
    assert not [s for s in statements if '"whatsapp_messages"' in s]
    assert ddl.count('alter table "public"."leads" add column') == 13
    left = ddl.split("-- left to the application", 1)[1]
    assert "leads.id: the application's default gen_random_uuid() stays" in left
    assert "public.whatsapp_messages is the application's view" in left
    before = rows_of(legacy, APP_COLUMNS)
    with psycopg.connect(legacy, autocommit=True) as conn:
        conn.execute(ddl)
    after = rows_of(legacy, APP_COLUMNS)
    # Every column the application had is as it was; only master's were added.
    assert set(before) <= set(after)
    assert {r[1] for r in set(after) - set(before) if r[0] == "leads"} == set(
        LEADS_MISSING
    )
    again = analyze.analyze(master_url, legacy)
    assert [t.table for t in again.tables if t.needs_ddl] == []
    leads = again.table("leads")
    assert (leads.replica.rows, len(leads.conflicts), leads.local_only) == (26, 5, 21)
    rerun = run_cli([*args, "--out", str(out)], tmp_path)
    assert rerun.exit_code == 0, rerun.output
    assert "-- nothing to do: the schemas match" in (out / DDL_FILE).read_text()
    # The application's own inserts still work (its id default is kept).
    with psycopg.connect(legacy, autocommit=True) as conn:
        conn.execute("insert into public.leads (name) values ('made by the app')")


def rows_of(url: str, text: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(text).fetchall()


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
    assert "-- The replica is synced: what it publishes itself is rebuilt" in ddl
    assert "\n| leads |" not in plan  # no local rows to resolve
