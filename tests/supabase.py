"""A throwaway PostgreSQL 15 server set up the way Supabase sets one up.

Debian's ``postgresql-15`` (the major version Supabase runs, with contrib), started
by the test session: initdb as an unprivileged OS user, scram-sha-256 passwords,
TCP on a free port of 127.0.0.1. Its database ``postgres`` holds the synthetic CRM
master owned by ``crm_owner`` (not a superuser; the owner reads past row-level
security, as Supabase's ``postgres`` role does), with:

- row-level security on ``leads`` and ``conversations``, whose policy shows a role
  only some rows (as a tenant policy would);
- ``reader``: SELECT only, subject to those policies;
- ``replicator``: SELECT only, with BYPASSRLS;
- role-level ``statement_timeout`` and ``idle_in_transaction_session_timeout`` of 1 s
  on both, as Supabase puts timeouts on its roles.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORDS = {
    "postgres": "Sup3r-Secret-Admin",
    "supabase_admin": "Sup4base-Secret-Admin",
    "crm_owner": "Own3r-Secret-pw",
    "reader": "R3ader-Secret-pw",
    "replicator": "R3plicator-Secret-pw",
}
#: What the row-level security policy shows a role that does not bypass it.
POLICY = {
    "leads": "bant_status = 'no_bant'",
    "conversations": "message_type = 'incoming'",
}
ROLE_TIMEOUT = "1s"


def available() -> bool:
    return (BIN / "initdb").exists() and (BIN / "pg_ctl").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    """Run as the unprivileged ``postgres`` OS user when we are root (PostgreSQL
    refuses to run as root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class SupabaseLike:
    base: Path
    port: int
    #: the bootstrap superuser (Supabase's is supabase_admin; its postgres is not)
    superuser: str = "postgres"

    def url(self, role: str = "postgres", dbname: str = "postgres", **extra) -> str:
        query = "&".join(f"{k}={v}" for k, v in extra.items())
        return (
            f"postgresql://{role}:{PASSWORDS[role]}@127.0.0.1:{self.port}/{dbname}"
            + (f"?{query}" if query else "")
        )

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(self.superuser, dbname), autocommit=True)

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [str(BIN / "pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate"]
                + ["stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.base, ignore_errors=True)


def start(superuser: str = "postgres") -> SupabaseLike:
    """A new server whose bootstrap superuser is ``superuser``."""
    base = Path(tempfile.mkdtemp(prefix="supabase-like-"))
    base.chmod(0o755)
    pwfile = base / "pw"
    pwfile.write_text(PASSWORDS[superuser] + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(pwfile, "postgres")
    subprocess.run(
        _as_postgres(
            [
                str(BIN / "initdb"),
                "-D",
                str(base / "data"),
                "-U",
                superuser,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    subprocess.run(
        _as_postgres(
            [
                str(BIN / "pg_ctl"),
                "-D",
                str(base / "data"),
                "-l",
                str(base / "log"),
                "-w",
                "-o",
                f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
                " -c max_connections=60 -c fsync=off",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    server = SupabaseLike(base, port, superuser)
    _wait(server)
    return server


def _wait(server: SupabaseLike) -> None:
    for _ in range(100):
        try:
            with server.admin():
                return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise RuntimeError(f"the PostgreSQL 15 test server did not start: {server.base}")


def create_roles(server: SupabaseLike) -> None:
    with server.admin() as conn:
        for role in ("crm_owner", "reader", "replicator"):
            conn.execute(
                f"create role {role} login password '{PASSWORDS[role]}'"
                + (" bypassrls" if role == "replicator" else "")
            )
        for role in ("reader", "replicator"):
            conn.execute(f"alter role {role} set statement_timeout = '{ROLE_TIMEOUT}'")
            conn.execute(
                f"alter role {role} set idle_in_transaction_session_timeout"
                f" = '{ROLE_TIMEOUT}'"
            )


def master_database(server: SupabaseLike, name: str = "postgres") -> None:
    """Let crm_owner write a master into database ``name`` (created unless it is
    ``postgres``)."""
    with server.admin() as conn:
        if name != "postgres":
            conn.execute(f'create database "{name}" owner crm_owner')
        conn.execute(f'grant create on database "{name}" to crm_owner')
    with server.admin(name) as conn:
        conn.execute("alter schema public owner to crm_owner")


def secure(server: SupabaseLike, dbname: str = "postgres") -> None:
    """SELECT for the reading roles; row-level security on two tables."""
    with server.admin(dbname) as conn:
        for role in ("reader", "replicator"):
            conn.execute(f"grant usage on schema public to {role}")
            conn.execute(f"grant select on all tables in schema public to {role}")
        for table, condition in POLICY.items():
            conn.execute(f"alter table public.{table} enable row level security")
            conn.execute(
                f"create policy tenant_rows on public.{table} for select"
                f" using ({condition})"
            )
