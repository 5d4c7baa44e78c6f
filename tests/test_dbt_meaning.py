"""What the dbt project means, proven on real PostgreSQL: merged leads and conflicts,
message links, dashboards equal to master's views, contracts, docs, and each
guarding test failing by name when its subject is broken on purpose."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from conftest import PROJECT_DIR, new_database, run_cli

from crm_replica.demo import setup as demo
from crm_replica.errors import EXIT_DBT_FAILED
from crm_replica.load import extract_load
from crm_replica.settings import CRM_TABLES
from crm_replica.sync import dbt as dbt_invoke


def fresh_replica(master_url: str, clusters: dict, prefix: str, local: bool) -> str:
    """A new replica database loaded from master (with the legacy local tables
    first when ``local``), not yet built."""
    replica = new_database(clusters["replica"], prefix)
    if local:
        assert demo.ensure_application(replica, master_url, seed=42)
    extract_load(master_url, replica)
    return replica


def build(replica: str, workdir: Path, *dbt_args: str):
    return run_cli(["build", "--replica-url", replica, *dbt_args], workdir)


def failed_tests(result) -> str:
    """The CLI's one error line, which names the failed nodes."""
    assert result.exit_code == EXIT_DBT_FAILED, result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def failed_nodes(workdir: Path) -> set[str]:
    """unique_ids of the nodes that failed in the last dbt run in ``workdir``."""
    results = json.loads((workdir / "target" / "run_results.json").read_text())
    return {
        r["unique_id"] for r in results["results"] if r["status"] in ("fail", "error")
    }


def rows(url: str, query: str, params: tuple | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def value(url: str, query: str):
    return rows(url, query)[0][0]


# --- on the synced demo replica (built once by the `synced` fixture) -----------


def test_replica_tables_have_masters_column_names_and_types(synced):
    query = """
        select a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_attribute a
        where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
        order by a.attnum"""
    with psycopg.connect(synced["replica"]) as conn:
        theirs = application_tables(conn)
        for table in CRM_TABLES:
            replica = conn.execute(query, (f"public.{table}",)).fetchall()
            master = conn.execute(query, (f"master_raw.{table}",)).fetchall()
            if table in theirs:
                # The application's table: master's columns are all there (added
                # where it lacked them), beside its own; its types are its own.
                # The replica's copy is master's exactly.
                assert {c for c, _ in master} <= {c for c, _ in replica}, table
                replica = conn.execute(query, (f"replica_shadow.{table}",)).fetchall()
            assert replica == master, table
    assert theirs == {"clients", "projects", "leads", "conversations"}
    assert len(replica) > 0


def application_tables(conn) -> set[str]:
    """The CRM tables of the demo's application database (its own tables, which
    the publish writes rows into)."""
    return {
        r[0]
        for r in conn.execute(
            "select relation_name from replica_meta.application_relations"
            " where schema_name = 'public' and kind = 'table'"
        )
    }


def test_leads_are_masters_and_no_local_row_is_lost(synced):
    url = synced["replica"]
    # The model's leads (the replica's copy beside the application's table).
    assert value(url, "select count(*) from replica_shadow.leads") == 11
    # The application's table: master's 11 and its own 21 local-only leads.
    assert value(url, "select count(*) from public.leads") == 11 + 21
    origins = dict(rows(url, "select origin, count(*) from lead_origins group by 1"))
    assert origins == {"master": 6, "master_and_local": 5}
    # Every archived local lead is either a master lead or kept as local-only.
    lost = value(
        url,
        """select count(*) from local_archive.leads as l
           where l.id not in (select id from public.leads)
             and l.id not in (select id from local_archive.local_only_leads)""",
    )
    assert lost == 0
    assert value(url, "select count(*) from local_archive.local_only_leads") == 21
    assert value(url, "select count(*) from local_archive.local_only_clients") == 5
    assert value(url, "select count(*) from local_archive.local_only_projects") == 5
    # Shared ids take master's values.
    differing = value(
        url,
        """select count(*) from public.leads as r
           join master_raw.leads as m using (id)
           where (r.name, r.phone, r.status)
               is distinct from (m.name, m.phone, m.status)""",
    )
    assert differing == 0


def test_every_conflict_is_listed_with_both_values(synced):
    url = synced["replica"]
    conflicts = rows(
        url,
        "select table_name, count(distinct id), min(resolution), max(resolution)"
        " from local_archive.merge_conflicts group by 1 order by 1",
    )
    assert conflicts == [
        ("clients", 1, "master value kept", "master value kept"),
        ("leads", 5, "master value kept", "master value kept"),
        ("projects", 2, "master value kept", "master value kept"),
    ]
    # The local name of each shared lead is there next to master's.
    names = rows(
        url,
        """select c.local_value, c.master_value, l.name, m.name
           from local_archive.merge_conflicts as c
           join local_archive.leads as l on l.id = c.id
           join master_raw.leads as m on m.id = c.id
           where c.table_name = 'leads' and c.column_name = 'name'""",
    )
    assert len(names) == 5
    assert all(r[0] == r[2] and r[1] == r[3] and r[0] != r[1] for r in names)


def test_messages_link_to_leads_by_phone_and_to_conversations_by_wamid(synced):
    url = synced["replica"]
    real, linked = rows(
        url,
        """select count(*), count(lead_id)
           from replica_intermediate.int_whatsapp_messages_linked_to_leads
           where not is_test_mode""",
    )[0]
    assert real == 216 and linked == 169  # the figures the model's docs state
    # The link by digits agrees with master's own relation: the lead's phone.
    mismatched = value(
        url,
        """select count(*)
           from replica_intermediate.int_whatsapp_messages_linked_to_leads as k
           join public.whatsapp_messages as m on m.id = k.whatsapp_message_id
           join public.leads as l on l.id = k.lead_id
           where l.phone not in (m.sender_number, m.receiver_number)""",
    )
    assert mismatched == 0
    total, with_message = rows(
        url,
        """select count(*), count(whatsapp_message_id) from
           replica_intermediate.int_conversations_linked_to_whatsapp_messages""",
    )[0]
    assert total == 499 and 0 < with_message < total / 2


def test_dashboards_equal_masters_views_on_every_compared_column(synced):
    compared = {
        "dashboard_bant_distribution": "bant_status, lead_count, avg_score, percentage",
        "dashboard_lead_funnel": "stage_name, lead_count, conversion_rate, stage_order",
        "dashboard_business_kpis": "total_leads, qualified_leads,"
        " fully_qualified_leads, avg_lead_score, new_leads, leads_today,"
        " leads_this_week, conversion_rate",
        "dashboard_system_metrics": "total_queue_items_24h, processed_messages,"
        " queued_messages, failed_messages, processing_messages,"
        " avg_processing_time_seconds, max_retry_count, success_rate_percentage",
    }
    url = synced["replica"]
    for table, columns in compared.items():
        replica = rows(url, f"select {columns} from public.{table} order by 1")
        master = rows(url, f"select {columns} from master_raw.{table} order by 1")
        assert replica == master and replica, table
    processed = value(url, "select processed_messages from dashboard_system_metrics")
    assert processed > 0  # the comparison covers a non-trivial queue


def indexed_columns(url: str, schema: str) -> set[tuple[str, str]]:
    """(table, first column) of each index of ``schema``'s tables."""
    return {
        (r[0], r[1])
        for r in rows(
            url,
            """select t.relname, a.attname
               from pg_index i
               join pg_class t on t.oid = i.indrelid
               join pg_namespace n on n.oid = t.relnamespace
               join pg_attribute a
                 on a.attrelid = t.oid and a.attnum = i.indkey[0]
               where n.nspname = %s""",
            (schema,),
        )
    }


def test_replica_tables_have_the_indexes_the_app_pages_by(synced):
    """The replica tables carry the indexes the application pages by, and its
    query uses them."""
    indexed = indexed_columns(synced["replica"], "public")
    with psycopg.connect(synced["replica"]) as conn:
        theirs = application_tables(conn)
    # The application's tables carry the application's indexes; the replica's
    # copies of them (replica_shadow), the models'.
    indexed |= {
        pair
        for pair in indexed_columns(synced["replica"], "replica_shadow")
        if pair[0] in theirs
    }
    for pair in [
        ("leads", "id"),
        ("leads", "phone"),
        ("leads", "created_at"),
        ("conversations", "lead_id"),
        ("conversations", "timestamp"),
        ("whatsapp_messages", "sender_number"),
        ("whatsapp_messages", "receiver_number"),
        ("whatsapp_messages", "wa_timestamp"),
        ("agent_interaction_logs", "lead_id"),
        ("agent_interaction_logs", "interaction_timestamp"),
        ("lead_status_history", "lead_id"),
        ("lead_status_history", "changed_at"),
        ("conversation_audit_log", "conversation_id"),
    ]:
        assert pair in indexed, pair
    with psycopg.connect(synced["replica"]) as conn:
        conn.execute("set enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "explain select * from public.agent_interaction_logs"
                " where lead_id = '00000000-0000-0000-0000-000000000001'"
                " order by interaction_timestamp limit 20"
            ).fetchall()
        )
    assert "Index" in plan and "agent_interaction_logs" in plan, plan


def test_docs_generate_and_every_model_column_is_described(synced, tmp_path):
    outcome = dbt_invoke.run_dbt(
        PROJECT_DIR, tmp_path, synced["replica"], ["docs", "generate"]
    )
    assert outcome.returncode == 0, outcome.errors
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    models = {
        k: n
        for k, n in manifest["nodes"].items()
        if n["resource_type"] == "model" and n["package_name"] == "crm_replica"
    }
    assert len(models) >= 30
    # The application's legacy tables are archived whole: their models carry
    # every column the application has, which no yml can know in advance (their
    # descriptions say so); the columns the models read are described.
    legacy = {
        name.lower()
        for key, source in catalog["sources"].items()
        if ".local_archive." in key
        for name in source["columns"]
    }
    # A model whose name the application's own table holds: docs read that table,
    # whose columns of its own are the application's, not the model's.
    with psycopg.connect(synced["replica"]) as conn:
        theirs = application_tables(conn)
    undocumented = []
    for key, node in models.items():
        if not node["description"].strip():
            undocumented.append(key)
        built = catalog["nodes"][key]["columns"]
        if node["name"].startswith(("stg_local__", "local_only_")):
            built = {c: v for c, v in built.items() if c.lower() not in legacy}
        if node["name"] in theirs:
            built = {c: v for c, v in built.items() if c.lower() in node["columns"]}
        described = {
            name.lower().strip('"'): col["description"].strip()
            for name, col in node["columns"].items()
        }
        undocumented += [f"{key}.{c}" for c in built if not described.get(c.lower())]
    assert undocumented == []
    assert {e["name"] for e in manifest["exposures"].values()} >= {
        "crm_bant_distribution_dashboard",
        "crm_system_metrics_dashboard",
    }


def test_source_freshness_reads_the_runs_load_time(synced, tmp_path):
    outcome = dbt_invoke.run_dbt(
        PROJECT_DIR, tmp_path, synced["replica"], ["source", "freshness"]
    )
    assert outcome.returncode == 0, outcome.errors
    sources = json.loads((tmp_path / "target" / "sources.json").read_text())
    statuses = {r["unique_id"].split(".")[-1]: r["status"] for r in sources["results"]}
    assert statuses["leads"] == "pass" and statuses["whatsapp_messages"] == "pass"


# --- broken on purpose, each in a fresh database ------------------------------


def test_a_master_row_missing_from_the_replica_fails_the_count(
    master_url, clusters, tmp_path
):
    replica = fresh_replica(master_url, clusters, "missing", local=False)
    with psycopg.connect(replica) as conn:
        gone = conn.execute(
            "delete from master_raw.whatsapp_messages where id ="
            " (select id from master_raw.whatsapp_messages order by id limit 1)"
        )
        assert gone.rowcount == 1
    error = failed_tests(build(replica, tmp_path, "--select", "+whatsapp_messages"))
    assert "row_count_matches_master_whatsapp_messages" in error


def test_an_orphan_conversation_fails_its_relationship(master_url, clusters, tmp_path):
    replica = fresh_replica(master_url, clusters, "orphan", local=False)
    with psycopg.connect(replica) as conn:
        orphaned = conn.execute(
            "update master_raw.conversations set lead_id = gen_random_uuid()"
            " where id = (select id from master_raw.conversations order by id limit 1)"
        )
        assert orphaned.rowcount == 1
    error = failed_tests(build(replica, tmp_path, "--select", "+conversations"))
    assert "relationships_conversations_lead_id__id__ref_leads_" in error


@pytest.mark.parametrize(
    ("view", "change"),
    [
        (
            "dashboard_bant_distribution",
            "set lead_count = lead_count + 1 where bant_status = 'need_qualified'",
        ),
        ("dashboard_business_kpis", "set leads_this_week = leads_this_week - 1"),
    ],
)
def test_a_dashboard_number_off_by_one_fails_the_comparison(
    master_url, clusters, tmp_path, view, change
):
    replica = fresh_replica(master_url, clusters, "offbyone", local=False)
    with psycopg.connect(replica) as conn:
        assert conn.execute(f"update master_raw.{view} {change}").rowcount == 1
    # The KPIs read replica_meta.runs (the snapshot time), and dbt would then pick
    # the count tests of tables this selection does not build: leave them out.
    error = failed_tests(
        build(
            replica,
            tmp_path,
            *("--select", f"+{view}"),
            *("--exclude", "test_name:row_count_matches_master"),
        )
    )
    assert f"{view}_matches_master_view" in error
    assert error.count("matches_master_view") == 1  # the other dashboards pass


def nodes_with(workdir: Path, status: str) -> set[str]:
    """The names of the nodes of the last dbt run in ``workdir`` with ``status``."""
    results = json.loads((workdir / "target" / "run_results.json").read_text())
    return {
        r["unique_id"].split(".")[2]
        for r in results["results"]
        if r["status"] == status
    }


@pytest.mark.parametrize(
    ("break_links", "failing", "warned"),
    [
        (
            # A number written another way ('00' for '+') no longer joins its
            # lead, though the webhook payload still names the lead: the payload
            # test blocks; the link fraction observes it, with its figures.
            "update master_raw.whatsapp_messages"
            " set sender_number = '00' || substr(sender_number, 2)"
            " where not test_mode and sender_number like '+%'"
            " and sender_number <> '+972535550100'",
            {"assert_messages_link_to_the_lead_their_payload_names"},
            "whatsapp_messages_link_to_leads",
        ),
        (
            # A suffix the wamid rule does not strip: no conversation finds its
            # message any more. How many link is master's data: a warning with
            # the figures, not a block.
            "update master_raw.conversations set message_id = message_id || 'x'",
            set(),
            "conversations_link_to_whatsapp_messages",
        ),
    ],
    ids=["phone", "wamid"],
)
def test_broken_links_fail_or_warn_the_link_tests(
    master_url, clusters, tmp_path, break_links, failing, warned
):
    replica = fresh_replica(master_url, clusters, "links", local=False)
    with psycopg.connect(replica) as conn:
        assert conn.execute(break_links).rowcount > 0
    result = build(
        replica,
        tmp_path,
        *("--select", "+int_conversations_linked_to_whatsapp_messages"),
        # Only tests whose every parent is built here (not, say, agent logs').
        *("--indirect-selection", "cautious"),
    )
    if failing:
        assert "dbt build failed" in failed_tests(result)
    else:
        assert result.exit_code == 0, result.output
    failed = {node.split(".")[2] for node in failed_nodes(tmp_path)}
    assert failed == failing
    assert warned in nodes_with(tmp_path, "warn")
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())
    message = next(r["message"] for r in results["results"] if warned in r["unique_id"])
    assert "rows link" in message or "configured to warn" in message


def test_a_column_master_added_is_in_the_replica(master_url, clusters, tmp_path):
    replica = fresh_replica(master_url, clusters, "drift", local=False)
    with psycopg.connect(replica) as conn:
        conn.execute("alter table master_raw.leads add column lead_score integer")
    result = build(
        replica,
        tmp_path,
        *("--select", "+leads", "--indirect-selection", "cautious"),
    )
    assert result.exit_code == 0, result.output
    assert "columns_match_master_leads_leads" not in nodes_with(tmp_path, "warn")
    names = (
        "select attname::text, format_type(atttypid, atttypmod) from pg_attribute"
        " where attrelid = '{}'::regclass and attnum > 0 and not attisdropped"
        " order by attnum"
    )
    replica_columns = rows(replica, names.format("public.leads"))
    assert replica_columns == rows(replica, names.format("master_raw.leads"))
    assert replica_columns[-1] == ("lead_score", "integer")


def test_keep_and_local_wins_policies(master_url, clusters, tmp_path):
    replica = fresh_replica(master_url, clusters, "policies", local=True)
    result = build(
        replica,
        tmp_path,
        "--vars",
        "{local_only_leads: keep, local_conflict_policy: local_wins}",
    )
    assert result.exit_code == 0, result.output  # counts and dashboards still pass
    assert value(replica, "select count(*) from public.leads") == 11 + 21
    assert (
        value(replica, "select count(*) from lead_origins where origin = 'local_only'")
        == 21
    )
    assert (
        value(
            replica,
            "select count(*) from local_archive.local_only_leads where is_in_replica",
        )
        == 21
    )
    # The shared client carries its local name, and the conflict says so.
    assert rows(
        replica,
        """select c.name = l.name, k.resolution
           from public.clients as c
           join local_archive.clients as l using (id)
           join local_archive.merge_conflicts as k
             on k.id = c.id and k.column_name = 'name'""",
    ) == [(True, "local value kept")]
    # A second build reads the archive again and gives the same replica.
    again = build(
        replica,
        tmp_path,
        "--vars",
        "{local_only_leads: keep, local_conflict_policy: local_wins}",
        "--select",
        "leads",
    )
    assert again.exit_code == 0, again.output
    assert value(replica, "select count(*) from public.leads") == 32


def test_message_normalisation_is_incremental(master_url, clusters, tmp_path):
    replica = fresh_replica(master_url, clusters, "incremental", local=False)
    model = "replica_cache.int_whatsapp_messages__normalised"
    select = (
        "--select",
        "+int_whatsapp_messages_linked_to_leads",
        "--exclude",
        "test_type:data",
    )
    assert build(replica, tmp_path, *select).exit_code == 0
    oid = value(replica, f"select '{model}'::regclass::oid")
    before = value(replica, f"select count(*) from {model}")
    with psycopg.connect(replica) as conn:
        # A new inbound message from a lead arrives with the next load.
        conn.execute(
            """insert into master_raw.whatsapp_messages
               select gen_random_uuid(), l.phone, 'new', 'wamid.NEW', '{}', true,
                      null, '+972535550100', now(), false, null, null, now()
               from master_raw.leads as l order by l.id limit 1"""
        )
    result = build(replica, tmp_path, *select)
    assert result.exit_code == 0, result.output
    assert value(replica, f"select '{model}'::regclass::oid") == oid  # not rebuilt
    assert value(replica, f"select count(*) from {model}") == before + 1
    assert (
        value(
            replica,
            """select count(lead_id)
           from replica_intermediate.int_whatsapp_messages_linked_to_leads
           where wamid = 'wamid.NEW'""",
        )
        == 1
    )
