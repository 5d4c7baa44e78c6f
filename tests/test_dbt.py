"""dbt build on the replica: passes on good data, fails (naming the test) on bad."""

from __future__ import annotations

import psycopg
from conftest import PROJECT_DIR, new_database, run_cli

from crm_replica.errors import EXIT_DBT_FAILED
from crm_replica.load import extract_load
from crm_replica.sync import dbt as dbt_invoke


def test_build_passes_every_test(master_url, clusters, tmp_path):
    """dbt build by hand on a replica database of the replica's own (in the
    application's database it refuses to replace the application's tables:
    test_application_database)."""
    replica = new_database(clusters["replica"], "byhand")
    extract_load(master_url, replica)
    outcome = dbt_invoke.build(PROJECT_DIR, tmp_path, replica)
    assert outcome.returncode == 0, outcome.errors
    tests = [r for r in outcome.results if r.unique_id.startswith("test.")]
    assert len(tests) > 50
    assert all(r.status == "pass" for r in tests)
    assert any("row_count_matches_master" in r.unique_id for r in tests)
    assert any("relationships" in r.unique_id for r in tests)


def test_dashboards_match_master_views(synced):
    """Master's views read now, on the columns that do not depend on when they are
    read (today's and this week's leads are compared with the views captured in
    the snapshot: test_dbt_meaning, and the dbt tests themselves)."""
    kpis = (
        "total_leads, qualified_leads, fully_qualified_leads, avg_lead_score,"
        " new_leads, conversion_rate"
    )
    query = {
        "dashboard_bant_distribution": "select bant_status, lead_count, percentage"
        " from {} order by 1",
        "dashboard_lead_funnel": "select stage_name, lead_count, conversion_rate,"
        " stage_order from {} order by stage_order",
        "dashboard_business_kpis": f"select {kpis} from {{}}",
    }
    with (
        psycopg.connect(synced["master"]) as m,
        psycopg.connect(synced["replica"]) as r,
    ):
        for table, q in query.items():
            assert (
                r.execute(q.format(f"public.{table}")).fetchall()
                == m.execute(q.format(table)).fetchall()
            ), table


def test_local_tables_are_archived_before_the_build(synced):
    with psycopg.connect(synced["replica"]) as conn:
        counts = {
            t: conn.execute(f"select count(*) from local_archive.{t}").fetchone()[0]
            for t in ("leads", "clients", "projects")
        }
        columns = conn.execute(
            "select count(*) from information_schema.columns"
            " where table_schema = 'local_archive' and table_name = 'leads'"
        ).fetchone()[0]
    assert counts == {"leads": 26, "clients": 6, "projects": 7}
    # The application's leads as they were, before master's columns were added.
    assert columns == 11


def test_a_missing_row_fails_the_build_naming_the_test(master_url, clusters, tmp_path):
    replica = new_database(clusters["replica"], "broken")
    extract_load(master_url, replica)
    with psycopg.connect(replica) as conn:
        deleted = conn.execute(
            "delete from master_raw.lead_status_history where id ="
            " (select id from master_raw.lead_status_history order by id limit 1)"
        )
        assert deleted.rowcount == 1
    result = run_cli(["build", "--replica-url", replica], tmp_path)
    assert result.exit_code == EXIT_DBT_FAILED, result.output
    error = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert (
        len(error) == 1 and "row_count_matches_master_lead_status_history" in error[0]
    )
