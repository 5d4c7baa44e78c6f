"""`replica analyze`'s three files rendered from a constructed Analysis, without a
database: what comes from a catalog is made safe where it lands (identifiers
quoted, comments kept to one line, Markdown cells escaped), and nothing is
HTML-escaped."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_replica.analyze.compare import (
    Analysis,
    ColumnDef,
    Conflict,
    Constraint,
    Shape,
    TableAnalysis,
)
from crm_replica.analyze.write import DDL_FILE, PLAN_FILE, REPORT_FILE, render

WHEN = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
#: A table name with a quote in it, and a master whose description (a database
#: name from a URL) holds a line break followed by SQL.
ODD = 'odd"name'
MASTER = "reader@db:5432/crm\ndrop table leads; --"


def col(name: str, type_: str = "text", **kw) -> ColumnDef:
    values = dict(
        not_null=False, default=None, identity="", generated="", builtin_type=True
    )
    return ColumnDef(name, type_, **{**values, **kw})


def shape(schema: str, table: str, columns, constraints=(), indexes=None, rows=0):
    return Shape(schema, table, list(columns), list(constraints), indexes or {}, rows)


def analysis(*, synced: bool = False, policy: str = "master-wins") -> Analysis:
    """Every kind of difference: an altered table (renamed, missing, retyped,
    nullability and default changes, keys, an index, rows in conflict), a missing
    one, and one that matches."""
    master_leads = shape(
        "master_raw",
        "leads",
        [
            col("id", "uuid", not_null=True),
            col("name", default="'n/a'::text"),
            col("current_project_id", "uuid"),
            col('we"ird'),
            col("score", "integer", not_null=True),
            col("kind", "mood", builtin_type=False),
            col("status", not_null=True),
            col("created_at", "timestamp with time zone", default="now()"),
        ],
        [
            Constraint("leads_pkey", "p", "PRIMARY KEY (id)"),
            Constraint('score"positive', "c", "CHECK ((score > 0))"),
            Constraint(
                "leads_project_fkey",
                "f",
                "FOREIGN KEY (current_project_id) REFERENCES projects(id)",
            ),
        ],
        {
            "btree (name)": "CREATE INDEX leads_name_idx ON master_raw.leads"
            " USING btree (name)"
        },
        rows=1500,
    )
    replica_leads = shape(
        "public",
        "leads",
        [
            col("id", "uuid", not_null=True),
            col("project_id", "uuid"),
            col("name"),
            col("kind"),
            col("status", default="'new'::text"),
            col("created_at", "timestamp with time zone", default="now()"),
            col("legacy|flag", "boolean"),
        ],
        [Constraint("leads_pkey", "p", "PRIMARY KEY (id)")],
        rows=26,
    )
    leads = TableAnalysis(
        "leads",
        master_leads,
        replica_leads,
        replica_leads,
        renames={"project_id": "current_project_id"},
        missing_columns=[master_leads.columns[3], master_leads.columns[4]],
        extra_columns=[replica_leads.columns[-1]],
        type_changes=[("kind", "text", "mood")],
        null_changes=[("status", True)],
        default_changes=[("name", "'n/a'::text"), ("status", None)],
        missing_constraints=master_leads.constraints[1:],
        missing_indexes=list(master_leads.indexes.values()),
        order_differs=True,
        compared_columns=["name", "current_project_id", "kind", "status"],
        conflicts=[
            Conflict("a|b", ["name", "status"]),
            Conflict("line\nbreak", ["kind"]),
            *(Conflict(f"k{i}", ["name"]) for i in range(20)),
        ],
        same=1,
        local_only=3,
        master_only=1478,
        orphans=["current_project_id: 2 value(s) with no projects.id (e.g. 7)"],
        nulls={"status": 1234},
        notes=["legacy column project_id is master's current_project_id"],
        as_text=["attrs extensions.hstore lands as text (no hstore here)"],
    )
    odd_master = shape(
        "master_raw",
        ODD,
        [
            col("id", "bigint", not_null=True, identity="a"),
            col('say "hi"', "mood", builtin_type=False),
            col("lead_id", "uuid"),
        ],
        [
            Constraint(f"{ODD}_pkey", "p", "PRIMARY KEY (id)"),
            Constraint(
                f"{ODD}_lead_fkey", "f", "FOREIGN KEY (lead_id) REFERENCES leads(id)"
            ),
        ],
        {
            "btree (lead_id)": 'CREATE INDEX odd_idx ON master_raw."odd""name"'
            " USING btree (lead_id)"
        },
        rows=2,
    )
    odd = TableAnalysis(ODD, odd_master, None, None)
    same_columns = [col("id", "integer", not_null=True), col("label")]
    same = TableAnalysis(
        "same",
        shape("master_raw", "same", same_columns, rows=5),
        shape("public", "same", same_columns, rows=5),
        None,
    )
    return Analysis(
        MASTER,
        "postgres@replica:5432/crm_replica",
        "18.4",
        synced,
        (3, WHEN) if synced else None,
        [leads, odd, same],
        ["app_settings"],
        policy,
        WHEN,
        [("hstore", "extensions"), ("citext", None)],
    )


def test_the_ddl_quotes_identifiers_and_keeps_comments_to_one_line():
    ddl = render(analysis(), DDL_FILE)
    assert 'create table if not exists "public"."odd""name" (' in ddl
    assert '    "say ""hi""" mood,' in ddl
    assert 'alter table "public"."leads" add column "we""ird" text;' in ddl
    assert (
        'add column "score" integer;  -- not null on master: set it once existing'
        in ddl
    )
    # What would change the application's columns, defaults or constraints is
    # left to it, and said.
    left = ddl.split("-- left to the application (this file changes none of it):")[1]
    assert (
        "--   leads: master's score\"positive (CHECK ((score > 0))) is not added"
        in left
    )
    assert "--   leads.project_id is master's current_project_id" in left
    assert "--   leads.status: the application's default 'new'::text stays" in left
    assert "--   leads.kind is text, master's mood" in left
    statements = [line for line in ddl.splitlines() if not line.startswith("--")]
    assert not [s for s in statements if "alter column" in s or "rename" in s]
    assert 'create extension if not exists "hstore" with schema "extensions";' in ddl
    assert 'CREATE INDEX IF NOT EXISTS odd_idx ON "public"."odd""name" USING' in ddl
    # The line break in master's name stays inside the comment.
    assert "-- master reader@db:5432/crm drop table leads; -- (PostgreSQL" in ddl
    assert not any(line.startswith("drop") for line in ddl.splitlines())
    assert ddl.startswith(f"-- {DDL_FILE}: generated by `replica analyze` at")
    assert ddl.endswith("\n\ncommit;\n")


def test_markdown_cells_escape_pipes_and_line_breaks():
    report = render(analysis(), REPORT_FILE)
    assert "| a\\|b | name, status |" in report
    assert "| line break | kind |" in report
    assert "| `legacy\\|flag` | — | boolean | replica only |" in report
    assert (
        "| leads | 1,500 | 26 | 26 (`public`) | 8 / 7 | 2 | 1 | 22 | 3 | 1,478 |"
        in (report)
    )
    assert "\n… and 2 more.\n" in report
    assert "| `current_project_id` | uuid | uuid | replica calls it `project_id` |" in (
        report
    )
    plan = render(analysis(), PLAN_FILE)
    assert "| 1 | leads | 1,500 | 26 |" in plan
    assert "| leads | 26 | 1 | 22 | 3 | master's for 22 key(s) |" in plan
    assert "`leads.status` becomes not null but holds 1,234 null(s)" in plan


def test_nothing_is_html_escaped():
    a = analysis(synced=True, policy="local-wins")
    files = "".join(render(a, name) for name in (DDL_FILE, REPORT_FILE, PLAN_FILE))
    assert "CHECK ((score > 0))" in files and "'n/a'::text" in files
    assert not any(e in files for e in ("&gt;", "&#34;", "&#39;", "&quot;", "&amp;"))
    assert "**local-wins**" in files and "synced (run 3)" in files


def test_matching_schemas_say_so():
    a = analysis()
    a.tables = a.tables[2:]
    a.extensions = []
    ddl = render(a, DDL_FILE)
    assert ddl.endswith(
        'begin;\nset local search_path to "public";\n\n'
        "-- nothing to do: the schemas match\n\ncommit;\n"
    )
    assert "- None: the schemas match." in render(a, REPORT_FILE)
    assert render(a, PLAN_FILE).endswith("## Risks\n\n- None found.\n")


def test_a_partitioned_tables_index_keeps_its_only():
    from crm_replica.analyze.write import create_index

    made = create_index("CREATE INDEX t_a_idx ON ONLY master_raw.t USING btree (a)")
    assert made == (
        'CREATE INDEX IF NOT EXISTS t_a_idx ON ONLY "public".t USING btree (a);'
    )
