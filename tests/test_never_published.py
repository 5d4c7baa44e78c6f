"""A replica no sync has published says so, whichever command asks; a failed
build says the database's error on its one line."""

from __future__ import annotations

import json

import psycopg
import pytest
from conftest import new_database, run_cli
from test_operate import master_dashboard_off_by_one

from crm_replica.demo import setup as demo
from crm_replica.errors import EXIT_CHECK_ABORTED, EXIT_DBT_FAILED, EXIT_FAILED
from crm_replica.load import runlog
from crm_replica.sync.dbt import error_line as dbt_error_line

#: The incremental cache model, built in place (not beside) by every build.
CACHE = "replica_cache.int_whatsapp_messages__normalised"


def error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def urls(master: str, replica: str) -> list[str]:
    return ["--master-url", master, "--replica-url", replica]


@pytest.fixture(scope="module")
def loaded_only(master_url, clusters, tmp_path_factory) -> dict:
    """A replica that only ever had an extract-load: landing tables, no model."""
    replica = new_database(clusters["replica"], "never")
    work = tmp_path_factory.mktemp("never")
    loaded = run_cli(["extract-load", *urls(master_url, replica)], work)
    assert loaded.exit_code == 0, loaded.output
    return {"master": master_url, "replica": replica, "work": work}


@pytest.fixture(scope="module")
def own_master(clusters) -> str:
    master = new_database(clusters["master"], "nevermaster")
    demo.ensure_master(master, seed=42, scale=1)
    return master


def cache_columns(synced_replica: str) -> str:
    """The cache model's columns as a synced replica has them (name and type)."""
    with psycopg.connect(synced_replica) as conn:
        return conn.execute(
            "select string_agg(format('%%I %%s', attname,"
            " format_type(atttypid, atttypmod)), ', ' order by attnum)"
            " from pg_attribute where attrelid = %s::regclass and attnum > 0"
            " and not attisdropped",
            (CACHE,),
        ).fetchone()[0]


def errored_in_run_results(work) -> dict[str, str]:
    """The errored nodes of the last dbt run, with the message dbt recorded."""
    results = json.loads((work / "target" / "run_results.json").read_text())
    return {
        r["unique_id"]: r["message"]
        for r in results["results"]
        if r["status"] == "error"
    }


def test_a_failed_build_says_the_database_error_and_that_nothing_was_ever_published(
    synced, master_url, clusters, tmp_path
):
    """The cache model (built in place) already exists on this replica, with a
    check no row passes: its insert fails in the database, whatever master
    holds. The one line carries that error, and says the replica was never
    published; so do status, verify and the failed run's report."""
    replica = new_database(clusters["replica"], "never")
    with psycopg.connect(replica, autocommit=True) as conn:
        conn.execute("create schema replica_cache")
        conn.execute(
            f"create table {CACHE} ({cache_columns(synced['replica'])},"
            " constraint no_row_passes check (false))"
        )
    failed = run_cli(["sync", *urls(master_url, replica)], tmp_path)
    assert failed.exit_code == EXIT_DBT_FAILED, failed.output
    line = error_line(failed)
    errored = errored_in_run_results(tmp_path)
    node = "model.crm_replica.int_whatsapp_messages__normalised"
    assert node in errored, errored
    database_error = dbt_error_line(errored[node])
    assert "no_row_passes" in database_error, errored[node]
    assert f"int_whatsapp_messages__normalised: {database_error}" in line, line
    assert line.startswith("Error: dbt build failed: "), line
    assert "nothing was published: the replica has never been published" in line
    assert "still holds the previous run" not in line

    report = run_cli(["report", "--replica-url", replica], tmp_path)
    assert report.exit_code == 0, report.output
    assert "| published | nothing: the replica had never been published |" in (
        report.output
    )
    assert database_error in report.output

    status = run_cli(["status", *urls(master_url, replica)], tmp_path)
    assert status.exit_code == EXIT_FAILED, status.output
    assert "nothing published yet" in error_line(status)
    assert "last sync" not in status.output


def test_a_failed_sync_names_the_run_the_replica_still_holds(
    own_master, clusters, tmp_path
):
    replica = new_database(clusters["replica"], "neverheld")
    first = run_cli(["sync", *urls(own_master, replica)], tmp_path)
    assert first.exit_code == 0, first.output
    master_dashboard_off_by_one(own_master)
    failed = run_cli(["sync", *urls(own_master, replica)], tmp_path)
    assert failed.exit_code == EXIT_DBT_FAILED, failed.output
    line = error_line(failed)
    assert "nothing was published: the replica still holds run 1" in line, line
    report = run_cli(["report", "--replica-url", replica, "--run", "2"], tmp_path)
    assert "| published | nothing: the replica kept run 1 |" in report.output


def test_status_after_an_extract_load_says_nothing_published_yet(loaded_only):
    args = ["status", *urls(loaded_only["master"], loaded_only["replica"])]
    result = run_cli(args, loaded_only["work"])
    assert result.exit_code == EXIT_FAILED, result.output
    assert "nothing published yet" in error_line(result)
    first = result.output.splitlines()
    assert not any(ln.startswith("last sync") for ln in first), result.output
    assert any(
        ln.startswith("nothing published yet") and "last extract-load" in ln
        for ln in first
    ), result.output
    data = json.loads(run_cli([*args, "--json"], loaded_only["work"]).stdout)
    assert data["published"] is False and data["stale"] is True


def test_verify_of_the_models_says_nothing_published_yet(loaded_only):
    args = ["verify", *urls(loaded_only["master"], loaded_only["replica"])]
    for extra in ([], ["--against", "snapshot"]):
        result = run_cli([*args, *extra], loaded_only["work"])
        assert result.exit_code == EXIT_CHECK_ABORTED, result.output
        line = error_line(result)
        assert "nothing has been published yet" in line, line
        assert "DIFFERS" not in result.output
        assert (
            "public.clients, public.projects, public.leads and 9 more missing" in line
        )
    checked = run_cli([*args, "--json"], loaded_only["work"])
    data = json.loads(checked.stdout)
    # The landing tables the extract-load wrote are verified as before.
    assert data["ok"] is True and len(data["checks"]) == 12
    assert {c["layer"] for c in data["checks"]} == {"landing"}
    assert "public.leads" in data["unpublished_models"]


def test_verify_of_a_drifted_landing_table_still_fails(loaded_only, clusters, tmp_path):
    """The landing check runs on an unpublished replica: a difference is a
    failed check (exit 1), and the line still says nothing was published."""
    replica = new_database(clusters["replica"], "neverdrift")
    args = urls(loaded_only["master"], replica)
    assert (
        run_cli(["extract-load", *args, "--tables", "leads"], tmp_path).exit_code == 0
    )
    with psycopg.connect(replica, autocommit=True) as conn:
        conn.execute(
            "delete from master_raw.leads"
            " where id = (select min(id::text)::uuid from master_raw.leads)"
        )
    result = run_cli(["verify", *args, "--tables", "leads"], tmp_path)
    assert result.exit_code == EXIT_FAILED, result.output
    line = error_line(result)
    assert "landing.leads" in line and "nothing has been published yet" in line


def test_report_says_what_was_published(loaded_only, clusters, tmp_path):
    result = run_cli(["report", "--replica-url", loaded_only["replica"]], tmp_path)
    assert result.exit_code == 0, result.output
    assert (
        "| published | landing tables only (an extract-load);"
        " no sync had published yet |" in result.output
    )
    empty = new_database(clusters["replica"], "neverlog")
    with psycopg.connect(empty, autocommit=True) as conn:
        runlog.ensure_schema(conn)
    result = run_cli(["report", "--replica-url", empty], tmp_path)
    assert result.exit_code == EXIT_FAILED
    assert "nothing has been published yet" in error_line(result)
