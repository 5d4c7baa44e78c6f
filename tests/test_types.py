"""Types that are neither built in, enums nor domains (runner/landtypes.py), against
real servers both ways: Debian's PostgreSQL 15 with contrib (citext, hstore, ltree,
cube) and the embedded PostgreSQL 18 without contrib (pgvector only), each as master
of the other, and each as a replica that has (or can create) the extensions.

The master is tests/adversarial.sql. Every test compares every table row for row
(text, sorted) and by checksums computed afresh on both sides."""

from __future__ import annotations

import json

import adversarial
import psycopg
import pytest
from conftest import new_database, rows_text, run_cli

from crm_replica.db.catalog import describe_relation, list_tables
from crm_replica.db.checksum import count_and_checksum
from crm_replica.db.landtypes import TypeLanding

CONTRIB = ["citext", "hstore", "ltree", "cube"]
PG15 = ["xml", *CONTRIB]


def landed_types(url: str, table: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(
            conn.execute(
                "select attname, format_type(atttypid, atttypmod) from pg_attribute"
                " where attrelid = to_regclass(%s) and attnum > 0"
                " and not attisdropped",
                (f'master_raw."{table}"',),
            ).fetchall()
        )


def master_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return list_tables(conn, "public")


def assert_replicated(master: str, replica: str) -> list[str]:
    """Every master table is in the replica's landing schema with the same rows
    and the same count and checksum, computed now on each side."""
    tables = master_tables(master)
    assert tables
    with psycopg.connect(master) as m, psycopg.connect(replica) as r:
        for table in tables:
            assert rows_text(replica, "master_raw", table) == rows_text(
                master, "public", table
            ), table
            assert count_and_checksum(r, "master_raw", table) == count_and_checksum(
                m, "public", table
            ), table
    return tables


def extract_load(master: str, replica: str, workdir, *extra: str):
    result = run_cli(
        [
            "extract-load",
            "--master-url",
            master,
            "--replica-url",
            replica,
            "--all-tables",
            "--json",
            *extra,
        ],
        workdir,
    )
    assert result.exit_code == 0, result.output
    loaded = json.loads(result.stdout)
    for load in loaded["tables"]:
        assert load["matches"], load
        if load["master_checksum"] is not None:  # merged tables take none
            assert load["master_checksum"] == load["replica_checksum"], load
    return loaded, result.stderr


@pytest.fixture
def pg15_adversarial(pg15) -> str:
    url = new_database(pg15.url(), "adv")
    assert adversarial.write(url) == PG15
    return url


@pytest.fixture
def embedded_adversarial(clusters) -> str:
    url = new_database(clusters["master"], "adv")
    assert adversarial.write(url) == ["vector"]
    return url


def test_pg15_master_onto_a_replica_without_contrib(
    pg15_adversarial, clusters, tmp_path
):
    master = pg15_adversarial
    replica = new_database(clusters["replica"], "types")
    loaded, notes = extract_load(master, replica, tmp_path)
    tables = assert_replicated(master, replica)
    assert {t["table"] for t in loaded["tables"]} == set(tables)
    # Composite, range and multirange types recreated, arrays of them too.
    shapes = landed_types(replica, "shapes")
    assert shapes["who"] == "master_raw.contact"
    assert shapes["crowd"] == "master_raw.contact[]"
    assert shapes["checked"] == "master_raw.named_contact"
    assert shapes["span"] == "master_raw.floatrange"
    assert shapes["spans"] == "master_raw.floatmultirange"
    assert shapes["span_list"] == "master_raw.floatrange[]"
    assert shapes["feelings"] == "master_raw.moodrange"
    assert shapes["strict_span"] == "master_raw.nonempty_span"
    assert landed_types(replica, "keyed_by_name")["name"] == "master_raw.full_name"
    # Extension types the replica lacks: text, and whatever uses them too.
    assert set(landed_types(replica, "settings").values()) >= {"text"}
    for table, column in [
        ("people", "email"),
        ("people", "aliases"),
        ("people", "checked"),  # a domain over citext
        ("people", "box"),  # a composite holding citext
        ("people", "boxes"),
        ("settings", "attrs"),
        ("settings", "history"),
        ("settings", "item"),
        ("tree", "path"),
        ("tree", "query"),
        ("boxes", "c"),
        ("moods_of_two_schemas", "there"),  # public.mood took the name
        ("moods_of_two_schemas", "shaped"),  # so did the table shapes
        ("documents", "body"),  # the embedded PostgreSQL has no libxml
        ("documents", "parts"),
        ("documents", "checked"),
    ]:
        assert landed_types(replica, table)[column] == "text", (table, column)
    # A domain the replica cannot make lands as its base type.
    numbers = landed_types(replica, "numbers")
    assert numbers == {
        "id": "integer",
        "e": "integer",
        "s": "master_raw.small_even",
        "es": "integer[]",
    }
    said = [
        "schema: settings: attrs extensions.hstore landed as text"
        " (extension hstore is not available on the replica)",
        "schema: people: box mailbox landed as text"
        " (extension citext is not available on the replica)",
        "schema: moods_of_two_schemas: there other.mood landed as text"
        " (type name mood is taken in master_raw by another of master's types)",
        "schema: documents: body xml landed as text"
        " (the replica's PostgreSQL is built without XML support)",
    ]
    for line in said:
        assert line in notes.splitlines(), notes
    assert "schema: numbers: e even landed as integer (the replica could not" in notes
    with psycopg.connect(replica) as conn:
        recorded = conn.execute(
            "select schema_changes from replica_meta.runs where run_id = %s",
            (loaded["run_id"],),
        ).fetchone()[0]
    assert {s.removeprefix("schema: ") for s in said} <= set(recorded)
    report = run_cli(["report", "--replica-url", replica], tmp_path)
    assert report.exit_code == 0, report.output
    assert f"  - {said[0].removeprefix('schema: ')}" in report.stdout

    # A second run lands the same way and says nothing changed in the shapes.
    _, again = extract_load(master, replica, tmp_path)
    assert "created" not in again and "->" not in again, again
    assert_replicated(master, replica)


def verify_landing(master: str, replica: str, tables: list[str], workdir) -> dict:
    result = run_cli(
        [
            "verify",
            "--master-url",
            master,
            "--replica-url",
            replica,
            "--tables",
            ",".join(tables),
            "--json",
        ],
        workdir,
    )
    # Nothing was published (an extract-load only): the models are not verified,
    # so verify exits 2 when the landing tables match, 1 when one differs.
    assert result.exit_code in (1, 2), result.output
    assert json.loads(result.stdout)["unpublished_models"], result.output
    checks = json.loads(result.stdout)["checks"]
    return {c["table"]: c for c in checks if c["layer"] == "landing"}


def test_verify_compares_text_landed_columns_by_their_text(
    pg15_adversarial, clusters, tmp_path
):
    master = pg15_adversarial
    replica = new_database(clusters["replica"], "types")
    extract_load(master, replica, tmp_path)
    tables = master_tables(master)
    checks = verify_landing(master, replica, tables, tmp_path)
    assert all(checks[t]["matches"] for t in tables), checks
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute("update settings set attrs = 'a=>2' where id = 1")
        conn.execute("update shapes set who.name.first = 'Anne' where id = 1")
        conn.execute(
            "update people set email = 'ANN@example.com'"
            " where email = 'Ann@Example.com'"
        )
    checks = verify_landing(master, replica, tables, tmp_path)
    assert not checks["settings"]["matches"]
    assert checks["settings"]["examples"] == ["id=1 differs"]
    assert checks["shapes"]["examples"] == ["id=1 differs"]
    # citext: equal to master's old key as citext, but not as text: the replica
    # holds master's text.
    assert checks["people"]["examples"] == [
        "email=ANN@example.com missing",
        "email=Ann@Example.com extra",
    ]
    assert [t for t in tables if not checks[t]["matches"]] == [
        "people",
        "settings",
        "shapes",
    ]


def test_embedded_master_onto_pg15_without_pgvector(
    embedded_adversarial, pg15, tmp_path
):
    master = embedded_adversarial
    replica = new_database(pg15.url(), "types")
    _, notes = extract_load(master, replica, tmp_path)
    assert_replicated(master, replica)
    assert landed_types(replica, "embeddings") == {
        "id": "integer",
        "embedding": "text",
        "loose": "text",
        "several": "text",
    }
    assert (
        "schema: embeddings: embedding extensions.vector(3) landed as text"
        " (extension vector is not available on the replica)"
    ) in notes.splitlines()
    # PostgreSQL 18's types recreated on 15.
    shapes = landed_types(replica, "shapes")
    assert shapes["spans"] == "master_raw.floatmultirange"
    assert shapes["crowd"] == "master_raw.contact[]"


@pytest.mark.parametrize("server", ["pg15", "embedded"])
def test_a_replica_with_the_extension_lands_its_types(
    server, pg15, pg15_adversarial, embedded_adversarial, clusters, tmp_path
):
    """The replica has, or can CREATE EXTENSION, what master uses: the columns
    keep their types, composites over them too. On PostgreSQL 15 the replica has
    an older hstore already: that table travels by text COPY, the others binary."""
    if server == "pg15":
        master, replica = pg15_adversarial, new_database(pg15.url(), "types")
        with psycopg.connect(replica, autocommit=True) as conn:
            conn.execute(
                "create schema extensions;"
                " create extension hstore version '1.4' schema extensions"
            )
        created = ["citext", "ltree", "cube"]
    else:
        master = embedded_adversarial
        replica = new_database(clusters["replica"], "types")
        created = ["vector"]
    _, notes = extract_load(master, replica, tmp_path)
    assert_replicated(master, replica)
    with (
        psycopg.connect(master) as m,
        psycopg.connect(replica) as r,
        r.transaction(force_rollback=True),
    ):
        types = TypeLanding(m, r, "master_raw", dry_run=True)
        as_text = {
            t
            for t in master_tables(master)
            if describe_relation(m, "public", t, types).copy_as_text
        }
    assert as_text == ({"settings"} if server == "pg15" else set())
    for name in created:
        line = f"schema: extension {name} created on the replica (in extensions)"
        assert line in notes.splitlines(), notes
    assert "landed as text (extension" not in notes
    if server == "pg15":
        assert landed_types(replica, "people") == {
            "email": "extensions.citext",
            "aliases": "extensions.citext[]",
            "checked": "master_raw.email",
            "box": "master_raw.mailbox",
            "boxes": "master_raw.mailbox[]",
            "updated_at": "timestamp with time zone",
        }
        assert landed_types(replica, "settings")["item"] == "master_raw.tagged"
        assert landed_types(replica, "tree")["query"] == "extensions.lquery"
        assert landed_types(replica, "boxes")["cs"] == "extensions.cube[]"
        assert landed_types(replica, "documents") == {
            "id": "integer",
            "body": "xml",
            "parts": "xml[]",
            "checked": "master_raw.document",
        }
    else:
        assert landed_types(replica, "embeddings") == {
            "id": "integer",
            "embedding": "extensions.vector(3)",
            "loose": "extensions.vector",
            "several": "extensions.vector(2)[]",
        }
    _, again = extract_load(master, replica, tmp_path)
    assert "created" not in again, again


def test_incremental_merges_unusual_types(pg15_adversarial, clusters, tmp_path):
    master = pg15_adversarial
    replica = new_database(clusters["replica"], "types")
    extract_load(master, replica, tmp_path)
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute(
            "update shapes set who.home.city = 'Haifa, \"north\"', spans = '{}',"
            " updated_at = now() + interval '1 hour' where id = 1"
        )
        conn.execute("insert into keyed_by_name values (row('new', ')'), 'n', now())")
        conn.execute("delete from keyed_by_name where note = 'quotes'")
        # A citext key the replica holds as text.
        conn.execute(
            "insert into people (email, box) values ('New@One', row('n', 'N@n'))"
        )
        conn.execute("delete from people where email = 'bob@example.com'")
        conn.execute(
            "update settings set attrs = 'z=>\"9, 9\"', updated_at = now()"
            " + interval '1 hour' where id = 2"
        )
    loaded, _ = extract_load(master, replica, tmp_path, "--mode", "incremental")
    by_table = {t["table"]: t for t in loaded["tables"]}
    # Merged, not reloaded (no checksum taken): the shapes are unchanged.
    for table in ("shapes", "keyed_by_name", "people", "settings"):
        assert by_table[table]["master_checksum"] is None, by_table[table]
    assert_replicated(master, replica)


def test_a_type_master_changed_is_renamed_aside(clusters, tmp_path):
    master = new_database(clusters["master"], "retype")
    replica = new_database(clusters["replica"], "types")
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute(
            "create type point3 as (x int, y int);"
            " create type span as range (subtype = int4);"
            " create table things (id int primary key, p point3, s span, ss span[]);"
            " insert into things values (1, '(1,2)', '[1,3)', '{\"[2,4)\"}');"
        )
    extract_load(master, replica, tmp_path)
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute(
            "alter type point3 add attribute z text cascade;"
            " update things set p.z = 'deep';"
            " alter table things drop column s, drop column ss;"
            " drop type span;"
            " create type span as range (subtype = numeric);"
            " alter table things add column s span;"
            " update things set s = '[1.5,2]';"
        )
    _, notes = extract_load(master, replica, tmp_path)
    assert_replicated(master, replica)
    assert landed_types(replica, "things") == {
        "id": "integer",
        "p": "master_raw.point3",
        "s": "master_raw.span",
    }
    assert "landed as text" not in notes, notes
    for line in [
        "schema: type master_raw.point3 changed on master: the previous one is"
        " master_raw.point3__2",
        "schema: type master_raw.span changed on master: the previous one is"
        " master_raw.span__2",
    ]:
        assert line in notes.splitlines(), notes
    with psycopg.connect(replica) as conn:
        kept = conn.execute(
            "select typname from pg_type t join pg_namespace n on n.oid ="
            " t.typnamespace where nspname = 'master_raw' and typname like 'span%'"
            " order by 1"
        ).fetchall()
    # The range's multirange moved aside with it.
    assert [k for (k,) in kept] == [
        "span",
        "span__2",
        "span_multirange",
        "span_multirange__2",
    ]
    # Master moves the type to another schema and names a table after it: the
    # table takes the name in master_raw, the column lands as text.
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute(
            "create schema extra; alter type point3 set schema extra;"
            " create table point3 (id int primary key); insert into point3 values (7)"
        )
    _, notes = extract_load(master, replica, tmp_path)
    assert_replicated(master, replica)
    assert landed_types(replica, "things")["p"] == "text"
    assert landed_types(replica, "point3") == {"id": "integer"}
    assert (
        "schema: type master_raw.point3 renamed point3__3: a table takes the name"
        in notes.splitlines()
    ), notes


def test_built_in_tables_keep_the_binary_copy(master_url, clusters):
    """The CRM's tables (built-in types only) land as they are, by binary COPY."""
    with (
        psycopg.connect(master_url) as master,
        psycopg.connect(clusters["replica"]) as replica,
        replica.transaction(force_rollback=True),
    ):
        types = TypeLanding(master, replica, "master_raw", dry_run=True)
        for table in list_tables(master, "public"):
            rel = describe_relation(master, "public", table, types)
            assert not rel.copy_as_text and not rel.notes, table
            assert {c.landed for c in rel.columns} == {"builtin"}, table


def test_status_compares_master_with_its_landed_types(
    pg15_adversarial, clusters, tmp_path
):
    master = pg15_adversarial
    replica = new_database(clusters["replica"], "types")
    extract_load(master, replica, tmp_path)
    args = ["--master-url", master, "--replica-url", replica, "--json"]
    status = run_cli(["status", *args], tmp_path)
    # An extract-load publishes nothing: status compares with its figures, and
    # exits 1 saying no sync has published the replica.
    assert status.exit_code == 1, status.output
    assert json.loads(status.stdout)["published"] is False
    tables = {t["table"]: t for t in json.loads(status.stdout)["tables"]}
    assert set(tables) == set(master_tables(master))
    changes = {n: t["schema_changes"] for n, t in tables.items()}
    assert all(c == [] for c in changes.values()), changes
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute("alter table settings add column more extensions.hstore")
        conn.execute("alter table shapes add column again floatrange")
    status = run_cli(["status", *args], tmp_path)
    tables = {t["table"]: t for t in json.loads(status.stdout)["tables"]}
    assert tables["settings"]["schema_changes"] == ["+more text"]
    assert tables["shapes"]["schema_changes"] == ["+again master_raw.floatrange"]


@pytest.fixture
def pg15_crm_with_extension_types(pg15) -> str:
    """The CRM master on PostgreSQL 15, with two columns of contrib types."""
    from crm_replica.demo import setup as demo

    url = new_database(pg15.url(), "crm")
    demo.ensure_master(url, seed=42, scale=1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "create schema extensions;"
            " create extension hstore with schema extensions;"
            " create extension citext with schema extensions;"
            " alter table leads add column attrs extensions.hstore;"
            " alter table clients add column login extensions.citext;"
            " update leads set attrs = 'source=>ads'"
        )
    return url


@pytest.mark.parametrize("server", ["embedded", "pg15"])
def test_analyze_says_how_extension_columns_land(
    server, pg15_crm_with_extension_types, pg15, clusters, tmp_path
):
    master = pg15_crm_with_extension_types
    base = clusters["replica"] if server == "embedded" else pg15.url()
    replica = new_database(base, "analyze")
    out = tmp_path / "migration"
    args = ["--master-url", master, "--replica-url", replica, "--out", str(out)]
    result = run_cli(["analyze", *args], tmp_path)
    assert result.exit_code == 0, result.output
    ddl = (out / "master-schema-replication.sql").read_text()
    report = (out / "schema-comparison-report.md").read_text()
    plan = (out / "data-migration-plan.md").read_text()
    if server == "embedded":  # no contrib: held as text, and said so
        said = (
            "`leads`: column attrs extensions.hstore lands as text"
            " (extension hstore is not available on the replica): master's text"
            " output."
        )
        assert f"- {said}" in result.stdout.splitlines(), result.stdout
        assert '"attrs" text' in ddl and '"login" text' in ddl
        assert "create extension" not in ddl
        assert "Held as text" in report and "`leads`: column attrs" in plan
    else:  # contrib available: the DDL creates the extensions, columns typed
        assert "lands as text" not in result.stdout
        assert (
            'create extension if not exists "hstore" with schema "extensions";' in ddl
        )
        assert '"attrs" extensions.hstore' in ddl
        assert '"login" extensions.citext' in ddl
    with psycopg.connect(replica, autocommit=True) as conn:
        conn.execute(ddl)  # it applies
        typed = conn.execute(
            "select format_type(atttypid, atttypmod) from pg_attribute"
            " where attrelid = 'public.leads'::regclass and attname = 'attrs'"
        ).fetchone()[0]
    assert typed == ("text" if server == "embedded" else "extensions.hstore")


def test_a_sync_build_lands_tables_beside_and_types_in_the_live_schema(
    embedded_adversarial, clusters
):
    """A sync loads into _crm_build_master_raw; the types it needs are made in the
    live master_raw (a publish never moves them)."""
    from crm_replica.load.engine import Target
    from crm_replica.load.engine import extract_load as load
    from crm_replica.settings.replication import Config

    master = embedded_adversarial
    replica = new_database(clusters["replica"], "types")
    tables = master_tables(master)
    target = Target("_crm_build_master_raw", "master_raw", publish=False)
    result = load(master, replica, tables, config=Config(), target=target)
    assert result.ok
    with psycopg.connect(replica) as conn:
        where = dict(
            conn.execute(
                "select a.attname, format_type(a.atttypid, a.atttypmod)"
                " from pg_attribute a where a.attrelid ="
                " '_crm_build_master_raw.shapes'::regclass and a.attnum > 0"
            ).fetchall()
        )
        live = conn.execute(
            "select count(*) from pg_class c join pg_namespace n"
            " on n.oid = c.relnamespace where n.nspname = 'master_raw'"
            " and c.relkind = 'r'"
        ).fetchone()[0]
    assert where["who"] == "master_raw.contact"
    assert where["spans"] == "master_raw.floatmultirange"
    assert live == 0  # no table there: only the types
    with psycopg.connect(master) as m, psycopg.connect(replica) as r:
        for table in tables:
            assert rows_text(replica, "_crm_build_master_raw", table) == rows_text(
                master, "public", table
            )
            assert count_and_checksum(
                r, "_crm_build_master_raw", table
            ) == count_and_checksum(m, "public", table)


def test_a_full_run_on_a_generation_compares_unusual_rows(
    pg15_adversarial, clusters, tmp_path
):
    """A full sync that builds on a generation merges by comparing every row's
    hash on both sides (incremental._Diff): the hashes of recreated and text-landed
    columns must agree across servers for only the changed rows to be written."""
    from crm_replica.load.engine import Target
    from crm_replica.load.engine import extract_load as load
    from crm_replica.settings.replication import Config

    master = pg15_adversarial
    replica = new_database(clusters["replica"], "types")
    tables = master_tables(master)
    first = load(master, replica, tables, config=Config())
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute("update shapes set who.home.city = 'Acre' where id = 1")
        conn.execute("update settings set attrs = 'changed=>1' where id = 2")
        conn.execute("delete from people where email = 'bob@example.com'")
        conn.execute("insert into keyed_by_name values (row('z', 'z'), 'new', now())")
    target = Target("master_raw", "master_raw", since_run=first.run_id)
    result = load(master, replica, tables, config=Config(), target=target)
    assert result.ok
    changed = {t.table_name: t.changed_rows for t in result.loads}
    assert changed["shapes"] == 1 and changed["settings"] == 1, changed
    assert changed["people"] == 1 and changed["keyed_by_name"] == 1, changed
    assert changed["tree"] == changed["boxes"] == changed["numbers"] == 0, changed
    assert all(t.master_checksum == t.replica_checksum for t in result.loads)
    assert_replicated(master, replica)
