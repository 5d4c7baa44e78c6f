"""The dashboards against any master: "today" is the CRM's whatever the host's,
server's or session's time zone."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
from conftest import CRM_TIME_ZONE, PROJECT_DIR

from crm_replica.db import embedded_urls
from crm_replica.demo.synthetic import crm_midnight

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
