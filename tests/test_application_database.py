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
import threading
import urllib.request
from pathlib import Path

import appdb
import psycopg
import pytest
from conftest import PROJECT_DIR, new_database, paused_sync, run_cli

from crm_replica.demo import application
from crm_replica.demo import setup as demo

ALICE, BOB = application.USERS["alice"], application.USERS["bob"]

#: Who master lets read what, as a Supabase master does: row-level security and
#: a policy on a table, a policy for a role the application's database lacks, a
#: dashboard view granted to the API roles, and a table granted to nobody.
MASTER_ACCESS = """
do $$ begin
    if not exists (select from pg_roles where rolname = 'crm_auditor') then
        create role crm_auditor nologin;
    end if;
end $$;
alter table public.agent_interaction_logs enable row level security;
create policy logs_of_leads on public.agent_interaction_logs for select
    to authenticated using (lead_id is not null);
create policy auditors_read on public.agent_interaction_logs for select
    to crm_auditor using (true);
grant select on public.agent_interaction_logs to authenticated, crm_auditor;
grant select on public.dashboard_business_kpis to anon, authenticated;
"""

MASTER_COLUMNS = """
select string_agg(quote_ident(attname), ', ' order by attnum)
from pg_attribute
where attrelid = %s::regclass and attnum > 0 and not attisdropped
"""


@pytest.fixture(scope="module")
def app(clusters, supabase_app, tmp_path_factory) -> dict:
    master = new_database(clusters["master"], "appmaster")
    demo.ensure_master(master, seed=42, scale=1)
    with psycopg.connect(master, autocommit=True) as conn:
        application.create_roles(conn)
        conn.execute(MASTER_ACCESS)
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


def api_read(url: str, role: str, text: str) -> list[tuple] | str:
    """``text`` read as the Data API reads for ``role`` (a signed-in user's
    claims for authenticated); the error's first line when it is refused."""
    with psycopg.connect(url) as conn:
        conn.execute(f"set local role {role}")
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)",
            (json.dumps({"sub": str(ALICE), "role": role}),),
        )
        try:
            return conn.execute(text).fetchall()
        except psycopg.errors.InsufficientPrivilege as exc:
            return str(exc).splitlines()[0]


def test_what_the_replica_creates_gets_masters_access_and_never_more(app):
    """Point 7: master's row-level security, policies and grants on the tables
    the replica creates in the application's schema; none on its own; judged
    as Supabase's database linter does."""
    replica, output = app["replica"], app["first"].output
    policies = query(
        replica,
        "select tablename, policyname, roles::text, cmd, qual from pg_policies"
        " where schemaname = 'public'"
        " and tablename in ('agent_interaction_logs', 'dashboard_business_kpis')"
        " order by 1, 2",
    )
    assert policies == [
        (
            "agent_interaction_logs",
            "logs_of_leads",
            "{authenticated}",
            "SELECT",
            "(lead_id IS NOT NULL)",
        ),
        ("dashboard_business_kpis", "as_master", "{anon,authenticated}", "ALL", "true"),
    ]
    assert (
        "public.agent_interaction_logs: master's policy auditors_read cannot be"
        ' made here (role "crm_auditor" does not exist): row-level security stays'
        " on without it"
    ) in output
    assert "public.agent_interaction_logs: master grants crm_auditor" in output
    # A user reads master's rows that master's policy lets them read.
    (with_lead,) = query(
        app["master"],
        "select count(*) from agent_interaction_logs where lead_id is not null",
    )[0]
    assert with_lead > 0
    assert api_read(
        replica, "authenticated", "select count(*) from public.agent_interaction_logs"
    ) == [(with_lead,)]
    assert api_read(
        replica, "anon", "select count(*) from public.agent_interaction_logs"
    ) == ("permission denied for table agent_interaction_logs")
    # A dashboard (a view on master, granted to the API roles) reads as there.
    assert api_read(
        replica, "anon", "select count(*) from public.dashboard_business_kpis"
    ) == [(1,)]
    # What master grants nobody, and the replica's own tables, no API role reads.
    for table in ("lead_status_history", "lead_origins"):
        for role in ("anon", "authenticated"):
            refused = api_read(replica, role, f"select count(*) from public.{table}")
            assert refused == f"permission denied for table {table}", (table, role)
    # Supabase's linter: every table in public has row-level security on, every
    # view there runs with its reader's rights.
    assert (
        query(
            replica,
            "select relname from pg_class where relnamespace = 'public'::regnamespace"
            " and relkind in ('r', 'p') and not relrowsecurity",
        )
        == []
    )
    assert (
        query(
            replica,
            "select relname from pg_class where relnamespace = 'public'::regnamespace"
            " and relkind = 'v' and not coalesce(reloptions::text[] &&"
            " array['security_invoker=on', 'security_invoker=true'], false)",
        )
        == []
    )
    # The replica's own schemas: no API role may enter them or read a relation.
    reachable = query(
        replica,
        "select n.nspname, c.relname, r.rolname from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace"
        " cross join pg_roles r"
        " where r.rolname in ('anon', 'authenticated')"
        " and (n.nspname like 'replica%'"
        "      or n.nspname in ('master_raw', 'local_archive'))"
        " and c.relkind in ('r', 'p', 'v', 'm')"
        " and (has_schema_privilege(r.oid, n.oid, 'usage')"
        # A generation keeps the access its relations had where they were
        # published, for a rollback to bring back; nobody may enter it.
        "      or (has_table_privilege(r.oid, c.oid, 'select')"
        "          and n.nspname not like 'replica_gen_%'))",
    )
    assert reachable == []


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["verify"],
        ["report"],
        ["extract-load", "--tables", "leads"],
        ["build"],
        ["analyze", "--out", "{work}/analyze"],
        ["backup", "--out", "{work}/replica.dump"],
        ["lint", "models/dashboards"],
    ],
    ids=lambda c: c[0],
)
def test_every_command_works_as_supabases_postgres(app, command):
    """Point 10: the runner connects as Supabase's postgres, which is not a
    superuser (tests/appdb.py); every command works so (sync, rollback and
    build are the other tests here)."""
    rolsuper = query(
        app["replica"], "select rolsuper from pg_roles where rolname = current_user"
    )
    assert rolsuper == [(False,)]
    args = [a.format(work=app["work"]) for a in command]
    urls = ["--replica-url", app["replica"]]
    if command[0] not in ("report", "backup", "lint"):
        urls = ["--master-url", app["master"], *urls]
    result = run_cli([*args, *urls], app["work"])
    assert result.exit_code == 0, result.output
    assert "permission denied" not in result.output
    assert "must be superuser" not in result.output


def test_the_viewer_reads_as_supabases_postgres(app):
    """`replica serve`'s pages, as the non-superuser postgres."""
    from crm_replica.serve import open_server
    from crm_replica.settings import schemas as settings

    server = open_server(
        app["replica"], PROJECT_DIR, settings.load(PROJECT_DIR), port=0, quiet=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path in ("/", "/dashboards"):
            with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=30) as r:
                assert r.status == 200, path
    finally:
        server.shutdown()
        server.server_close()
