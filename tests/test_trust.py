"""Trust, against a PostgreSQL 15 server set up the way Supabase sets one up
(tests/supabase.py): no silent partial copy, no write to master, no role timeout
cutting a run short, a clear line on a lock or a bad URL."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import supabase
from conftest import new_database, run_cli

from crm_replica.db import url_password


def master_count(server, table: str) -> int:
    with server.admin() as conn:
        return conn.execute(f"select count(*) from public.{table}").fetchone()[0]


def replica_count(url: str, table: str) -> int | None:
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is None:
            return None
        return conn.execute(f"select count(*) from {table}").fetchone()[0]


def error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


# --- 1. Row-level security ---------------------------------------------------


def test_a_role_under_row_level_security_is_refused_by_every_reader(
    supabase_master, clusters, tmp_path
):
    """The reader role sees 8 of 11 leads through the policy. Every command that
    reads master refuses, naming the table and the fix; nothing is loaded."""
    replica = new_database(clusters["replica"], "rls")
    urls = ["--master-url", supabase_master.url("reader"), "--replica-url", replica]
    for command in (
        ["extract-load", "--tables", "clients,leads"],
        ["sync", "--tables", "clients,leads"],
    ):
        result = run_cli([command[0], *urls, *command[1:]], tmp_path)
        assert result.exit_code == 1, result.output
        line = error_line(result)
        assert "public.leads" in line and "BYPASSRLS" in line, line
        assert replica_count(replica, "master_raw.leads") is None
    verify = run_cli(["verify", *urls, "--tables", "leads"], tmp_path)
    assert verify.exit_code == 2, verify.output
    assert "public.leads" in error_line(verify)


def test_status_and_verify_refuse_a_filtered_read_after_a_sync(
    supabase_master, clusters, tmp_path
):
    replica = new_database(clusters["replica"], "rlsafter")
    synced = run_cli(
        [
            "extract-load",
            "--master-url",
            supabase_master.url("replicator"),
            "--replica-url",
            replica,
            "--tables",
            "clients,leads,conversations",
        ],
        tmp_path,
    )
    assert synced.exit_code == 0, synced.output
    urls = ["--master-url", supabase_master.url("reader"), "--replica-url", replica]
    for command in ("status", "verify"):
        args = [command, *urls] + (["--tables", "leads"] if command == "verify" else [])
        result = run_cli(args, tmp_path)
        assert result.exit_code == 2, result.output
        line = error_line(result)
        assert "public.leads" in line and "BYPASSRLS" in line, line


def test_a_bypassrls_role_copies_every_row(supabase_master, clusters, tmp_path):
    replica = new_database(clusters["replica"], "bypass")
    result = run_cli(
        [
            "extract-load",
            "--master-url",
            supabase_master.url("replicator"),
            "--replica-url",
            replica,
            "--tables",
            "leads,conversations",
        ],
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    for table in ("leads", "conversations"):
        assert replica_count(replica, f"master_raw.{table}") == master_count(
            supabase_master, table
        )
    # What the policy would have shown is fewer rows: the check saw a difference.
    with psycopg.connect(supabase_master.url("reader")) as conn:
        seen = conn.execute("select count(*) from leads").fetchone()[0]
    assert seen < master_count(supabase_master, "leads")


# --- 3. Role timeouts and locks ----------------------------------------------


@pytest.fixture(scope="module")
def slow_view(supabase_master):
    """A relation that takes 2.4 s to read: longer than the roles' 1 s timeouts."""
    with supabase_master.admin() as conn:
        conn.execute(
            "create view public.slow_rows with (security_invoker = false) as"
            " select g as id from generate_series(1, 3) g"
            " where pg_sleep(0.8) is not null"
        )
        conn.execute("alter view public.slow_rows owner to crm_owner")
        conn.execute("grant select on public.slow_rows to reader, replicator")
    yield "slow_rows"
    with supabase_master.admin() as conn:
        conn.execute("drop view public.slow_rows")


def test_role_timeouts_do_not_cut_a_long_load_short(
    supabase_master, slow_view, clusters, tmp_path
):
    replica = new_database(clusters["replica"], "timeouts")
    with psycopg.connect(supabase_master.url("replicator")) as conn:
        assert conn.execute("show statement_timeout").fetchone()[0] == "1s"
    result = run_cli(
        [
            "extract-load",
            "--master-url",
            supabase_master.url("replicator"),
            "--replica-url",
            replica,
            "--tables",
            f"{slow_view},clients",
            "--jobs",
            "1",
        ],
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert replica_count(replica, f"master_raw.{slow_view}") == 3


def test_a_lock_on_master_fails_the_run_clearly(supabase_master, clusters, tmp_path):
    replica = new_database(clusters["replica"], "locked")
    args = [
        "extract-load",
        "--master-url",
        supabase_master.url("replicator"),
        "--replica-url",
        replica,
        "--tables",
        "clients,leads",
    ]
    with supabase_master.admin() as holder:
        holder.execute("begin")
        holder.execute("lock table public.leads in access exclusive mode")
        started = time.monotonic()
        result = run_cli([*args, "--lock-timeout", "1"], tmp_path)
        waited = time.monotonic() - started
        holder.execute("rollback")
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert "lock" in line and "--lock-timeout" in line, line
    assert waited < 60  # it did not hang (the run has no other timeout)
    assert replica_count(replica, "master_raw.leads") is None
    assert run_cli(args, tmp_path).exit_code == 0


# --- 2. The guard ------------------------------------------------------------


def catalog(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select (select count(*) from pg_class),"
            " (select count(*) from pg_namespace)"
        ).fetchone()


@pytest.fixture
def master_as_replica(supabase_master):
    """A master database, and a URL that reaches it by other text."""
    name = f"guard_{int(time.time() * 1000) % 10**8}"
    supabase.master_database(supabase_master, name)
    from crm_replica.demo import setup as demo

    demo.ensure_master(supabase_master.url("crm_owner", name), seed=7, scale=1)
    master = supabase_master.url("postgres", name)
    other = (
        f"postgresql://localhost:{supabase_master.port}/{name}?user=postgres"
        f"&password={supabase.PASSWORDS['postgres']}&application_name=app"
    )
    return master, other


WRITING_COMMANDS = [
    ["sync"],
    ["extract-load"],
    ["build"],
    ["backup", "--out", "replica.dump"],
    ["rollback"],
    ["demo"],
]


@pytest.mark.parametrize("command", WRITING_COMMANDS, ids=lambda c: c[0])
def test_every_writing_command_refuses_a_replica_that_is_master(
    command, master_as_replica, tmp_path
):
    master, same = master_as_replica
    before = catalog(master)
    result = run_cli(
        [command[0], "--master-url", master, "--replica-url", same, *command[1:]],
        tmp_path,
    )
    assert result.exit_code == 1, result.output
    assert "refusing to run" in error_line(result)
    assert catalog(master) == before


def test_build_without_a_master_url_says_it_cannot_check(clusters, tmp_path):
    replica = new_database(clusters["replica"], "nomaster")
    result = run_cli(
        ["build", "--replica-url", replica, "--select", "bant_statuses"], tmp_path
    )
    assert "not checked that the replica is not the master" in result.output
    assert "MASTER_DATABASE_URL" in result.output


# --- 6. Passwords never printed ----------------------------------------------


@pytest.mark.parametrize(
    "password", ["p@ssSECRET2", "pa/ssSECRET3", "pa@ss/SECRET4", "Wr0ngSecret9"]
)
def test_no_part_of_a_password_is_printed(password, supabase_master, tmp_path):
    url = f"postgresql://admin:{password}@127.0.0.1:{supabase_master.port}/postgres"
    assert url_password(url) == password
    for command in (["status"], ["verify"], ["extract-load"], ["sync"]):
        result = run_cli(
            [command[0], "--master-url", url, "--replica-url", url], tmp_path
        )
        assert result.exit_code != 0
        error_line(result)
        for piece in {password, *password.replace("/", "@").split("@")}:
            if len(piece) >= 4:
                assert piece not in result.output, (piece, result.output)


# --- 4. One run at a time ----------------------------------------------------


def test_a_second_run_is_refused_at_once_naming_the_first(
    master_url, clusters, tmp_path
):
    from crm_replica.load import RUN_LOCK_KEY

    replica = new_database(clusters["replica"], "twice")
    args = ["extract-load", "--master-url", master_url, "--replica-url", replica]
    with psycopg.connect(
        replica, autocommit=True, application_name="crm-replica run lock (pid 4242)"
    ) as holder:
        holder.execute("select pg_advisory_lock(%s)", (RUN_LOCK_KEY,))
        started = time.monotonic()
        refused = run_cli([*args, "--tables", "clients"], tmp_path)
        assert time.monotonic() - started < 30
        line = error_line(refused)
        assert "another run (pid 4242, started at" in line, line
        waited = run_cli([*args, "--tables", "clients", "--wait", "1"], tmp_path)
        assert "still holds this replica after 1 s" in error_line(waited)
        # --wait without a number waits until the holder is done.
        threading.Timer(1.5, holder.close).start()
        assert (
            run_cli([*args, "--tables", "clients", "--wait"], tmp_path).exit_code == 0
        )


def test_settings_take_effect_through_a_pooler_that_drops_startup_options(
    supabase_master,
):
    """The replicator role has 1 s timeouts of its own; a pooler drops the
    startup packet's options: the runner sees it after connecting and sets them."""
    from pooler import OptionsDroppingProxy

    from crm_replica.db import connect_master

    proxy = OptionsDroppingProxy(supabase_master.port)
    try:
        url = supabase_master.url("replicator").replace(
            f":{supabase_master.port}/", f":{proxy.port}/"
        )
        with psycopg.connect(url, options="-c statement_timeout=0") as plain:
            # Through the proxy, a client's own options do not arrive.
            assert plain.execute("show statement_timeout").fetchone()[0] == "1s"
        with connect_master(url) as conn:
            settings = dict(
                conn.execute(
                    "select name, setting from pg_settings where name = any(%s)",
                    (
                        [
                            "default_transaction_read_only",
                            "row_security",
                            "statement_timeout",
                            "idle_in_transaction_session_timeout",
                            "TimeZone",
                        ],
                    ),
                ).fetchall()
            )
            assert settings == {
                "default_transaction_read_only": "on",
                "row_security": "off",
                "statement_timeout": "0",
                "idle_in_transaction_session_timeout": "0",
                "TimeZone": "UTC",
            }
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("create table nope (x int)")
    finally:
        proxy.close()
