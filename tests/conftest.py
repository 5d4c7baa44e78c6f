"""Shared fixtures: two real embedded PostgreSQL clusters, a synthetic master in one,
a replica synced from it in the other. Nothing is mocked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from zoneinfo import ZoneInfo

import appdb
import psycopg
import pytest
import supabase
from click.testing import CliRunner, Result
from psycopg.conninfo import make_conninfo

from crm_replica.cli import cli
from crm_replica.db import cluster
from crm_replica.demo import setup as demo
from crm_replica.settings import schemas as settings

PROJECT_DIR = Path(__file__).resolve().parent.parent

#: Longer than a session takes. The dashboards count today's and this week's leads
#: in the CRM's time zone: a synthetic master made before midnight there and
#: compared after it differs, as master's own views would.
SESSION_SPAN = timedelta(minutes=15)
#: The CRM's time zone (dbt_project.yml's var crm_time_zone).
CRM_TIME_ZONE = settings.load(PROJECT_DIR).time_zone


def wait_for_the_crms_new_day(request) -> None:
    """Start after the CRM's midnight rather than straddle it (and say why): the
    synthetic master counts today's leads. Only sessions that make a master wait
    (tests/unit needs none)."""
    zone = ZoneInfo(CRM_TIME_ZONE)
    now = datetime.now(zone)
    midnight = datetime.combine(now.date() + timedelta(days=1), dt_time(), zone)
    if midnight - now < SESSION_SPAN:
        wait = (midnight - now).total_seconds() + 5
        request.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"waiting {wait:.0f} s for 00:00 in {CRM_TIME_ZONE}: the session would"
            " straddle the CRM's day, and the dashboards count today's leads"
        )
        time.sleep(wait)


@pytest.fixture(scope="session")
def clusters(tmp_path_factory, request) -> Iterator[dict[str, str]]:
    """URLs to a master and a replica database in two separate clusters."""
    wait_for_the_crms_new_day(request)
    base = tmp_path_factory.mktemp("clusters")
    with (
        cluster(base / "master", "crm_master") as master,
        cluster(base / "replica", "crm_replica") as replica,
    ):
        yield {"master": master, "replica": replica}


@pytest.fixture(scope="session")
def master_url(clusters) -> str:
    demo.ensure_master(clusters["master"], seed=42, scale=1)
    return clusters["master"]


def run_cli(args: list[str], workdir: Path, **env: str) -> Result:
    """Invoke the CLI in-process against the project, like a user would."""
    return CliRunner().invoke(
        cli,
        [
            *args[:1],
            "--project-dir",
            str(PROJECT_DIR),
            "--workdir",
            str(workdir),
            *args[1:],
        ],
        catch_exceptions=False,
        env={"MASTER_DATABASE_URL": None, "REPLICA_DATABASE_URL": None, **env},
    )


def paused_sync(pair: dict, point: str, *extra: str) -> subprocess.Popen:
    """`replica sync` in a process of its own (``pair``: its "args", the URLs,
    and its "work" directory), held at ``point`` for a while
    (crm_replica.sync.pipeline.pause); returns once it is there."""
    marker = pair["work"] / "paused"
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "crm_replica.cli", "sync", *pair["args"], *extra]
        + ["--workdir", str(pair["work"]), "--project-dir", str(PROJECT_DIR)],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={
            **os.environ,
            "CRM_REPLICA_PAUSE": point,
            "CRM_REPLICA_PAUSE_FILE": str(marker),
            "CRM_REPLICA_PAUSE_SECONDS": "4",
        },
    )
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


def rows_text(url: str, schema: str, table: str) -> list[str]:
    """Every row of ``schema.table`` as text, sorted: a content comparison that does
    not depend on row order (same session settings on every side)."""
    with psycopg.connect(url, options="-c TimeZone=UTC -c extra_float_digits=3") as c:
        return [
            r[0]
            for r in c.execute(
                psycopg.sql.SQL("select t::text from {} as t order by 1").format(
                    psycopg.sql.Identifier(schema, table)
                )
            ).fetchall()
        ]


def masters_rows_text(
    replica: str, master: str, table: str, schema: str = "public"
) -> list[str]:
    """Master's rows as the replica's ``schema.table`` holds them, as text,
    sorted: master's columns in master's order, for the keys master has (its
    primary key). In the application's database the table also holds the
    application's own rows and columns, which are not master's; a row master
    has that the replica lacks shows as missing."""
    ident = psycopg.sql.Identifier("public", table)
    with psycopg.connect(master) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "select attname from pg_attribute where attrelid = %s::regclass"
                " and attnum > 0 and not attisdropped order by attnum",
                (f"public.{table}",),
            )
        ]
        key = [
            r[0]
            for r in conn.execute(
                "select a.attname from pg_constraint c"
                " cross join unnest(c.conkey) with ordinality as k (attnum, n)"
                " join pg_attribute a on a.attrelid = c.conrelid"
                " and a.attnum = k.attnum"
                " where c.conrelid = %s::regclass and c.contype = 'p' order by k.n",
                (f"public.{table}",),
            )
        ]
        key_text = psycopg.sql.SQL("row({})::text").format(
            psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, key))
        )
        keys = [
            r[0]
            for r in conn.execute(
                psycopg.sql.SQL("select {} from {}").format(key_text, ident)
            )
        ]
    with psycopg.connect(
        replica, options="-c TimeZone=UTC -c extra_float_digits=3"
    ) as conn:
        return [
            r[0]
            for r in conn.execute(
                psycopg.sql.SQL(
                    "select row({})::text from {} as t where {} = any(%s) order by 1"
                ).format(
                    psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, columns)),
                    psycopg.sql.Identifier(schema, table),
                    key_text,
                ),
                (keys,),
            )
        ]


def new_database(url: str, prefix: str) -> str:
    """A fresh empty database beside ``url``'s, for tests that break things."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return make_conninfo(url, dbname=name)


@pytest.fixture(scope="session")
def synced(master_url, clusters, tmp_path_factory) -> dict[str, object]:
    """A replica with the legacy local tables, then synced (extract-load + build)."""
    replica = clusters["replica"]
    workdir = tmp_path_factory.mktemp("work")
    assert demo.ensure_application(replica, master_url, seed=42)
    result = run_cli(
        ["sync", "--master-url", master_url, "--replica-url", replica], workdir
    )
    assert result.exit_code == 0, result.output
    return {
        "master": master_url,
        "replica": replica,
        "workdir": workdir,
        "output": result.output,
    }


def need_postgresql_15(without: str) -> None:
    """Skip, saying why (``without``: what cannot be done), where Debian's
    PostgreSQL 15 is not installed; fail instead where CI requires it."""
    if not supabase.available():
        if os.environ.get("CRM_REPLICA_REQUIRE_PG15"):
            pytest.fail("Debian's postgresql-15 is not installed, and CI requires it")
        pytest.skip(
            f"Debian's postgresql-15 is not installed (.ci/run installs it): {without}"
        )


@pytest.fixture(scope="session")
def pg15(request) -> Iterator[supabase.SupabaseLike]:
    """Debian's PostgreSQL 15 server (with contrib: citext, hstore, ltree, cube),
    started for the session by tests/supabase.py."""
    wait_for_the_crms_new_day(request)
    need_postgresql_15("the PostgreSQL 15 server cannot start")
    server = supabase.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def supabase_app(request) -> Iterator[supabase.SupabaseLike]:
    """A second PostgreSQL 15 server, for the application's databases: its
    superuser is supabase_admin and its postgres is not one, as on Supabase
    (tests/appdb.py)."""
    need_postgresql_15("the application's database cannot be set up as Supabase's")
    server = supabase.start("supabase_admin")
    try:
        appdb.prepare(server)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def supabase_master(pg15) -> supabase.SupabaseLike:
    """The synthetic CRM master on a PostgreSQL 15 server set up like Supabase's
    (tests/supabase.py): password auth over TCP, SELECT-only roles, row-level
    security, role timeouts."""
    supabase.create_roles(pg15)
    supabase.master_database(pg15)
    demo.ensure_master(pg15.url("crm_owner"), seed=42, scale=1)
    supabase.secure(pg15)
    return pg15


def pytest_sessionfinish(session, exitstatus):
    """No tests collected is a failure, not a pass (pytest says 5; CI reads it)."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
