"""The extract-load engine against real PostgreSQL: safety, atomicity, incremental
merges, any schema, drift, configuration."""

from __future__ import annotations

import json
import threading

import psycopg
import pytest
from conftest import new_database, rows_text, run_cli
from psycopg.conninfo import make_conninfo

from crm_replica.db import connect_master, count_and_checksum, list_tables
from crm_replica.demo import setup as demo
from crm_replica.errors import ReplicaError
from crm_replica.load import Progress, extract_load
from crm_replica.load import runlog as meta
from crm_replica.settings import CRM_TABLES, replication


@pytest.fixture
def writable_master(clusters) -> str:
    """A synthetic master of our own, which the test may change."""
    url = new_database(clusters["master"], "wmaster")
    demo.ensure_master(url, seed=42, scale=1)
    return url


@pytest.fixture
def replica(clusters) -> str:
    return new_database(clusters["replica"], "engine")


def test_runner_needs_only_select(writable_master, replica):
    with psycopg.connect(writable_master, autocommit=True) as admin:
        admin.execute("drop role if exists crm_reader")
        admin.execute("create role crm_reader login")
        admin.execute("grant usage on schema public to crm_reader")
        admin.execute("grant select on all tables in schema public to crm_reader")
    reader = make_conninfo(writable_master, user="crm_reader")
    result = extract_load(reader, replica, jobs=2)
    assert result.ok and len(result.loads) == 12
    with (
        connect_master(reader) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("update leads set name = 'x'")


class KillMaster(Progress):
    """Terminates the run's master backends while whatsapp_messages streams."""

    def __init__(self, master_url: str) -> None:
        self.master_url, self.killed = master_url, 0

    def table_advanced(self, table: str, nbytes: int) -> None:
        if table == "whatsapp_messages" and not self.killed:
            with psycopg.connect(self.master_url, autocommit=True) as admin:
                self.killed = admin.execute(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity"
                    " where application_name = 'crm-replica' and pid <>"
                    " pg_backend_pid()"
                ).fetchone()[0]


@pytest.mark.parametrize("jobs", [1, 2])
def test_master_killed_mid_copy_leaves_previous_load(writable_master, replica, jobs):
    first = extract_load(writable_master, replica)
    before = rows_text(replica, "master_raw", "leads")
    with psycopg.connect(writable_master, autocommit=True) as conn:
        conn.execute("update leads set name = name || ' (changed)'")
    killer = KillMaster(writable_master)
    with pytest.raises(ReplicaError):
        extract_load(writable_master, replica, jobs=jobs, progress=killer)
    assert killer.killed > 0
    assert rows_text(replica, "master_raw", "leads") == before  # previous load intact
    with psycopg.connect(replica) as conn:
        statuses = conn.execute(
            "select status from replica_meta.runs order by run_id"
        ).fetchall()
        leftovers = conn.execute(
            "select count(*) from pg_tables where tablename like '\\_crm\\_fresh\\_%'"
        ).fetchone()[0]
    assert [s for (s,) in statuses] == ["succeeded", "failed"]
    assert leftovers == 0
    again = extract_load(writable_master, replica, jobs=jobs)
    assert again.ok and again.run_id > first.run_id
    assert rows_text(replica, "master_raw", "leads") == rows_text(
        writable_master, "public", "leads"
    )


def test_two_runs_at_once_never_interleave(writable_master, replica):
    outcomes: list[object] = []

    def run() -> None:
        try:
            outcomes.append(extract_load(writable_master, replica))
        except ReplicaError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [o for o in outcomes if isinstance(o, ReplicaError)]
    assert all("another run" in o.message for o in refused)
    assert len(refused) < 2
    for table in CRM_TABLES:
        assert rows_text(replica, "master_raw", table) == rows_text(
            writable_master, "public", table
        )


def test_views_on_landing_tables_survive_the_swap(master_url, replica):
    extract_load(master_url, replica, ["leads"])
    with psycopg.connect(replica, autocommit=True) as conn:
        conn.execute("create schema app")
        conn.execute("create view app.lead_names as select name from master_raw.leads")
        conn.execute(
            "create view app.lead_count as select count(*) from app.lead_names"
        )
    extract_load(master_url, replica, ["leads"])
    with psycopg.connect(replica) as conn:
        assert conn.execute("select * from app.lead_count").fetchone()[0] == 11


def test_incremental_catches_inserts_updates_and_deletes(writable_master, replica):
    extract_load(writable_master, replica)
    with psycopg.connect(writable_master, autocommit=True) as conn:
        conn.execute(
            "update conversations set status = 'archived', updated_at = now()"
            " where id in (select id from conversations order by id limit 7)"
        )
        conn.execute(
            "delete from conversation_audit_log where conversation_id in"
            " (select id from conversations order by id desc limit 3)"
        )
        conn.execute(
            "delete from agent_interaction_logs where triggering_message_id"
            " in (select id from conversations order by id desc limit 3)"
        )
        conn.execute(
            "delete from conversations where id in"
            " (select id from conversations order by id desc limit 3)"
        )
        conn.execute(
            "insert into whatsapp_messages (id, content, created_at)"
            " select gen_random_uuid(), 'שלום ' || i, now()"
            " from generate_series(1, 5) i"
        )
        conn.execute(
            "update leads set status = 'hot', updated_at = now()"
            " where id = (select id from leads order by id limit 1)"
        )
    result = extract_load(writable_master, replica, mode="incremental")
    assert result.mode == "incremental" and result.ok
    for table in CRM_TABLES:
        assert rows_text(replica, "master_raw", table) == rows_text(
            writable_master, "public", table
        ), table
    by_table = {t.table_name: t for t in result.loads}
    assert by_table["conversations"].master_rows == 496
    assert by_table["whatsapp_messages"].replica_rows == 1301


def test_incremental_finds_rows_the_cursor_missed(writable_master, replica):
    """A row inserted with an old cursor value is behind the watermark: the key
    comparison finds it missing and merges it; a delete in the same run goes."""
    extract_load(writable_master, replica, ["whatsapp_messages"])
    with psycopg.connect(writable_master, autocommit=True) as conn:
        conn.execute(
            "insert into whatsapp_messages (id, content, created_at) values"
            " (gen_random_uuid(), 'late 🐢', '2001-01-01'),"
            " (gen_random_uuid(), 'late too', '2001-01-02')"
        )
        conn.execute(
            "delete from whatsapp_messages where id ="
            " (select id from whatsapp_messages order by id limit 1)"
        )
    result = extract_load(
        writable_master, replica, ["whatsapp_messages"], mode="incremental"
    )
    assert result.ok
    (load,) = result.loads
    assert load.master_rows == load.replica_rows == 1296 + 2 - 1
    assert rows_text(replica, "master_raw", "whatsapp_messages") == rows_text(
        writable_master, "public", "whatsapp_messages"
    )


KEYED_SCHEMA = """
create schema keyed;
create type keyed.tier as enum ('free', 'pro');
create table keyed.pairs (a integer, b text, note text, updated_at timestamptz,
    primary key (a, b));
insert into keyed.pairs select i % 50, 'b' || i, 'n', now() - interval '1 day'
    from generate_series(1, 400) i;
create table keyed.tiers (code keyed.tier primary key, note text,
    updated_at timestamptz);
insert into keyed.tiers values ('free', 'x', now() - interval '1 day'),
    ('pro', 'y', now() - interval '1 day');
create table keyed.many (id bigint primary key, note text, updated_at timestamptz);
insert into keyed.many select i, 'n', now() - interval '1 day'
    from generate_series(1, 1000) i;
"""


def test_incremental_merges_any_key(writable_master, replica):
    """Rows are picked by key scan for a one-column built-in key with a small
    delta, and by the cursor scan otherwise (a composite key, an enum key, a
    delta of more than a twentieth of the table): each way ends equal."""
    with psycopg.connect(writable_master, autocommit=True) as conn:
        conn.execute(KEYED_SCHEMA)
    config = replication.Config(master_schema="keyed")
    tables = ["pairs", "tiers", "many"]
    assert extract_load(writable_master, replica, tables, config=config).ok
    with psycopg.connect(writable_master, autocommit=True) as conn:
        conn.execute(
            "update keyed.pairs set note = 'changed', updated_at = now() where a = 7"
        )
        conn.execute("delete from keyed.pairs where a = 8")
        conn.execute("insert into keyed.pairs values (99, 'new', 'n', now())")
        conn.execute("update keyed.tiers set note = 'z', updated_at = now()")
        conn.execute(
            "update keyed.many set note = 'big', updated_at = now() where id <= 300"
        )
        conn.execute(
            "update keyed.many set note = 'one', updated_at = now() where id = 999"
        )
        conn.execute("delete from keyed.many where id between 500 and 509")
    result = extract_load(
        writable_master, replica, tables, config=config, mode="incremental"
    )
    assert result.ok
    counts = {t.table_name: t.replica_rows for t in result.loads}
    assert counts == {"pairs": 400 - 8 + 1, "tiers": 2, "many": 990}
    for table in tables:
        assert rows_text(replica, "master_raw", table) == rows_text(
            writable_master, "keyed", table
        ), table
    # A small delta again, on the table whose delta was large: fetched by key.
    with psycopg.connect(writable_master, autocommit=True) as conn:
        conn.execute(
            "update keyed.many set note = 'two', updated_at = now() where id = 3"
        )
    again = extract_load(
        writable_master, replica, ["many"], config=config, mode="incremental"
    )
    assert again.ok
    assert rows_text(replica, "master_raw", "many") == rows_text(
        writable_master, "keyed", "many"
    )


def test_incremental_flag_policy_keeps_deleted_rows(writable_master, replica):
    extract_load(writable_master, replica)
    with psycopg.connect(writable_master, autocommit=True) as conn:
        deleted = conn.execute(
            "delete from lead_status_history where id in (select id"
            " from lead_status_history order by id limit 2)"
            " returning id, row_to_json(lead_status_history)::text"
        ).fetchall()
    deleted.sort()
    back = deleted[0][1]
    spec = replication.TableSpec("lead_status_history", deletes="flag")
    result = extract_load(writable_master, replica, [spec], mode="incremental")
    assert result.ok
    with psycopg.connect(replica) as conn:
        kept = conn.execute(
            "select count(*) from master_raw.lead_status_history"
        ).fetchone()[0]
        flagged = conn.execute(
            "select key from replica_meta.deleted_rows"
            " where table_name = 'lead_status_history'"
        ).fetchall()
    assert kept == 138
    assert sorted(k[0]["f1"] for k in flagged) == sorted(str(d[0]) for d in deleted)

    # One of them comes back on master (same key, its old cursor value): it is
    # merged, no longer listed, and the other stays flagged.
    with psycopg.connect(writable_master, autocommit=True) as conn:
        conn.execute(
            "insert into lead_status_history select * from json_populate_record("
            "null::lead_status_history, %s::json)",
            (back,),
        )
    again = extract_load(writable_master, replica, [spec], mode="incremental")
    assert again.ok and again.loads[0].master_rows == 137
    with psycopg.connect(replica) as conn:
        still = conn.execute(
            "select key->>'f1' from replica_meta.deleted_rows"
            " where table_name = 'lead_status_history'"
        ).fetchall()
    assert still == [(str(deleted[1][0]),)]
    assert rows_text(replica, "master_raw", "lead_status_history") != rows_text(
        writable_master, "public", "lead_status_history"
    )  # the flagged row is still there, by policy


ODD_SCHEMA = """
create schema odd;
create type odd.mood as enum ('sad', 'ok', 'happy');
create domain odd.positive as numeric(12, 2) check (value > 0);
create table odd."Mixed Case" (
    "Id" integer generated always as identity primary key,
    "Weird col" text,
    mood odd.mood,
    moods odd.mood[],
    price odd.positive,
    ints integer[],
    tags text[],
    doc json,
    body jsonb,
    raw bytea,
    amount numeric,
    at timestamptz,
    day date,
    doubled integer generated always as ("Id" * 2) stored
);
insert into odd."Mixed Case" ("Weird col", mood, moods, price, ints, tags, doc,
                              body, raw, amount, at, day)
values
    ('émoji 🎉', 'happy', '{sad,ok}', 10.50, '{1,2,NULL}', '{"a b",c}',
     '{"b": 1,  "a": [1, 2], "b": 2}', '{"z": 1, "a": {"n": null}}', '\\x00ff10',
     123456789012345678901234567890.123456789, 'infinity', '-infinity'),
    (null, null, null, null, null, null, null, null, null, 'NaN', '-infinity',
     'infinity'),
    ('x', 'sad', '{}', 0.01, '{}', '{}', '[]', '[]', '\\x', -0.0000001,
     '2024-02-29 23:59:59.999999+05:30', '2000-01-01');
create table odd.no_key (a integer, b text);
insert into odd.no_key values (1, 'x'), (1, 'x'), (null, null);
create table odd.events (id integer, at date not null, note text)
    partition by range (at);
create table odd.events_2024 partition of odd.events
    for values from ('2024-01-01') to ('2025-01-01');
create table odd.events_2025 partition of odd.events
    for values from ('2025-01-01') to ('2026-01-01');
insert into odd.events values (1, '2024-05-01', 'a'), (2, '2025-05-01', 'b');
"""


def test_any_schema_round_trips_with_identical_checksums(writable_master, replica):
    with psycopg.connect(writable_master, autocommit=True) as conn:
        conn.execute(ODD_SCHEMA)
        tables = list_tables(conn, "odd")
    assert tables == ["Mixed Case", "events", "no_key"]  # partitions under parent
    config = replication.Config(master_schema="odd")
    result = extract_load(writable_master, replica, tables, config=config, jobs=2)
    assert result.ok
    with psycopg.connect(writable_master) as m, psycopg.connect(replica) as r:
        for table in tables:
            master_sum = count_and_checksum(m, "odd", table)
            assert count_and_checksum(r, "master_raw", table) == master_sum, table
            assert rows_text(replica, "master_raw", table) == rows_text(
                writable_master, "odd", table
            )
        types = dict(
            r.execute(
                "select column_name, coalesce(domain_schema || '.' || domain_name,"
                " udt_schema || '.' || udt_name) from"
                " information_schema.columns where table_schema = 'master_raw'"
                " and table_name = 'Mixed Case'"
            ).fetchall()
        )
        doc = r.execute(
            'select doc::text from master_raw."Mixed Case" order by "Id" limit 1'
        ).fetchone()[0]
    assert types["mood"] == "master_raw.mood" and types["moods"] == "master_raw._mood"
    assert types["price"] == "master_raw.positive"
    assert types["doc"] == "pg_catalog.json" and types["raw"] == "pg_catalog.bytea"
    assert doc == '{"b": 1,  "a": [1, 2], "b": 2}'  # json keeps its exact text


def test_schema_drift_is_followed_and_reported(writable_master, replica):
    extract_load(writable_master, replica, ["clients"])
    with psycopg.connect(writable_master, autocommit=True) as conn:
        conn.execute("alter table clients add column tier text default 'gold'")
        conn.execute("alter table clients drop column whatsapp_number_id")
        conn.execute("alter table clients alter column status type text")
    result = extract_load(writable_master, replica, ["clients"])
    assert sorted(result.schema_changes) == [
        "clients: +tier text",
        "clients: -whatsapp_number_id",
        "clients: status: character varying(50) -> text",
    ]
    assert rows_text(replica, "master_raw", "clients") == rows_text(
        writable_master, "public", "clients"
    )
    with psycopg.connect(replica) as conn:
        recorded = conn.execute(
            "select schema_changes from replica_meta.runs order by run_id desc limit 1"
        ).fetchone()[0]
    assert sorted(recorded) == sorted(result.schema_changes)
    again = extract_load(writable_master, replica, ["clients"])
    assert again.schema_changes == []


def test_jobs_give_the_same_replica(master_url, replica, clusters):
    other = new_database(clusters["replica"], "jobs")
    extract_load(master_url, replica, jobs=1)
    extract_load(master_url, other, jobs=3)
    with psycopg.connect(replica) as a, psycopg.connect(other) as b:
        assert [
            (t.table_name, t.replica_rows, t.replica_checksum)
            for t in meta.last_loads(a)
            if not t.table_name.startswith("dash")
        ] == [
            (t.table_name, t.replica_rows, t.replica_checksum)
            for t in meta.last_loads(b)
            if not t.table_name.startswith("dash")
        ]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "tables:\n  leads:\n    cursr: updated_at\n",
            "replication.yml line 3: unknown setting 'cursr' for table leads",
        ),
        (
            "tables:\n  leads:\n    deletes: sometimes\n",
            "replication.yml line 3: deletes must be one of apply, flag",
        ),
        ("tables: [leads\n", "replication.yml line 2"),
        (
            "master_schema: public\nbogus: 1\n",
            "replication.yml line 2: unknown setting",
        ),
    ],
)
def test_bad_configuration_names_the_line(tmp_path, text, message):
    (tmp_path / "replication.yml").write_text(text)
    with pytest.raises(ReplicaError) as caught:
        replication.load(tmp_path)
    assert message in caught.value.message


def test_configuration_sets_keys_cursors_and_policies(tmp_path):
    (tmp_path / "replication.yml").write_text(
        "defaults:\n  deletes: flag\n"
        "tables:\n  leads:\n    cursor: last_interaction\n"
        "  whatsapp_messages:\n    key: [wamid]\n    deletes: apply\n"
    )
    config = replication.load(tmp_path)
    assert [s.name for s in replication.selected(config, None)] == [
        "leads",
        "whatsapp_messages",
    ]
    assert config.spec("leads").cursor == ("last_interaction",)
    assert config.spec("leads").deletes == "flag"
    assert config.spec("whatsapp_messages").key == ("wamid",)
    assert config.spec("other").deletes == "flag"


def test_bad_configuration_is_one_cli_line(master_url, replica, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("tables:\n  leads: [1, 2]\n")
    result = run_cli(
        [
            "extract-load",
            "--master-url",
            master_url,
            "--replica-url",
            replica,
            "--config",
            str(bad),
        ],
        tmp_path,
    )
    assert result.exit_code == 1
    assert "bad.yml line 2: table leads: expected a mapping" in result.output
    assert "Traceback" not in result.output


def test_all_tables_and_incremental_from_the_cli(writable_master, replica, tmp_path):
    args = ["--master-url", writable_master, "--replica-url", replica]
    full = run_cli(["extract-load", *args, "--all-tables", "--json"], tmp_path)
    assert full.exit_code == 0, full.output
    with psycopg.connect(replica) as conn:
        landed = {
            r[0]
            for r in conn.execute(
                "select tablename from pg_tables where schemaname = 'master_raw'"
            )
        }
    assert landed == set(CRM_TABLES) | {"message_queue"}
    inc = run_cli(
        ["extract-load", *args, "--all-tables", "--mode", "incremental", "--json"],
        tmp_path,
    )
    assert inc.exit_code == 0, inc.output
    tables = {t["table"]: t for t in json.loads(inc.stdout)["tables"]}
    assert set(tables) == landed
    # Merged tables take no checksums: null, not a string.
    messages = tables["whatsapp_messages"]
    assert messages["master_checksum"] is None and messages["matches"]
    assert messages["master_rows"] == messages["replica_rows"] == 1296
    # The table for people says so too, rather than "match".
    shown = run_cli(["extract-load", *args, "--mode", "incremental"], tmp_path)
    line = next(x for x in shown.stdout.splitlines() if x.startswith("leads "))
    assert line.split()[1:5] == ["11", "11", "not", "taken"], line
    line = next(x for x in shown.stdout.splitlines() if x.startswith("dashboard_lead"))
    assert "not taken" in line  # master's views: counts only


class Interrupt(Progress):
    """Ctrl-C while a table streams."""

    def table_advanced(self, table: str, nbytes: int) -> None:
        if table == "whatsapp_messages":
            raise KeyboardInterrupt


def test_ctrl_c_leaves_the_previous_load_and_records_the_run(master_url, replica):
    extract_load(master_url, replica, ["leads", "whatsapp_messages"])
    with pytest.raises(KeyboardInterrupt):
        extract_load(
            master_url, replica, ["leads", "whatsapp_messages"], progress=Interrupt()
        )
    with psycopg.connect(replica) as conn:
        runs = conn.execute(
            "select status, error from replica_meta.runs order by run_id"
        ).fetchall()
        count = conn.execute(
            "select count(*) from master_raw.whatsapp_messages"
        ).fetchone()[0]
    assert [r[0] for r in runs] == ["succeeded", "failed"]
    assert runs[1][1] == "interrupted"
    assert count == 1296


def test_checksums_agree_across_major_versions(tmp_path, clusters):
    """A master on PostgreSQL 16 (as Supabase runs an older major than the
    embedded replica): every type's checksum must come out the same on 18."""
    from crm_replica.db import cluster

    replica = new_database(clusters["replica"], "cross")
    with cluster(tmp_path / "pg16", "old_master", version=16) as master:
        with psycopg.connect(master, autocommit=True) as conn:
            assert conn.info.server_version // 10000 == 16
            conn.execute(ODD_SCHEMA)
        config = replication.Config(master_schema="odd")
        tables = ["Mixed Case", "events", "no_key"]
        result = extract_load(master, replica, tables, config=config)
        assert result.ok
        assert all(t.master_checksum == t.replica_checksum for t in result.loads)
        for table in tables:
            assert rows_text(replica, "master_raw", table) == rows_text(
                master, "odd", table
            )
