"""The CRM application's own database in small (sql/app_schema.sql), with rows of
its own: what the replica lives in on a developer's machine. Its CRM tables hold
the application's legacy rows (synthetic.local_rows: some share master's ids),
and around them the application's users, memberships, a conversation per local
lead and a notification. For the demo and the tests."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql

from crm_replica.demo import synthetic

#: The application's users: who the policies let read what.
USERS = {
    "alice": uuid.UUID("00000000-0000-4000-8000-00000000a11c"),
    "bob": uuid.UUID("00000000-0000-4000-8000-000000000b0b"),
}


def create_roles(conn: psycopg.Connection) -> None:
    """Supabase's API roles (anon, authenticated, service_role, authenticator)."""
    conn.execute(synthetic.sql_text("app_roles.sql"))


def create(conn: psycopg.Connection, master_ids: dict[str, list], seed: int) -> None:
    """The application's schema and rows, in one transaction (as the database's
    owner; the API roles exist)."""
    rows = synthetic.local_rows(master_ids, seed)
    overlap = set(master_ids.get("leads", []))
    with conn.transaction():
        conn.execute(synthetic.sql_text("app_schema.sql"))
        cur = conn.cursor()
        cur.executemany(
            "insert into auth.users (id, email) values (%s, %s)",
            [(uid, f"{name}@example.com") for name, uid in USERS.items()],
        )
        cur.executemany(
            "insert into public.profiles (id, display_name) values (%s, %s)",
            [(uid, name.title()) for name, uid in USERS.items()],
        )
        cur.executemany(
            "insert into public.clients (id, name, status, created_at, account_manager)"
            " values (%s, %s, %s, %s, 'alice')",
            rows.tables["clients"],
        )
        cur.executemany(
            "insert into public.projects (id, name, client_id, status, created_at)"
            " values (%s, %s, %s, %s, %s)",
            rows.tables["projects"],
        )
        cur.executemany(
            "insert into public.leads (id, name, phone, status, current_project_id,"
            " created_at, client_id) values (%s, %s, %s, %s, %s, %s,"
            " (select client_id from public.projects where id = %s))",
            [(*lead, lead[4]) for lead in rows.tables["leads"]],
        )
        alice, bob = USERS["alice"], USERS["bob"]
        for table, column in (("clients", "client_id"), ("projects", "project_id")):
            conn.execute(
                sql.SQL("insert into {} ({}, user_id) select id, %s from {}").format(
                    sql.Identifier("public", f"{table[:-1]}_members"),
                    sql.Identifier(column),
                    sql.Identifier("public", table),
                ),
                (alice,),
            )
        conn.execute(
            "insert into public.lead_members (lead_id, user_id)"
            " select id, %s from public.leads",
            (alice,),
        )
        local_only = [
            lead[0] for lead in rows.tables["leads"] if lead[0] not in overlap
        ]
        shared = [lead[0] for lead in rows.tables["leads"] if lead[0] in overlap]
        # Bob follows one lead the application shares with master.
        cur.executemany(
            "insert into public.lead_members (lead_id, user_id) values (%s, %s)",
            [(lead, bob) for lead in shared[:1]],
        )
        for n, lead in enumerate(local_only[:3]):
            conn.execute(
                "with made as (insert into public.conversations"
                ' (lead_id, message_content, "timestamp", message_type, status)'
                " values (%s, %s, now() - %s * interval '1 day', 'incoming',"
                " 'received') returning id)"
                " insert into public.conversation_members (conversation_id, user_id)"
                " select id, %s from made",
                (lead, f"Local message {n + 1}", n + 1, alice),
            )
        conn.execute(
            "insert into public.notifications (lead_id, body) values (%s, %s)",
            (local_only[0], "A local lead to call back"),
        )
