"""The CRM application's Supabase database, as the replica lives in it.

A PostgreSQL 15 server set up as Supabase sets one up (tests/supabase.py, with
``supabase_admin`` as its superuser): ``postgres`` is not a superuser (NOSUPERUSER
CREATEDB CREATEROLE REPLICATION BYPASSRLS, and it may set session_replication_role),
Supabase's API roles exist, and each application database is
crm_replica/demo/sql/app_schema.sql with its rows (crm_replica.demo.application),
a view named like master's whatsapp_messages and Supabase's default privileges in
public, owned by ``postgres``, which the runner connects as.

``catalog`` reads every object of the application's that a sync must leave as it
was; ``assert_kept`` compares two readings.
"""

from __future__ import annotations

import psycopg
import supabase

from crm_replica.demo import application
from crm_replica.demo import setup as demo

ROLE = (
    "login nosuperuser createdb createrole replication bypassrls password '{password}'"
)


def prepare(server: supabase.SupabaseLike) -> None:
    """Supabase's roles on a server whose superuser is supabase_admin."""
    with server.admin() as conn:
        conn.execute(
            "create role postgres "
            + ROLE.format(password=supabase.PASSWORDS["postgres"])
        )
        application.create_roles(conn)
        conn.execute("grant anon, authenticated, service_role to postgres")
        conn.execute("grant set on parameter session_replication_role to postgres")


def database(server: supabase.SupabaseLike, name: str, master_url: str) -> str:
    """A new application database ``name`` owned by postgres, with the
    application's schema and rows; its URL as postgres."""
    with server.admin() as conn:
        conn.execute(f'create database "{name}" owner postgres')
    url = server.url("postgres", name)
    with psycopg.connect(url) as conn:
        application.create(conn, demo.master_ids(master_url), seed=42)
        conn.execute(NAMED_LIKE_MASTERS)
        conn.execute(SUPABASE_DEFAULTS)
    return url


#: A project made before late 2026: Supabase granted every new table in public
#: to its API roles by default.
SUPABASE_DEFAULTS = """
    alter default privileges for role postgres in schema public
    grant all on tables to anon, authenticated, service_role
"""


#: A view of the application's named like one of master's tables (a real CRM
#: application has one): the sync keeps it and publishes master's table beside it.
NAMED_LIKE_MASTERS = """
    create view public.whatsapp_messages with (security_invoker = on) as
    select id, lead_id, message_content as content, "timestamp"
    from public.conversations
    where message_type in ('incoming', 'outgoing');
    grant select on public.whatsapp_messages to authenticated;
"""


#: Each kind of object of the application's, read from the catalog with names
#: that change when the object is replaced (an oid, the referenced relation).
CATALOG = {
    "relations": """
        select c.relname, c.oid::bigint, c.relkind::text, c.relowner::regrole::text,
               c.relrowsecurity, c.relforcerowsecurity, c.relacl::text
        from pg_class c
        where c.relnamespace = 'public'::regnamespace
          and c.relkind in ('r', 'p', 'v', 'm')
        order by 1
    """,
    "columns": """
        select c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v')
          and a.attnum > 0 and not a.attisdropped
        order by 1, 2
    """,
    "constraints": """
        select conrelid::regclass::text, conname, pg_get_constraintdef(oid),
               convalidated, confrelid::bigint
        from pg_constraint
        where connamespace = 'public'::regnamespace
        order by 1, 2
    """,
    "policies": """
        select tablename, policyname, permissive, roles::text, cmd, qual, with_check
        from pg_policies where schemaname = 'public'
        order by 1, 2
    """,
    "triggers": """
        select tgrelid::regclass::text, tgname, tgenabled::text,
               pg_get_triggerdef(oid)
        from pg_trigger where not tgisinternal
        order by 1, 2
    """,
    "publication": """
        select pubname, schemaname, tablename from pg_publication_tables
        order by 1, 2, 3
    """,
    "comments": """
        select c.relname, d.objsubid, d.description
        from pg_description d join pg_class c on c.oid = d.objoid
        where d.classoid = 'pg_class'::regclass
          and c.relnamespace = 'public'::regnamespace
        order by 1, 2
    """,
    "views": """
        select viewname, definition from pg_views where schemaname = 'public'
        order by 1
    """,
}


def catalog(url: str) -> dict[str, set[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            kind: {tuple(r) for r in conn.execute(query).fetchall()}
            for kind, query in CATALOG.items()
        }


def assert_kept(before: dict[str, set[tuple]], after: dict[str, set[tuple]]) -> None:
    """Every object of the application's is there after as it was before: the
    same oid, owner, security and grants for each relation, the same columns
    (master's may be added), constraints (valid, referencing the same
    relation), policies, triggers, publication membership, comments and views.
    What the replica created beside them is not compared."""
    theirs = {r[0] for r in before["relations"]}
    for kind, rows in before.items():
        lost = rows - after[kind]
        assert not lost, f"{kind} changed or lost: {sorted(lost)[:5]}"
    # Nothing the application has gained on its own tables but master's columns.
    for kind in ("constraints", "policies", "triggers", "comments"):
        gained = {
            r for r in after[kind] - before[kind] if r[0].split(".")[-1] in theirs
        }
        assert not gained, f"{kind} added to the application's tables: {gained}"
