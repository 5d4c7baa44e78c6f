"""status: what changed on master since the last sync, and the staleness alarm."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from conftest import new_database, run_cli

from crm_replica.demo import setup as demo

TABLES = ("clients", "leads", "conversations", "whatsapp_messages")


def status(master: str, replica: str, workdir, *extra: str):
    args = ["status", "--master-url", master, "--replica-url", replica]
    return run_cli([*args, *extra], workdir)


@pytest.fixture
def pair(clusters, tmp_path):
    """A writable synthetic master of its own and a replica synced from it (an
    extract-load alone publishes nothing: status would say so)."""
    master = new_database(clusters["master"], "statusm")
    demo.ensure_master(master, seed=42, scale=1)
    replica = new_database(clusters["replica"], "statusr")
    synced = run_cli(
        ["sync", "--master-url", master, "--replica-url", replica], tmp_path / "sync"
    )
    assert synced.exit_code == 0, synced.output
    return master, replica


def tables_of(result) -> dict[str, dict]:
    assert "Traceback" not in result.output
    return {t["table"]: t for t in json.loads(result.stdout)["tables"]}


def test_no_change_right_after_a_sync(pair, tmp_path):
    result = status(*pair, tmp_path, "--json", "--max-age", "1h")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stale"] is False and data["changed_tables"] == []
    leads = tables_of(result)["leads"]
    assert (leads["added"], leads["changed"], leads["deleted"]) == (0, 0, 0)
    assert leads["synced_rows"] == leads["master_rows"] == 11


def test_sees_inserts_updates_deletes_and_an_added_column(pair, tmp_path):
    master, replica = pair
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute("insert into leads (id, name) values (gen_random_uuid(), 'new')")
        conn.execute("insert into leads (id, name) values (gen_random_uuid(), 'two')")
        conn.execute(
            "update conversations set status = 'read', updated_at = now()"
            " where id = (select min(id::text)::uuid from conversations)"
        )
        conn.execute(
            "delete from whatsapp_messages"
            " where id = (select min(id::text)::uuid from whatsapp_messages)"
        )
        conn.execute("alter table clients add column tier text")
        # No updated_at column: only the checksum sees this one.
        conn.execute(
            "update whatsapp_messages set content = 'edited'"
            " where id = (select max(id::text)::uuid from whatsapp_messages)"
        )
    result = status(master, replica, tmp_path, "--json")
    assert result.exit_code == 0, result.output
    by_table = tables_of(result)
    assert (by_table["leads"]["added"], by_table["leads"]["master_rows"]) == (2, 13)
    assert by_table["conversations"]["changed"] == 1
    assert by_table["conversations"]["added"] == by_table["conversations"]["deleted"]
    assert by_table["whatsapp_messages"]["deleted"] == 1
    assert by_table["whatsapp_messages"]["changed"] is None
    assert by_table["clients"]["schema_changes"] == ["+tier text"]
    # The sync loaded master's dashboards too: the two new leads (no BANT
    # status) are a new row of master's BANT distribution.
    assert json.loads(result.stdout)["changed_tables"] == [
        "clients",
        "leads",
        "conversations",
        "whatsapp_messages",
        "dashboard_bant_distribution",
    ]
    assert by_table["dashboard_bant_distribution"]["kind"] == "view"
    text = status(master, replica, tmp_path, "--checksum")
    assert text.exit_code == 0, text.output
    assert "master changed since the sync: clients, leads" in text.output
    assert "+tier text" in text.output
    checked = tables_of(status(master, replica, tmp_path, "--checksum", "--json"))
    assert checked["whatsapp_messages"]["content"] == "changed"


def test_stale_past_max_age_exits_1(pair, tmp_path):
    time.sleep(1.1)
    result = status(*pair, tmp_path, "--max-age", "1s")
    assert result.exit_code == 1, result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "the replica is stale" in errors[0]
    assert status(*pair, tmp_path, "--max-age", "1d").exit_code == 0


def test_never_synced_exits_1(master_url, clusters, tmp_path):
    replica = new_database(clusters["replica"], "statusnever")
    result = status(master_url, replica, tmp_path)
    assert result.exit_code == 1, result.output
    assert "never synced" in result.output


def test_bad_max_age_is_a_usage_error(tmp_path):
    result = run_cli(["status", "--max-age", "soon"], tmp_path)
    assert result.exit_code == 2
    assert "not a duration" in result.output


def test_unreachable_master_exits_2_without_the_password(pair, tmp_path):
    _, replica = pair
    result = status("postgresql://reader:s3cret-pw@127.0.0.1:1/crm", replica, tmp_path)
    assert result.exit_code == 2, result.output
    assert "cannot connect to the master" in result.output
    assert "s3cret-pw" not in result.output and "Traceback" not in result.output
