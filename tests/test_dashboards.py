"""The dashboards against any master: views of other column types are compared by
value (and the type difference noted), a real difference shows its rows, and
"today" is the CRM's whatever the host's, server's or session's time zone."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
from conftest import CRM_TIME_ZONE, PROJECT_DIR, new_database, run_cli
from test_dbt_meaning import build, fresh_replica

from crm_replica.db import embedded_urls
from crm_replica.demo import setup as demo
from crm_replica.demo.synthetic import crm_midnight
from crm_replica.errors import EXIT_DBT_FAILED

#: Master's two views as a CRM may define them: the average scores are text nulls.
TEXT_SCORES = """
drop view dashboard_bant_distribution;
create view dashboard_bant_distribution as
select bant_status, count(*) as lead_count, {avg_score} as avg_score,
    round(100.0 * count(*) / sum(count(*)) over (), 2) as percentage,
    now() as updated_at
from leads group by bant_status;
drop view dashboard_business_kpis;
create view dashboard_business_kpis as
select gen_random_uuid() as id, count(*) as total_leads,
    count(*) filter (where status = 'qualified') as qualified_leads,
    count(*) filter (where bant_status = 'fully_qualified') as fully_qualified_leads,
    null::text as avg_lead_score,
    count(*) filter (where status = 'new') as new_leads,
    count(*) filter (where created_at >= date_trunc('day', now())) as leads_today,
    count(*) filter (where created_at >= now() - interval '7 days')
        as leads_this_week,
    coalesce((100 * count(*) filter (where status = 'converted')
        / nullif(count(*), 0)), 0)::integer as conversion_rate,
    now() as updated_at, now() as created_at
from leads;
"""


def node_results(replica: str, run_id: int | None = None) -> dict[str, tuple]:
    """test name -> (status, message) of a run's dbt build (default: the last)."""
    with psycopg.connect(replica) as conn:
        found = conn.execute(
            "select unique_id, status, message from replica_meta.build_results"
            " where run_id = coalesce(%s, (select max(run_id) from"
            " replica_meta.build_results))",
            (run_id,),
        ).fetchall()
    return {u.split(".")[2]: (s, m) for u, s, m in found if u.startswith("test.")}


def error_line(result) -> str:
    errors = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def test_views_of_other_types_are_compared_by_value(clusters, tmp_path):
    master = new_database(clusters["master"], "textmaster")
    demo.ensure_master(master, seed=42, scale=1)
    replica = new_database(clusters["replica"], "textreplica")
    args = ["sync", "--master-url", master, "--replica-url", replica]
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute(TEXT_SCORES.format(avg_score="null::text"))

    # Null on both sides: equal values, and the types' difference is a note.
    synced = run_cli(args, tmp_path)
    assert synced.exit_code == 0, synced.output
    assert "WARN=2 ERROR=0" in synced.output
    warned = {n: m for n, (s, m) in node_results(replica).items() if s == "warn"}
    assert warned == {
        "dashboard_bant_distribution_columns_match_master_view": "Got 1 result,"
        " configured to warn if != 0: dashboard_bant_distribution: avg_score is"
        " numeric in the replica, text in master",
        "dashboard_business_kpis_columns_match_master_view": "Got 1 result,"
        " configured to warn if != 0: dashboard_business_kpis: avg_lead_score is"
        " numeric in the replica, text in master",
    }
    with psycopg.connect(replica) as conn:
        published = conn.execute(
            "select bant_status, lead_count, avg_score from dashboard_bant_distribution"
            " order by 1"
        ).fetchall()
    assert published == [
        ("need_qualified", 2, None),
        ("no_bant", 8, None),
        ("partially_qualified", 1, None),
    ]

    # Values that differ: one count, and a text that is no number.
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute(
            TEXT_SCORES.format(
                avg_score="case bant_status when 'no_bant' then 'n/a' end"
            ).replace(
                "count(*) as lead_count",
                "count(*) + (bant_status = 'need_qualified')::int as lead_count",
            )
        )
    failed = run_cli(args, tmp_path)
    assert failed.exit_code == EXIT_DBT_FAILED, failed.output
    differs = (
        "dashboard_bant_distribution against master's view"
        " dashboard_bant_distribution (bant_status, lead_count, avg_score,"
        " percentage): only in master: (need_qualified, 3, null, 18.18, null),"
        " (no_bant, 8, null, 72.73, avg_score 'n/a'); only in the replica:"
        " (need_qualified, 2, null, 18.18, null), (no_bant, 8, null, 72.73, null)"
    )
    line = error_line(failed)
    assert "dashboard_bant_distribution_matches_master_view" in line
    assert f" ({differs}) (log: " in line
    assert "nothing was published" in line
    status, message = node_results(replica)[
        "dashboard_bant_distribution_matches_master_view"
    ]
    assert status == "fail" and message.endswith(differs)
    report = run_cli(["report", "--replica-url", replica], tmp_path)
    assert "**Run 2 failed: dbt build failed: " in report.output
    assert f"| fail | Got 4 results, configured to fail if != 0: {differs} |" in (
        report.output
    )
    assert differs in (tmp_path / "logs" / "dbt.log").read_text()
    with psycopg.connect(replica) as conn:
        assert conn.execute(
            "select lead_count from dashboard_bant_distribution"
            " where bant_status = 'need_qualified'"
        ).fetchone() == (2,)


def test_the_comparisons_severity_is_a_var(master_url, clusters, tmp_path):
    replica = fresh_replica(master_url, clusters, "severity", local=False)
    with psycopg.connect(replica) as conn:
        conn.execute(
            "update master_raw.dashboard_lead_funnel set lead_count = lead_count + 1"
            " where stage_order = 2"
        )
    result = build(
        replica,
        tmp_path,
        # The model, its parents and master's view: the tests of those alone.
        *("--select", "+dashboard_lead_funnel source:master.dashboard_lead_funnel"),
        *("--indirect-selection", "cautious"),
        *("--vars", "{dashboard_reconciliation_severity: warn}"),
    )
    assert result.exit_code == 0, result.output  # a master known to differ
    assert "WARN=1 ERROR=0" in result.output
    assert (
        "dashboard_lead_funnel against master's view dashboard_lead_funnel"
        " (stage_name, lead_count, conversion_rate, stage_order): only in master:"
        " (consideration, 3, 18.18, 2); only in the replica: (consideration, 2,"
        " 18.18, 2)"
    ) in result.output


#: Far from UTC and from Israel, on either side of the date line.
HOST_TIME_ZONE = "Pacific/Kiritimati"  # UTC+14
SESSION_TIME_ZONE = "Etc/GMT+11"  # UTC-11


def replica_cli(*args: str) -> subprocess.CompletedProcess:
    """The CLI in a process of its own, on a host in HOST_TIME_ZONE whose database
    sessions default to SESSION_TIME_ZONE (libpq's PGTZ, as a profile may set)."""
    env = {**os.environ, "TZ": HOST_TIME_ZONE, "PGTZ": SESSION_TIME_ZONE}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "crm_replica.cli",
            *args,
            "--project-dir",
            str(PROJECT_DIR),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_dashboards_count_the_crms_today_on_a_far_host(tmp_path: Path):
    workdir = tmp_path / "work"
    demo_run = replica_cli("demo", "--workdir", str(workdir))
    assert demo_run.returncode == 0, demo_run.stdout + demo_run.stderr
    with embedded_urls(workdir, True, True) as (master, replica):
        with psycopg.connect(master) as conn:
            # The clusters took the host's time zone (initdb, in the demo).
            assert conn.execute(
                "select setting from pg_file_settings where name = 'timezone'"
            ).fetchone() == (HOST_TIME_ZONE,)
            # A lead on each side of the CRM's midnight: truncating "today" in any
            # other time zone (UTC, the server's, the session's) counts otherwise.
            now = conn.execute("select now()").fetchone()[0]
            midnight = crm_midnight(now, CRM_TIME_ZONE)
            after = min(timedelta(minutes=1), (now - midnight) / 2)
            oldest = conn.execute(
                "select id from leads order by created_at limit 2"
            ).fetchall()
            for (lead,), at in zip(
                oldest, (midnight - timedelta(minutes=1), midnight + after), strict=True
            ):
                conn.execute(
                    "update leads set created_at = %s where id = %s", (at, lead)
                )
        synced = replica_cli("sync", "--master-url", master, "--replica-url", replica)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        with psycopg.connect(replica) as conn:
            snapshot_at = conn.execute(
                "select snapshot_at from replica_meta.runs where status = 'succeeded'"
                " order by run_id desc limit 1"
            ).fetchone()[0]
            todays = conn.execute(
                "select count(*) from master_raw.leads where created_at >= %s",
                (crm_midnight(snapshot_at, CRM_TIME_ZONE),),
            ).fetchone()[0]
            counted = conn.execute(
                "select r.leads_today, m.leads_today from dashboard_business_kpis r"
                " cross join master_raw.dashboard_business_kpis m"
            ).fetchone()
    assert counted == (todays, todays)
    assert todays >= 1
