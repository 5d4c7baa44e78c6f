"""Who may read what: master's access to its tables, given to the replica's.

In the application's database the replica's schema (``public``) is what
Supabase's Data API serves to ``anon`` and ``authenticated``. What the replica
creates there gets master's access and never more (Supabase's database linter
is the measure: no table without row-level security, no view that runs with its
owner's rights):

- a table: row-level security on, master's policies, master's grants. A policy
  that cannot be made here (a role or function the replica's database lacks) is
  left out, and said: the table keeps row-level security on without it. Where
  master's relation has no row-level security of its own (a table without it,
  or a view, as master's dashboards are), whoever master grants reads every
  row, and one policy says so (``as_master``);
- a view: ``security_invoker = on`` and master's grants (it reads through the
  landing table, where the API roles have no grant);
- a relation master does not have (the replica's own), and everything in the
  replica's other schemas: no grant to the API roles, and in ``public`` row-level
  security on.

Master's side is read at the extract-load's snapshot and recorded with the run
(``replica_meta.master_access``); the publish applies it to what it moves into
place, in its transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

#: Supabase's API roles: the Data API reads as one of them.
API_ROLES = ("anon", "authenticated", "service_role")

DDL = """
create table if not exists replica_meta.master_access (
    run_id bigint not null,
    table_name text not null,
    rules jsonb not null,
    primary key (run_id, table_name)
)
"""

_READ = """
select c.relname, c.relkind::text, c.relrowsecurity,
       coalesce((
           select jsonb_agg(jsonb_build_object(
                      'name', p.polname,
                      'permissive', p.polpermissive,
                      'command', p.polcmd::text,
                      'roles', (
                          select coalesce(jsonb_agg(case when r = 0 then 'public'
                                 else pg_get_userbyid(r) end order by 1), '[]')
                          from unnest(p.polroles) as r),
                      'using', pg_get_expr(p.polqual, p.polrelid),
                      'check', pg_get_expr(p.polwithcheck, p.polrelid))
                  order by p.polname)
           from pg_policy as p where p.polrelid = c.oid), '[]'),
       coalesce((
           select jsonb_agg(jsonb_build_array(
                      case when a.grantee = 0 then 'public'
                      else pg_get_userbyid(a.grantee) end, a.privilege_type)
                  order by 1)
           from aclexplode(c.relacl) as a where a.grantee <> c.relowner), '[]'),
       coalesce((
           select jsonb_agg(jsonb_build_object(
                      'name', con.conname,
                      'columns', {key_columns},
                      'references', f.relname,
                      'referenced_columns', {referenced_columns},
                      'on_delete', con.confdeltype::text,
                      'on_update', con.confupdtype::text)
                  order by con.conname)
           from pg_constraint as con
           join pg_class as f on f.oid = con.confrelid
           where con.conrelid = c.oid and con.contype = 'f'
             and f.relnamespace = c.relnamespace), '[]'),
       coalesce((
           select jsonb_object_agg(a.attname, pg_get_expr(d.adbin, d.adrelid))
           from pg_attrdef as d
           join pg_attribute as a on a.attrelid = d.adrelid and a.attnum = d.adnum
           where d.adrelid = c.oid and not a.attisdropped
             and a.attgenerated = ''), '{{}}')
from pg_class as c
where c.relnamespace = %s::regnamespace and c.relname = any(%s)
"""

#: A foreign key's columns, in its order: ``keys``/``rel`` are conkey/conrelid
#: (its table) or confkey/confrelid (the table it references).
_KEY_COLUMNS = """(
                          select jsonb_agg(a.attname order by k.o)
                          from unnest(con.{keys}) with ordinality as k (n, o)
                          join pg_attribute as a
                            on a.attrelid = con.{rel} and a.attnum = k.n)"""
_READ = _READ.format(
    key_columns=_KEY_COLUMNS.format(keys="conkey", rel="conrelid"),
    referenced_columns=_KEY_COLUMNS.format(keys="confkey", rel="confrelid"),
)

_COMMANDS = {"r": "select", "a": "insert", "w": "update", "d": "delete", "*": "all"}


@dataclass
class Rules:
    """Master's access to one of its relations."""

    kind: str  # master's relkind: r, p (tables), v, m (views)
    row_security: bool
    policies: list[dict] = field(default_factory=list)
    #: (grantee, privilege): grantee is a role name or "public"
    grants: list[tuple[str, str]] = field(default_factory=list)
    #: master's foreign keys to its other tables of the same schema: name,
    #: columns, references, referenced_columns, on_delete, on_update
    #: (pg_constraint's action letters)
    foreign_keys: list[dict] = field(default_factory=list)
    #: master's column defaults, {column: expression}
    defaults: dict[str, str] = field(default_factory=dict)

    @property
    def is_table(self) -> bool:
        return self.kind in ("r", "p")


def read(conn: psycopg.Connection, schema: str, names: Sequence[str]) -> dict:
    """Master's rules for ``schema``'s relations ``names``, by name. Expressions
    are read fully qualified (an empty search_path while reading), so they mean
    the same in the replica's database."""
    path = conn.execute("select current_setting('search_path')").fetchone()[0]
    conn.execute("select set_config('search_path', 'pg_catalog', true)")
    try:
        found = conn.execute(_READ, (schema, list(names))).fetchall()
    finally:
        conn.execute("select set_config('search_path', %s, true)", (path,))
    return {
        name: Rules(kind, rls, policies, [tuple(g) for g in grants], keys, defaults)
        for name, kind, rls, policies, grants, keys, defaults in found
    }


def record(conn: psycopg.Connection, run_id: int, rules: dict[str, Rules]) -> None:
    """Keep run ``run_id``'s rules beside its loads (the caller's transaction)."""
    conn.execute(DDL)
    conn.cursor().executemany(
        "insert into replica_meta.master_access values (%s, %s, %s)"
        " on conflict do nothing",
        [
            (
                run_id,
                name,
                json.dumps(
                    {
                        "kind": r.kind,
                        "row_security": r.row_security,
                        "policies": r.policies,
                        "grants": r.grants,
                        "foreign_keys": r.foreign_keys,
                        "defaults": r.defaults,
                    }
                ),
            )
            for name, r in rules.items()
        ],
    )


def recorded(conn: psycopg.Connection, run_id: int) -> dict[str, Rules]:
    """The rules run ``run_id`` read (or the newest run's before it that has
    some: a `replica build` publishes on the last sync's loads)."""
    if not conn.execute(
        "select to_regclass('replica_meta.master_access') is not null"
    ).fetchone()[0]:
        return {}
    found = conn.execute(
        "select table_name, rules from replica_meta.master_access where run_id ="
        " (select max(run_id) from replica_meta.master_access where run_id <= %s)",
        (run_id,),
    ).fetchall()
    return {
        name: Rules(
            r["kind"],
            r["row_security"],
            r["policies"],
            [tuple(g) for g in r["grants"]],
            r.get("foreign_keys", []),
            r.get("defaults", {}),
        )
        for name, r in found
    }


def _existing(conn: psycopg.Connection, roles: Iterable[str]) -> set[str]:
    wanted = [r for r in roles if r != "public"]
    found = {
        r[0]
        for r in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)", (wanted,)
        )
    }
    return found | ({"public"} & set(roles))


def api_roles_exist(conn: psycopg.Connection) -> bool:
    """Whether Supabase's API roles exist here: a database the Data API serves."""
    return bool(_existing(conn, API_ROLES))


def _role(name: str) -> sql.Composable:
    return sql.SQL("public") if name == "public" else sql.Identifier(name)


def _revoke_api_roles(conn: psycopg.Connection, ident: sql.Identifier) -> None:
    for role in sorted(_existing(conn, API_ROLES)):
        conn.execute(sql.SQL("revoke all on {} from {}").format(ident, _role(role)))


def close(conn: psycopg.Connection, schema: str, name: str, kind: str) -> None:
    """A relation of the replica's own schemas: no grant to the API roles."""
    ident = sql.Identifier(schema, name)
    if kind in ("r", "p", "v", "m"):
        _revoke_api_roles(conn, ident)


def give(
    conn: psycopg.Connection,
    schema: str,
    name: str,
    kind: str,
    rules: Rules | None,
) -> list[str]:
    """Master's access (``rules``; None: master has no such relation) to the
    replica's relation ``schema.name`` of relkind ``kind``, just moved into the
    application's schema. Returns notes."""
    ident = sql.Identifier(schema, name)
    label = f"{schema}.{name}"
    notes: list[str] = []
    _revoke_api_roles(conn, ident)
    conn.execute(sql.SQL("revoke all on {} from public").format(ident))
    if kind == "v":
        conn.execute(sql.SQL("alter view {} set (security_invoker = on)").format(ident))
    elif kind != "m":
        conn.execute(sql.SQL("alter table {} enable row level security").format(ident))
    if rules is None:
        return notes
    grantees = _existing(conn, (g for g, _ in rules.grants))
    missing = sorted({g for g, _ in rules.grants} - grantees)
    if missing:
        notes.append(
            f"{label}: master grants {', '.join(missing)}, which this database"
            " does not have: not granted"
        )
    privileges = [(g, p) for g, p in rules.grants if g in grantees]
    for grantee, privilege in privileges:
        conn.execute(
            sql.SQL("grant {} on {} to {}").format(
                sql.SQL(privilege), ident, _role(grantee)
            )
        )
    if kind in ("v", "m"):
        return notes
    if rules.is_table and rules.row_security:
        for policy in rules.policies:
            notes += _policy(conn, ident, label, policy)
    elif privileges:
        # Master's relation lets whoever it grants read (and write) every row.
        notes += _policy(
            conn,
            ident,
            label,
            {
                "name": "as_master",
                "permissive": True,
                "command": "*",
                "roles": sorted({g for g, _ in privileges}),
                "using": "true",
                "check": "true",
            },
        )
    return notes


def _policy(
    conn: psycopg.Connection, ident: sql.Identifier, label: str, policy: dict
) -> list[str]:
    statement = sql.SQL("create policy {} on {} as {} for {} to {}").format(
        sql.Identifier(policy["name"]),
        ident,
        sql.SQL("permissive" if policy["permissive"] else "restrictive"),
        sql.SQL(_COMMANDS[policy["command"]]),
        sql.SQL(", ").join(_role(r) for r in policy["roles"]),
    )
    if policy.get("using"):
        statement += sql.SQL(" using ({})").format(sql.SQL(policy["using"]))
    if policy.get("check"):
        statement += sql.SQL(" with check ({})").format(sql.SQL(policy["check"]))
    try:
        with conn.transaction():
            conn.execute(statement)
    except psycopg.Error as exc:
        reason = (exc.diag.message_primary or str(exc)).splitlines()[0]
        return [
            f"{label}: master's policy {policy['name']} cannot be made here"
            f" ({reason}): row-level security stays on without it"
        ]
    return []
