"""The replica lives in the application's database (tests/appdb.py: a Supabase
project in small, on PostgreSQL 15, the runner connected as a non-superuser
postgres). Through syncs, local writes between them, a rollback, `replica build`
and `dbt build` by hand, every object of the application's stays as it was,
every row of its own stays (or is archived), master's rows are in its tables,
no webhook fires, and its users read what its policies allow."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import appdb
import psycopg
import pytest
from conftest import PROJECT_DIR, new_database, paused_sync, run_cli

from crm_replica.demo import application
from crm_replica.demo import setup as demo

ALICE, BOB = application.USERS["alice"], application.USERS["bob"]

MASTER_COLUMNS = """
select string_agg(quote_ident(attname), ', ' order by attnum)
from pg_attribute
where attrelid = %s::regclass and attnum > 0 and not attisdropped
"""


@pytest.fixture(scope="module")
def app(clusters, supabase_app, tmp_path_factory) -> dict:
    master = new_database(clusters["master"], "appmaster")
    demo.ensure_master(master, seed=42, scale=1)
    replica = appdb.database(supabase_app, "crm_app", master)
    state = {
        "args": ["--master-url", master, "--replica-url", replica],
        "master": master,
        "replica": replica,
        "work": tmp_path_factory.mktemp("appdb"),
        "catalog": appdb.catalog(replica),
        "rows": app_rows(replica),
        "webhooks": webhook_calls(replica),
    }
    state["first"] = sync(state)
    return state


def sync(app: dict, *extra: str):
    return run_cli(
        ["sync", "--master-url", app["master"], "--replica-url", app["replica"]]
        + list(extra),
        app["work"],
    )


def query(url: str, text: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(text, params).fetchall()


def webhook_calls(url: str) -> int:
    return query(url, "select count(*) from public.webhook_calls")[0][0]


def app_rows(url: str) -> dict[str, list[dict]]:
    """Every row of the application's tables, as JSON, by table."""
    tables = [
        "clients",
        "projects",
        "leads",
        "conversations",
        "profiles",
        "client_members",
        "project_members",
        "lead_members",
        "conversation_members",
        "notifications",
    ]
    return {
        t: [r[0] for r in query(url, f"select to_jsonb(t) from public.{t} as t")]
        for t in tables
    }


def still_there(row: dict, rows: list[dict]) -> bool:
    """``row`` is among ``rows`` with every value it had (columns master's added
    to the table aside)."""
    return any(all(other.get(k) == v for k, v in row.items()) for other in rows)


def master_rows(app: dict, table: str) -> set[str]:
    """Master's rows of ``table`` as text, on master's columns."""
    columns = query(app["master"], MASTER_COLUMNS, (f"public.{table}",))[0][0]
    return {
        r[0] for r in query(app["master"], f"select row({columns})::text from {table}")
    }


def replica_rows(app: dict, table: str) -> set[str]:
    """The application's rows of ``table`` on master's columns."""
    columns = query(app["master"], MASTER_COLUMNS, (f"public.{table}",))[0][0]
    return {
        r[0]
        for r in query(
            app["replica"], f"select row({columns})::text from public.{table}"
        )
    }


def as_user(url: str, user, text: str) -> list[tuple]:
    """``text`` read as PostgREST reads for a signed-in user: role authenticated,
    the user's claims."""
    with psycopg.connect(url) as conn:
        conn.execute("set local role authenticated")
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)",
            (json.dumps({"sub": str(user), "role": "authenticated"}),),
        )
        return conn.execute(text).fetchall()


def test_a_first_sync_keeps_every_object_of_the_applications(app):
    assert app["first"].exit_code == 0, app["first"].output
    appdb.assert_kept(app["catalog"], appdb.catalog(app["replica"]))


def test_masters_rows_are_in_the_applications_tables_beside_its_own(app):
    for table in ("clients", "projects", "leads", "conversations"):
        assert master_rows(app, table) <= replica_rows(app, table), table
    after = app_rows(app["replica"])
    master_ids = {
        t: {r[0] for r in query(app["master"], f"select id::text from {t}")}
        for t in ("clients", "projects", "leads")
    }
    archived = {
        (r[0], r[1])
        for r in query(
            app["replica"],
            "select table_name, row_key ->> 'id' from local_archive.app_rows",
        )
    }
    overwritten = 0
    for table, rows in app["rows"].items():
        for row in rows:
            if still_there(row, after[table]):
                continue
            # Only a row master's overwrote: it is in the archive.
            assert row.get("id") in master_ids.get(table, set()), (table, row)
            assert (f"public.{table}", row["id"]) in archived, (table, row)
            overwritten += 1
    # The legacy rows with master's ids (demo.synthetic.LOCAL_OVERLAP) differ.
    assert overwritten == 1 + 2 + 5
    # The memberships of the application's still point at rows that are there.
    orphans = query(
        app["replica"],
        "select count(*) from public.lead_members m"
        " where not exists (select 1 from public.leads l where l.id = m.lead_id)",
    )
    assert orphans == [(0,)]


def test_no_webhook_fires_for_masters_rows(app):
    assert webhook_calls(app["replica"]) == app["webhooks"]


def test_the_applications_view_named_like_a_master_table_is_kept(app):
    output = app["first"].output
    assert "public.whatsapp_messages is the application's view: kept" in output
    (count,) = query(app["master"], "select count(*) from whatsapp_messages")[0]
    assert query(
        app["replica"], "select count(*) from replica_shadow.whatsapp_messages"
    ) == [(count,)]


def test_a_user_reads_what_the_policies_allow(app):
    shared = query(
        app["replica"],
        "select lead_id from public.lead_members where user_id = %s",
        (BOB,),
    )
    seen = as_user(app["replica"], BOB, "select id, name from public.leads")
    assert [r[0] for r in seen] == [r[0] for r in shared]
    # The lead Bob follows is master's: he reads master's name.
    assert (
        seen[0][1]
        == query(app["master"], "select name from leads where id = %s", (seen[0][0],))[
            0
        ][0]
    )
    alice = as_user(app["replica"], ALICE, "select count(*) from public.leads")
    assert alice[0][0] == len(app["rows"]["leads"])


def test_verify_reads_masters_rows_of_the_applications_tables(app):
    result = run_cli(
        ["verify", "--master-url", app["master"], "--replica-url", app["replica"]],
        app["work"],
    )
    assert result.exit_code == 0, result.output


def test_dbt_build_by_hand_replaces_nothing_of_the_applications(app, tmp_path):
    server = psycopg.conninfo.conninfo_to_dict(app["replica"])
    shutil.copy(PROJECT_DIR / "profiles.yml.example", tmp_path / "profiles.yml")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--profiles-dir",
            str(tmp_path),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "REPLICA_HOST": server["host"],
            "REPLICA_PORT": str(server["port"]),
            "REPLICA_USER": server["user"],
            "REPLICA_DBNAME": server["dbname"],
            "DBT_ENV_SECRET_REPLICA_PASSWORD": server["password"],
        },
    )
    assert done.returncode != 0, done.stdout[-2000:]
    assert "public.leads is the application's" in done.stdout.replace('"', "")
    appdb.assert_kept(app["catalog"], appdb.catalog(app["replica"]))


def test_replica_build_writes_rows_and_keeps_the_applications(app):
    result = run_cli(["build", "--replica-url", app["replica"]], app["work"])
    assert result.exit_code == 0, result.output
    appdb.assert_kept(app["catalog"], appdb.catalog(app["replica"]))
    assert webhook_calls(app["replica"]) == app["webhooks"]


def test_an_incremental_sync_merges_the_applications_writes(app):
    lead = query(app["master"], "select id from leads order by id limit 1")[0][0]
    with psycopg.connect(app["replica"], autocommit=True) as conn:
        # The application edits one of master's leads, and adds a lead of its own.
        conn.execute(
            "update public.leads set status = 'app-edited' where id = %s", (lead,)
        )
        own = conn.execute(
            "insert into public.leads (name, phone)"
            " values ('Made here', '+972500000001') returning id"
        ).fetchone()[0]
    with psycopg.connect(app["master"], autocommit=True) as conn:
        conn.execute("update leads set name = name || ' (renamed)', updated_at = now()")
    calls = webhook_calls(app["replica"])
    result = sync(app, "--mode", "incremental")
    assert result.exit_code == 0, result.output
    appdb.assert_kept(app["catalog"], appdb.catalog(app["replica"]))
    assert webhook_calls(app["replica"]) == calls
    assert master_rows(app, "leads") <= replica_rows(app, "leads")
    # master_wins: master's status is back, the application's edit archived.
    archived = query(
        app["replica"],
        "select row_data ->> 'status' from local_archive.app_rows"
        " where table_name = 'public.leads' and row_key ->> 'id' = %s",
        (str(lead),),
    )
    assert ("app-edited",) in archived
    assert query(app["replica"], "select name from public.leads where id = %s", (own,))


def test_a_rollback_puts_the_previous_rows_back_in_place(app):
    renamed = query(
        app["replica"], "select count(*) from public.leads where name like '%(renamed)'"
    )[0][0]
    assert renamed > 0
    calls = webhook_calls(app["replica"])
    result = run_cli(["rollback", "--replica-url", app["replica"]], app["work"])
    assert result.exit_code == 0, result.output
    assert query(
        app["replica"], "select count(*) from public.leads where name like '%(renamed)'"
    ) == [(0,)]
    # The application's own lead, made after the first sync, is still there.
    assert query(
        app["replica"], "select count(*) from public.leads where name = 'Made here'"
    ) == [(1,)]
    appdb.assert_kept(app["catalog"], appdb.catalog(app["replica"]))
    assert webhook_calls(app["replica"]) == calls


def test_a_sync_killed_inside_the_publish_leaves_the_applications_rows(app):
    before = app_rows(app["replica"])
    with psycopg.connect(app["master"], autocommit=True) as conn:
        conn.execute("update leads set name = name || ' (again)', updated_at = now()")
    proc = paused_sync(app, "publish-commit")  # the rows written, not committed
    try:
        # A reader is not blocked (a lock wait would end in the statement
        # timeout's error), and sees the rows as they were.
        with psycopg.connect(app["replica"], autocommit=True) as conn:
            conn.execute("set statement_timeout = '2s'")
            seen = conn.execute(
                "select count(*) from public.leads where name like '%(again)'"
            ).fetchone()[0]
        assert seen == 0
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert app_rows(app["replica"]) == before
    appdb.assert_kept(app["catalog"], appdb.catalog(app["replica"]))
    # The next sync publishes.
    result = sync(app)
    assert result.exit_code == 0, result.output
    assert master_rows(app, "leads") <= replica_rows(app, "leads")
