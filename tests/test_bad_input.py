"""Bad input and interruptions: one clear line, a non-zero exit, nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from conftest import PROJECT_DIR, new_database, rows_text, run_cli

from crm_replica.demo import setup as demo


@pytest.fixture
def own_master(clusters) -> str:
    """A synthetic master of its own (these tests change it)."""
    master = new_database(clusters["master"], "badmaster")
    demo.ensure_master(master, seed=42, scale=1)
    return master


def error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def write_config(tmp_path, text: str):
    path = tmp_path / "replication.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_key_naming_a_missing_column_is_one_line(
    own_master, clusters, tmp_path, mode
):
    replica = new_database(clusters["replica"], "badkey")
    args = ["--master-url", own_master, "--replica-url", replica]
    assert (
        run_cli(["extract-load", *args, "--tables", "clients"], tmp_path).exit_code == 0
    )
    config = write_config(tmp_path, "tables:\n  clients:\n    key: [idd]\n")
    result = run_cli(
        ["extract-load", *args, "--config", str(config), "--mode", mode], tmp_path
    )
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert "clients" in line and "'idd'" in line, line


def test_all_tables_of_an_empty_schema_is_an_error(own_master, clusters, tmp_path):
    with psycopg.connect(own_master, autocommit=True) as conn:
        conn.execute("create schema empty_one")
    replica = new_database(clusters["replica"], "emptyall")
    config = write_config(tmp_path, "master_schema: empty_one\n")
    result = run_cli(
        [
            "extract-load",
            "--master-url",
            own_master,
            "--replica-url",
            replica,
            "--config",
            str(config),
            "--all-tables",
        ],
        tmp_path,
    )
    assert result.exit_code == 1, result.output
    assert "has no tables" in error_line(result)
    with psycopg.connect(replica) as conn:
        runs = conn.execute("select to_regclass('replica_meta.runs')").fetchone()[0]
    assert runs is None  # no run recorded, succeeded or not


def test_a_column_master_dropped_is_said(own_master, clusters, tmp_path):
    """The staging view that read the column cannot stand: the run says so."""
    replica = new_database(clusters["replica"], "dropped")
    args = ["--master-url", own_master, "--replica-url", replica]
    assert run_cli(["sync", *args], tmp_path).exit_code == 0
    with psycopg.connect(own_master, autocommit=True) as conn:
        conn.execute("alter table clients drop column description")
    result = run_cli(["extract-load", *args, "--tables", "clients"], tmp_path)
    assert result.exit_code == 0, result.output
    assert "schema: clients: -description" in result.output
    assert "stg_master__clients dropped" in result.output, result.output


def test_a_column_dropped_and_added_again_verifies_by_name(
    own_master, clusters, tmp_path
):
    replica = new_database(clusters["replica"], "reorder")
    args = ["--master-url", own_master, "--replica-url", replica]
    assert run_cli(["sync", *args], tmp_path).exit_code == 0
    with psycopg.connect(own_master, autocommit=True) as conn:
        conn.execute("alter table clients rename column status to status_old")
        conn.execute("alter table clients add column status varchar(50)")
        conn.execute("update clients set status = status_old")
        conn.execute("alter table clients drop column status_old")
    synced = run_cli(["sync", *args], tmp_path)
    assert synced.exit_code == 0, synced.output
    verified = run_cli(["verify", *args], tmp_path)
    assert verified.exit_code == 0, verified.output
    assert "columns differ" not in verified.output


# --- Interruptions, in a real process --------------------------------------


def replica_cli(*args: str) -> subprocess.Popen:
    """`replica ARGS` as a user runs it, in a process group of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "crm_replica.cli", *args],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # Ctrl-C reaches it as at a terminal, even when the tests run in the
        # background (where a shell makes SIGINT ignored, and children inherit that).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={**os.environ, "MASTER_DATABASE_URL": "", "REPLICA_DATABASE_URL": ""},
    )


def slow_master(master: str) -> None:
    """A view that takes 30 s to read, so that a run is caught in its middle
    however slow the machine (the tests interrupt it)."""
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute(
            "create or replace view slow_rows as select g as id"
            " from generate_series(1, 300) g where pg_sleep(0.1) is not null"
        )


def wait_for_running_run(replica: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(replica) as conn:
                row = conn.execute(
                    "select run_id from replica_meta.runs where status = 'running'"
                ).fetchone()
            if row:
                time.sleep(0.5)  # into the copy
                return row[0]
        except psycopg.Error:
            pass
        time.sleep(0.1)
    raise AssertionError("no run started")


def test_ctrl_c_is_one_error_line_and_keeps_the_previous_load(
    own_master, clusters, tmp_path
):
    slow_master(own_master)
    replica = new_database(clusters["replica"], "ctrlc")
    args = ["--master-url", own_master, "--replica-url", replica]
    assert (
        run_cli(["extract-load", *args, "--tables", "clients"], tmp_path).exit_code == 0
    )
    before = rows_text(replica, "master_raw", "clients")
    with psycopg.connect(own_master, autocommit=True) as conn:
        conn.execute("update clients set name = name || ' (changed)'")
    proc = replica_cli(
        "extract-load",
        *args,
        "--tables",
        "clients,slow_rows",
        "--workdir",
        str(tmp_path),
    )
    wait_for_running_run(replica)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Aborted!" not in err and "Traceback" not in err, err
    errors = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, err
    assert "interrupted" in errors[0] and "previous run" in errors[0], errors[0]
    assert rows_text(replica, "master_raw", "clients") == before
    with psycopg.connect(replica) as conn:
        statuses = conn.execute(
            "select status from replica_meta.runs order by run_id"
        ).fetchall()
    assert [s for (s,) in statuses] == ["succeeded", "failed"]


def test_a_killed_run_is_marked_abandoned_and_its_leftovers_dropped(
    own_master, clusters, tmp_path
):
    slow_master(own_master)
    replica = new_database(clusters["replica"], "killed")
    args = ["--master-url", own_master, "--replica-url", replica]
    proc = replica_cli(
        "extract-load",
        *args,
        "--tables",
        "clients,slow_rows",
        "--workdir",
        str(tmp_path),
    )
    killed = wait_for_running_run(replica)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    with psycopg.connect(replica) as conn:
        assert conn.execute(
            "select status from replica_meta.runs where run_id = %s", (killed,)
        ).fetchone() == ("running",)
    # The killed run's sessions end with it; then the next run may take the lock.
    for _ in range(100):
        with psycopg.connect(replica) as conn:
            if not conn.execute(
                "select count(*) from pg_stat_activity where application_name"
                " like 'crm-replica%' and datname = current_database()"
            ).fetchone()[0]:
                break
        time.sleep(0.1)
    before = run_cli(["status", *args], tmp_path)
    assert f"run {killed} abandoned" in before.output, before.output
    assert (
        run_cli(["extract-load", *args, "--tables", "clients"], tmp_path).exit_code == 0
    )
    with psycopg.connect(replica) as conn:
        assert conn.execute(
            "select status from replica_meta.runs where run_id = %s", (killed,)
        ).fetchone() == ("abandoned",)
        leftovers = conn.execute(
            "select count(*) from pg_class where relname like '\\_crm\\_fresh\\_%'"
        ).fetchone()[0]
    assert leftovers == 0
    report = run_cli(
        ["report", "--replica-url", replica, "--run", str(killed)], tmp_path
    )
    assert "abandoned" in report.output, report.output
