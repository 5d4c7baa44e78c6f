"""Write, audit, publish: what the application sees while a sync runs, what a
publish replaces, what a rollback brings back, and what an incremental sync
rebuilds. Real processes and real PostgreSQL."""

from __future__ import annotations

import json
import os
import signal

import psycopg
import pytest
from conftest import masters_rows_text, new_database, paused_sync, rows_text, run_cli

from crm_replica.analyze import compare as analyze
from crm_replica.demo import setup as demo
from crm_replica.settings import Application


@pytest.fixture
def pair(clusters, tmp_path) -> dict:
    master = new_database(clusters["master"], "pubmaster")
    demo.ensure_master(master, seed=42, scale=1)
    replica = new_database(clusters["replica"], "pubreplica")
    assert demo.ensure_application(replica, master, seed=42)
    return {
        "args": ["--master-url", master, "--replica-url", replica],
        "master": master,
        "replica": replica,
        "work": tmp_path,
    }


def run(pair: dict, command: str, *extra: str):
    return run_cli([command, *pair["args"], *extra], pair["work"])


def rename_leads(master: str, suffix: str) -> None:
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute("update leads set name = name || %s", (suffix,))


def app_view(replica: str) -> list[str]:
    with psycopg.connect(replica) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select row(b.*)::text from app.lead_list b order by 1"
            )
        ]


def view_oid(replica: str) -> int:
    with psycopg.connect(replica) as conn:
        return conn.execute("select 'app.lead_list'::regclass::oid").fetchone()[0]


def test_the_application_reads_the_previous_replica_until_the_publish(pair):
    assert run(pair, "sync").exit_code == 0
    before = {
        t: rows_text(pair["replica"], "public", t)
        for t in ("leads", "dashboard_business_kpis", "whatsapp_messages")
    }
    rename_leads(pair["master"], " (new)")
    proc = paused_sync(pair, "publish")  # loaded, built and verified beside
    during = {t: rows_text(pair["replica"], "public", t) for t in before}
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert during == before
    # leads is the application's table: master's rows are written into it.
    after = masters_rows_text(pair["replica"], pair["master"], "leads")
    assert after == rows_text(pair["master"], "public", "leads")
    assert rows_text(pair["replica"], "public", "leads") != before["leads"]


@pytest.mark.parametrize("fault", ["sigkill", "kill-backend"])
def test_a_sync_stopped_inside_the_publish_publishes_nothing(pair, fault):
    assert run(pair, "sync").exit_code == 0
    tables = [("public", "leads"), ("master_raw", "leads"), ("public", "clients")]
    before = {t: rows_text(pair["replica"], *t) for t in tables}
    rename_leads(pair["master"], " (lost)")
    proc = paused_sync(pair, "publish-commit")  # every move made, not committed
    if fault == "sigkill":
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        with psycopg.connect(pair["replica"], autocommit=True) as conn:
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity"
                " where application_name = 'crm-replica' and state like 'idle in%'"
            )
    proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert {t: rows_text(pair["replica"], *t) for t in tables} == before
    verify = run(pair, "verify", "--against", "snapshot")
    assert verify.exit_code == 0, verify.output
    again = run(pair, "sync")
    assert again.exit_code == 0, again.output
    assert masters_rows_text(pair["replica"], pair["master"], "leads") == rows_text(
        pair["master"], "public", "leads"
    )


def test_an_extract_load_alone_leaves_the_models_the_last_publishs(pair):
    """extract-load replaces the landing tables and publishes no model: verify
    --against snapshot checks each against the run it holds (the landing tables
    the extract-load's, the models the sync's), and still sees a model row
    changed since."""
    assert run(pair, "sync").exit_code == 0
    published = {t: rows_text(pair["replica"], "public", t) for t in ("leads",)}
    rename_leads(pair["master"], " (later)")
    with psycopg.connect(pair["master"], autocommit=True) as conn:
        conn.execute(
            "delete from whatsapp_messages where id = (select id from"
            " whatsapp_messages order by id limit 1)"
        )
    assert run(pair, "extract-load").exit_code == 0
    assert rows_text(pair["replica"], "public", "leads") == published["leads"]
    snapshot = run(pair, "verify", "--against", "snapshot")
    assert snapshot.exit_code == 0, snapshot.output
    live = run(pair, "verify", "--json")  # master moved on: the models did not
    assert live.exit_code == 1
    differ = {
        (c["layer"], c["table"])
        for c in json.loads(live.stdout)["checks"]
        if not c["matches"]
    }
    assert ("models", "leads") in differ
    assert ("models", "whatsapp_messages") in differ
    assert not {layer for layer, _ in differ} & {"landing"}
    assert "public.leads, " in live.stderr
    assert "replica build publishes them" in live.stderr
    with psycopg.connect(pair["replica"], autocommit=True) as conn:
        conn.execute(
            "update public.whatsapp_messages set content = content || '.' where"
            " id = (select id from public.whatsapp_messages order by id limit 1)"
        )
        # One of master's rows in the application's table, changed by it.
        conn.execute(
            "update public.leads set name = name || '!' where id = (select"
            " (row_key->>'id')::uuid from replica_meta.published_rows"
            " where table_name = 'public.leads' order by 1 limit 1)"
        )
    tampered = run(pair, "verify", "--against", "snapshot", "--json")
    assert tampered.exit_code == 1, tampered.output
    differ = {
        (c["layer"], c["table"])
        for c in json.loads(tampered.stdout)["checks"]
        if not c["matches"]
    }
    assert differ == {("models", "whatsapp_messages"), ("models", "leads")}
    assert run(pair, "build").exit_code == 0
    for extra in ([], ["--against", "snapshot"]):
        result = run(pair, "verify", *extra)
        assert result.exit_code == 0, result.output


def test_a_master_column_the_application_names_otherwise(pair, tmp_path):
    """replication.yml's application: columns: maps master's leads.phone to the
    application's leads.mobile: the publish writes master's phones there (and
    adds no phone column), verify compares them so and still sees one changed,
    the legacy leads are read by the application's name, and analyze's DDL does
    not add the column either."""
    with psycopg.connect(pair["replica"], autocommit=True) as conn:
        conn.execute("alter table public.leads rename column phone to mobile")
    config = tmp_path / "replication.yml"
    config.write_text("application:\n  columns:\n    leads: {phone: mobile}\n")
    synced = run(pair, "sync", "--config", str(config))
    assert synced.exit_code == 0, synced.output
    with psycopg.connect(pair["replica"]) as conn:
        columns = {
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns"
                " where table_schema = 'public' and table_name = 'leads'"
            )
        }
        assert "mobile" in columns and "phone" not in columns
        written = dict(
            conn.execute("select id::text, mobile from public.leads").fetchall()
        )
        review = conn.execute(
            "select table_schema from information_schema.tables"
            " where table_name = 'local_only_leads'"
        ).fetchone()[0]
        legacy = conn.execute(
            f"select count(*), count(phone) from {review}.local_only_leads"
        ).fetchone()
    with psycopg.connect(pair["master"]) as conn:
        master = dict(conn.execute("select id::text, phone from leads").fetchall())
    assert {k: written[k] for k in master} == master
    assert legacy[0] > 0 and legacy[1] == legacy[0]  # read from mobile
    for extra in ([], ["--against", "snapshot"]):
        result = run(pair, "verify", *extra)
        assert result.exit_code == 0, result.output
    some = sorted(master)[0]
    with psycopg.connect(pair["replica"], autocommit=True) as conn:
        conn.execute(
            "update public.leads set mobile = '+000' where id = %s::uuid", (some,)
        )
    examples = {"--against": [], "--json": [f"id={some} differs"]}
    for extra in (["--json"], ["--against", "snapshot", "--json"]):
        result = run(pair, "verify", *extra)
        assert result.exit_code == 1, result.output
        differ = [
            (c["layer"], c["table"], c["examples"])
            for c in json.loads(result.stdout)["checks"]
            if not c["matches"]
        ]
        assert differ == [("models", "leads", examples[extra[0]])]
    plan = analyze.analyze(
        pair["master"],
        pair["replica"],
        tables=("leads",),
        application=Application(columns=(("leads", (("phone", "mobile"),)),)),
    )
    leads = plan.table("leads")
    assert "phone" not in {c.name for c in leads.missing_columns}
    assert leads.renames == {"mobile": "phone"}


def test_a_column_map_that_does_not_fit_is_one_error(pair, tmp_path):
    config = tmp_path / "replication.yml"
    config.write_text("application:\n  columns:\n    leads: {phone: cell}\n")
    before = rows_text(pair["replica"], "public", "leads")
    result = run(pair, "sync", "--config", str(config))
    assert result.exit_code != 0
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "public.leads" in errors[0] and "no column cell" in errors[0]
    assert "Traceback" not in result.output
    assert rows_text(pair["replica"], "public", "leads") == before


def foreign_keys(url: str, schema: str) -> set[tuple]:
    with psycopg.connect(url) as conn:
        return set(
            conn.execute(
                "select conrelid::regclass::text, conname, confrelid::regclass::text,"
                " convalidated from pg_constraint where contype = 'f'"
                " and connamespace = %s::regnamespace",
                (schema,),
            ).fetchall()
        )


MASTERS_KEYS = {
    ("agent_interaction_logs", "agent_interaction_logs_lead_id_fkey", "leads"),
    ("lead_status_history", "lead_status_history_lead_id_fkey", "leads"),
    (
        "conversation_audit_log",
        "conversation_audit_log_conversation_id_fkey",
        "conversations",
    ),
    ("leads", "leads_client_id_fkey", "clients"),
    ("leads", "leads_current_project_id_fkey", "projects"),
    ("conversations", "conversations_lead_id_fkey", "leads"),
    ("projects", "projects_client_id_fkey", "clients"),
}


def made_keys(url: str) -> dict[tuple, bool]:
    return {
        (child, name, parent): valid
        for child, name, parent, valid in foreign_keys(url, "public")
    }


def test_the_tables_the_replica_creates_get_masters_keys_and_defaults(
    clusters, tmp_path
):
    """In a database without the application's tables, the replica's tables get
    master's foreign keys among them (validated) and master's defaults; the
    copy a sync replaces (a generation) keeps none."""
    master = new_database(clusters["master"], "keysmaster")
    demo.ensure_master(master, seed=42, scale=1)
    replica = new_database(clusters["replica"], "keysreplica")
    plain = {
        "args": ["--master-url", master, "--replica-url", replica],
        "master": master,
        "replica": replica,
        "work": tmp_path,
    }
    assert run(plain, "sync").exit_code == 0
    on_master = {(c, n, p) for c, n, p, _ in foreign_keys(master, "public")}
    assert on_master >= MASTERS_KEYS  # the figures compared are master's own
    keys = {k for k in on_master if k[0] in {k[0] for k in MASTERS_KEYS}}
    assert made_keys(replica) == dict.fromkeys(keys, True)
    with psycopg.connect(replica) as conn:
        default = conn.execute(
            "select pg_get_expr(adbin, adrelid) from pg_attrdef d join pg_attribute a"
            " on a.attrelid = d.adrelid and a.attnum = d.adnum"
            " where d.adrelid = 'public.agent_interaction_logs'::regclass"
            " and a.attname = 'created_at'"
        ).fetchone()
    assert default == ("now()",)
    rename_leads(master, " (again)")
    again = run(plain, "sync")
    assert again.exit_code == 0, again.output
    assert made_keys(replica) == dict.fromkeys(keys, True)
    with psycopg.connect(replica) as conn:
        generations = [
            r[0]
            for r in conn.execute(
                "select nspname from pg_namespace"
                " where nspname like 'replica\\_gen\\_%'"
                " and exists (select 1 from pg_class where relnamespace ="
                " pg_namespace.oid and relname = 'agent_interaction_logs')"
            )
        ]
    assert generations  # the sync kept the replaced replica
    for schema in generations:
        assert foreign_keys(replica, schema) == set()
    # Master's key holds here as there: a lead its logs reference stays.
    with psycopg.connect(replica, autocommit=True) as conn:
        lead = conn.execute(
            "select lead_id from public.agent_interaction_logs limit 1"
        ).fetchone()[0]
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("delete from public.leads where id = %s", (lead,))


def test_no_key_of_the_replicas_references_the_applications_tables(pair):
    """A key of master's from a table the replica creates to one of the
    application's is not made, and said: replacing the replica's copy would
    lock the application's table against its readers."""
    result = run(pair, "sync")
    assert result.exit_code == 0, result.output
    replicas = {
        "agent_interaction_logs",
        "lead_status_history",
        "conversation_audit_log",
    }
    made = made_keys(pair["replica"])
    assert not {k for k in made if k[0] in replicas}
    # The application's own keys (the same names as master's) are its own.
    assert {k for k in made if k in MASTERS_KEYS} == {
        k for k in MASTERS_KEYS if k[0] not in replicas
    }
    assert (
        "public.agent_interaction_logs: master's foreign key"
        " agent_interaction_logs_lead_id_fkey references public.leads, the"
        " application's: not made"
    ) in " ".join(result.stderr.split())


def test_an_applications_view_follows_what_is_published(pair):
    """A view of the application's over a table the replica created makes that
    table the application's: the publish writes its rows in place (and a
    rollback puts them back), so the view reads what is published without being
    re-created."""
    assert run(pair, "sync").exit_code == 0
    with psycopg.connect(pair["replica"], autocommit=True) as conn:
        conn.execute("create schema app")
        conn.execute(
            "create view app.lead_list as select id, origin from public.lead_origins"
        )
    oid = view_oid(pair["replica"])
    first = app_view(pair["replica"])
    with psycopg.connect(pair["master"], autocommit=True) as conn:
        conn.execute(
            "insert into leads select (jsonb_populate_record(null::leads, to_jsonb(l)"
            " || jsonb_build_object('id', gen_random_uuid(), 'phone', '+972500000009'"
            "))).* from leads as l order by id limit 1"
        )
    result = run(pair, "sync")
    assert result.exit_code == 0, result.output
    assert "public.lead_origins (the application's table): 1 inserted" in (
        result.output
    )
    second = app_view(pair["replica"])
    assert len(second) == len(first) + 1 and set(first) < set(second)
    assert run(pair, "rollback").exit_code == 0
    assert app_view(pair["replica"]) == first
    # The rollback is itself a publish: the replaced replica is a generation.
    listed = run_cli(
        ["rollback", "--replica-url", pair["replica"], "--list"], pair["work"]
    )
    newest = int(listed.output.splitlines()[2].split()[0])
    assert run(pair, "rollback", "--to", str(newest)).exit_code == 0
    assert app_view(pair["replica"]) == second
    assert view_oid(pair["replica"]) == oid


def build_nodes(replica: str, kind: str = "model") -> set[str]:
    """The dbt nodes the latest run built or tested (of one ``kind``: model,
    test, unit_test…)."""
    with psycopg.connect(replica) as conn:
        return {
            r[0].split(".")[2]
            for r in conn.execute(
                "select unique_id from replica_meta.build_results where run_id ="
                " (select max(run_id) from replica_meta.runs)"
            )
            if r[0].startswith(f"{kind}.")
        }


def test_an_incremental_sync_rebuilds_only_what_changed(pair):
    assert run(pair, "sync", "--keep", "1").exit_code == 0
    assert "dashboard_business_kpis" in build_nodes(pair["replica"], "unit_test")
    assert run(pair, "sync", "--keep", "1").exit_code == 0  # keeps run 1's
    with psycopg.connect(pair["master"], autocommit=True) as conn:
        conn.execute(
            "update conversations set status = 'validated', updated_at = now()"
            " where id in (select id from conversations order by id limit 5)"
        )
    result = run(pair, "sync", "--mode", "incremental", "--keep", "1")
    assert result.exit_code == 0, result.output
    built = build_nodes(pair["replica"])
    assert "conversations" in built
    assert "int_conversations_linked_to_whatsapp_messages" in built
    assert "dashboard_business_kpis" in built  # counts from the snapshot time
    # A message's lead reads the conversations (where several leads share its
    # number, the conversation's lead wins): rebuilt. A lead's status history is
    # not.
    assert "int_whatsapp_messages_linked_to_leads" in built
    assert "lead_bant_transitions" not in built
    assert "leads" not in built and "whatsapp_messages" not in built
    # The generation's build tested this same code: no unit test runs again.
    assert not build_nodes(pair["replica"], "unit_test")
    assert "conversations_link_to_whatsapp_messages" in build_nodes(
        pair["replica"], "test"
    )
    for table in ("conversations", "whatsapp_messages", "leads"):
        assert masters_rows_text(pair["replica"], pair["master"], table) == rows_text(
            pair["master"], "public", table
        ), table
    assert run(pair, "verify").exit_code == 0
    # Nothing changed on master. The next sync builds on the generation it keeps
    # (run 2's replica, from before the change), so it brings that one up to date;
    # the one after finds nothing changed: only what counts from the snapshot
    # time is built.
    for _ in range(2):
        quiet = run(pair, "sync", "--mode", "incremental", "--keep", "1")
        assert quiet.exit_code == 0, quiet.output
    built = build_nodes(pair["replica"])
    assert "dashboard_business_kpis" in built
    assert "conversations" not in built and "leads" not in built
    assert run(pair, "verify").exit_code == 0


def test_a_full_sync_on_a_generation_compares_every_row(pair):
    """A full sync that builds on a generation compares every row by content:
    it finds an update that left the cursor alone (an incremental run cannot),
    writes only what differs, and rebuilds only what descends from it."""
    assert run(pair, "sync", "--keep", "1").exit_code == 0
    assert run(pair, "sync", "--keep", "1").exit_code == 0  # keeps run 1's
    with psycopg.connect(pair["master"], autocommit=True) as conn:
        conn.execute(
            "update whatsapp_messages set content = content || ' (edited)'"
            " where id = (select id from whatsapp_messages order by id limit 1)"
        )
        conn.execute(
            "delete from whatsapp_messages where id ="
            " (select id from whatsapp_messages order by id desc limit 1)"
        )
        conn.execute(
            "insert into whatsapp_messages (id, sender_number, content, payload,"
            " test_mode, created_at) values (gen_random_uuid(), '+972500000001',"
            " 'new', '{}', true, '2001-01-01')"
        )
    result = run(pair, "sync", "--keep", "1")
    assert result.exit_code == 0, result.output
    for table in ("whatsapp_messages", "conversations", "leads"):
        assert masters_rows_text(pair["replica"], pair["master"], table) == rows_text(
            pair["master"], "public", table
        ), table
    built = build_nodes(pair["replica"])
    assert "int_whatsapp_messages_linked_to_leads" in built
    assert "leads" not in built and "conversations" not in built
    with psycopg.connect(pair["replica"]) as conn:
        checksums = conn.execute(
            "select master_checksum = replica_checksum from replica_meta.table_loads"
            " where run_id = (select max(run_id) from replica_meta.runs)"
            " and table_name = 'whatsapp_messages'"
        ).fetchone()
    assert checksums == (True,)
    assert run(pair, "verify").exit_code == 0
