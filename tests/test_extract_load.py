"""Extract-load: the landing schema equals master row for row, atomically, safely."""

from __future__ import annotations

import psycopg
import pytest
from conftest import masters_rows_text, new_database, rows_text

from crm_replica.db import connect_master
from crm_replica.errors import ReplicaError
from crm_replica.load import extract_load
from crm_replica.load import runlog as meta
from crm_replica.settings import CRM_TABLES, DASHBOARD_VIEWS


@pytest.mark.parametrize("table", CRM_TABLES)
def test_landing_equals_master_row_for_row(synced, table):
    master = rows_text(synced["master"], "public", table)
    assert master
    assert rows_text(synced["replica"], "master_raw", table) == master


@pytest.mark.parametrize("table", CRM_TABLES)
def test_replica_model_equals_master_row_for_row(synced, table):
    """In the application's database (the demo's), master's rows are in its
    tables, beside its own."""
    assert masters_rows_text(synced["replica"], synced["master"], table) == rows_text(
        synced["master"], "public", table
    )


def test_column_types_follow_master(synced):
    query = (
        "select table_name, column_name, data_type, character_maximum_length"
        " from information_schema.columns where table_schema = %s"
        " and table_name = any(%s) order by table_name, ordinal_position"
    )
    with (
        psycopg.connect(synced["master"]) as m,
        psycopg.connect(synced["replica"]) as r,
    ):
        assert (
            r.execute(query, ("master_raw", list(CRM_TABLES))).fetchall()
            == m.execute(query, ("public", list(CRM_TABLES))).fetchall()
        )


def test_run_records_counts_and_checksums(synced):
    with psycopg.connect(synced["replica"]) as conn:
        loads = meta.last_loads(conn)
    by_table = {t.table_name: t for t in loads}
    assert set(by_table) == set(CRM_TABLES) | set(DASHBOARD_VIEWS)
    for table in CRM_TABLES:
        load = by_table[table]
        assert load.master_rows == load.replica_rows > 0
        assert load.master_checksum == load.replica_checksum != 0
    assert by_table["dashboard_bant_distribution"].replica_rows == 3


def test_master_connection_refuses_writes(master_url):
    with connect_master(master_url) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(
                "insert into clients (id, name) values (gen_random_uuid(), 'x')"
            )
        conn.rollback()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("create table should_not_exist (id int)")


def test_replica_that_is_the_master_is_refused(master_url):
    other_spelling = master_url.replace("postgres:@", "postgres@")
    with pytest.raises(ReplicaError, match="reaches the master database itself"):
        extract_load(master_url, other_spelling)


def test_failed_run_keeps_previous_load_and_is_recorded(master_url, clusters):
    replica = new_database(clusters["replica"], "atomic")
    first = extract_load(master_url, replica, ("clients", "leads"))
    with pytest.raises(ReplicaError, match="no_such_table"):
        extract_load(master_url, replica, ("clients", "leads", "no_such_table"))
    with psycopg.connect(replica) as conn:
        assert conn.execute("select count(*) from master_raw.leads").fetchone()[0] == 11
        runs = conn.execute(
            "select run_id, status from replica_meta.runs order by run_id"
        ).fetchall()
        assert [s for _, s in runs] == ["succeeded", "failed"]
        assert meta.last_loads(conn)[0].table_name == "clients"
    assert runs[0][0] == first.run_id


def test_second_concurrent_run_is_refused(master_url, clusters):
    replica = new_database(clusters["replica"], "locked")
    with psycopg.connect(replica, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (meta.RUN_LOCK_KEY,))
        with pytest.raises(ReplicaError, match="another run"):
            extract_load(master_url, replica, ("clients",))
    assert extract_load(master_url, replica, ("clients",)).ok
