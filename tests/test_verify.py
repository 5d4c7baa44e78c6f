"""verify: counts and checksums master vs replica, and what it catches."""

from __future__ import annotations

import json

import psycopg
import pytest
from conftest import new_database, run_cli

from crm_replica.load import extract_load

TABLES = ("clients", "leads", "conversations")


def land(master: str, replica: str, tables) -> None:
    """Load ``tables`` into the replica's landing schema with the runner's engine."""
    try:  # the configurable engine takes table specs
        from crm_replica.settings import TableSpec
    except ImportError:
        extract_load(master, replica, tables=tuple(tables))
    else:
        extract_load(master, replica, tables=[TableSpec(t) for t in tables])


def verify(master: str, replica: str, workdir, *extra: str):
    args = ["verify", "--master-url", master, "--replica-url", replica]
    return run_cli([*args, *extra], workdir)


def test_synced_replica_matches_master(synced):
    result = verify(synced["master"], synced["replica"], synced["workdir"], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    checks = {(c["layer"], c["table"]): c for c in data["checks"]}
    assert len(checks) == 24
    leads = checks["models", "leads"]
    assert leads["master_rows"] == leads["replica_rows"] == 11
    assert leads["compared"] == "rows"
    assert leads["master_checksum"] == leads["replica_checksum"] != "0"
    # Master's dashboards are views: compared without their volatile columns.
    assert checks["models", "dashboard_bant_distribution"]["compared"] == "columns"
    assert checks["models", "dashboard_system_metrics"]["compared"] == "count"


def test_against_the_recorded_snapshot(synced):
    result = verify(
        synced["master"], synced["replica"], synced["workdir"], "--against", "snapshot"
    )
    assert result.exit_code == 0, result.output
    assert "DIFFERS" not in result.output


@pytest.fixture
def copied(master_url, clusters):
    """A replica of its own: landing loaded, models copied from it, all matching."""
    replica = new_database(clusters["replica"], "verify")
    land(master_url, replica, TABLES)
    with psycopg.connect(replica, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"create table public.{table} as table master_raw.{table}")
    return replica


def test_catches_changed_deleted_and_jsonb_rows(master_url, copied, tmp_path):
    args = ["--tables", ",".join(TABLES)]
    assert verify(master_url, copied, tmp_path, *args).exit_code == 0
    with psycopg.connect(copied, autocommit=True) as conn:
        lead = conn.execute("select id from master_raw.leads order by id limit 1")
        lead_id = lead.fetchone()[0]
        conn.execute(
            "update master_raw.leads set name = name || '.' where id = %s", (lead_id,)
        )
        conversation = conn.execute(
            "delete from public.conversations where id = (select min(id::text)::uuid"
            " from public.conversations) returning id"
        ).fetchone()[0]
        client = conn.execute(
            "update public.clients set contact_info = jsonb_set(contact_info,"
            " '{address,city}', '\"Haifa\"') where id = (select min(id::text)::uuid"
            " from public.clients) returning id"
        ).fetchone()[0]
    result = verify(master_url, copied, tmp_path, *args, "--json")
    assert result.exit_code == 1, result.output
    failed = {
        (c["layer"], c["table"]): c
        for c in json.loads(result.stdout)["checks"]
        if not c["matches"]
    }
    assert set(failed) == {
        ("landing", "leads"),
        ("models", "conversations"),
        ("models", "clients"),
    }
    assert failed["landing", "leads"]["examples"] == [f"id={lead_id} differs"]
    assert failed["models", "conversations"]["replica_rows"] == 498
    assert failed["models", "conversations"]["examples"] == [
        f"id={conversation} missing"
    ]
    clients = failed["models", "clients"]
    assert clients["master_rows"] == clients["replica_rows"]
    assert clients["examples"] == [f"id={client} differs"]
    error = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert len(error) == 1
    assert "3 of 6 checks differ" in error[0]
    assert "landing.leads" in error[0] and str(lead_id) in error[0]


def test_missing_models_and_landing_are_named(master_url, clusters, tmp_path):
    replica = new_database(clusters["replica"], "verifyempty")
    result = verify(master_url, replica, tmp_path, "--tables", "leads")
    assert result.exit_code == 1, result.output
    assert "master_raw.leads missing" in result.output
    assert "public.leads missing" in result.output


def test_unreachable_replica_exits_2_without_the_password(master_url, tmp_path):
    result = verify(master_url, "postgresql://u:s3cret-pw@127.0.0.1:1/x", tmp_path)
    assert result.exit_code == 2, result.output
    assert "cannot connect to the replica" in result.output
    assert "s3cret-pw" not in result.output and "Traceback" not in result.output
