"""Promises the README makes, each with a test that a plausible bug would fail:
a sync whose verification fails restores (exit 4); the incremental look-back;
an incremental sync end to end; a backup file restores with pg_restore; --keep
prunes; lint fails on a violation; local_wins never takes a local client_id; a
failing on-run-start hook builds nothing."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import PROJECT_DIR, masters_rows_text, new_database, rows_text, run_cli

from crm_replica.demo import setup as demo
from crm_replica.errors import EXIT_DBT_FAILED, EXIT_VERIFY_FAILED
from crm_replica.settings import CRM_TABLES
from crm_replica.sync import pg_dump_binary


@pytest.fixture
def pair(clusters, tmp_path) -> dict:
    """A writable synthetic master and a replica with the legacy local tables."""
    master = new_database(clusters["master"], "prmaster")
    demo.ensure_master(master, seed=42, scale=1)
    replica = new_database(clusters["replica"], "prreplica")
    assert demo.ensure_application(replica, master, seed=42)
    return {
        "args": ["--master-url", master, "--replica-url", replica],
        "master": master,
        "replica": replica,
        "work": tmp_path,
    }


def run(pair: dict, command: str, *extra: str, project: Path | None = None):
    args = [command, *pair["args"], *extra]
    if project is not None:
        args += ["--project-dir", str(project)]
    return run_cli(args, pair["work"])


def copy_project(tmp_path: Path) -> Path:
    """The dbt project, copied, for tests that change a model."""
    target = tmp_path / "project"
    shutil.copytree(
        PROJECT_DIR,
        target,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".replica", "target", "logs", "crm_replica", "__pycache__"
        ),
    )
    return target


def error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_sync_whose_verification_fails_restores_the_replica(pair, tmp_path):
    """A model that changes content its tests do not look at: dbt passes, the
    checksum against the snapshot does not."""
    assert run(pair, "sync").exit_code == 0
    before = rows_text(pair["replica"], "public", "lead_status_history")
    project = copy_project(tmp_path)
    model = project / "models" / "replica" / "lead_status_history.sql"
    model.write_text(
        model.read_text().replace(
            "select * from final",
            "select id, lead_id, status_type, status, previous_status,"
            " upper(reason) as reason, status_metadata, changed_at, changed_by,"
            " created_at from final",
        )
    )
    failed = run(pair, "sync", project=project)
    assert failed.exit_code == EXIT_VERIFY_FAILED, failed.output
    line = error_line(failed)
    assert "lead_status_history" in line and "nothing was published" in line, line
    assert rows_text(pair["replica"], "public", "lead_status_history") == before


def test_incremental_reads_back_the_look_back_window(pair):
    """A row committed late, its cursor a few minutes before the newest one
    loaded: the look-back reads it again; without it the replica would differ."""
    assert run(pair, "sync").exit_code == 0
    with psycopg.connect(pair["replica"]) as conn:
        newest = conn.execute(
            "select max(updated_at) from master_raw.conversations"
        ).fetchone()[0]
    with psycopg.connect(pair["master"], autocommit=True) as conn:
        conn.execute(
            "update conversations set status = 'late', updated_at = %s"
            " where id = (select id from conversations order by id limit 1)",
            (newest - timedelta(minutes=5),),
        )
    result = run(pair, "extract-load", "--mode", "incremental")
    assert result.exit_code == 0, result.output
    assert rows_text(pair["replica"], "master_raw", "conversations") == rows_text(
        pair["master"], "public", "conversations"
    )


def test_incremental_sync_end_to_end(pair):
    assert run(pair, "sync").exit_code == 0
    with psycopg.connect(pair["master"], autocommit=True) as conn:
        conn.execute(
            "insert into leads (id, name, phone, status, created_at, updated_at,"
            " bant_status, state) values (gen_random_uuid(), 'ליד חדש',"
            " '+972501234999', 'new', now(), now(), 'no_bant', 'new_lead')"
        )
        conn.execute(
            "update conversations set status = 'validated', updated_at = now()"
            " where id in (select id from conversations order by id limit 3)"
        )
        conn.execute(
            "delete from whatsapp_messages where id in"
            " (select id from whatsapp_messages where test_mode order by id limit 2)"
        )
    result = run(pair, "sync", "--mode", "incremental")
    assert result.exit_code == 0, result.output
    for table in CRM_TABLES:
        assert masters_rows_text(pair["replica"], pair["master"], table) == rows_text(
            pair["master"], "public", table
        ), table
    dashboards = run(pair, "verify")
    assert dashboards.exit_code == 0, dashboards.output


def test_a_backup_file_restores_with_pg_restore(pair, clusters, tmp_path):
    assert run(pair, "sync").exit_code == 0
    out = tmp_path / "replica.dump"
    assert run(pair, "backup", "--out", str(out)).exit_code == 0
    restored = new_database(clusters["replica"], "restored")
    pg_restore = Path(pg_dump_binary()).with_name("pg_restore")
    subprocess.run(
        [str(pg_restore), "--no-owner", "--dbname", restored, str(out)],
        check=True,
        capture_output=True,
    )
    for schema, table in (
        ("public", "leads"),
        ("master_raw", "whatsapp_messages"),
        ("public", "dashboard_bant_distribution"),
    ):
        assert rows_text(restored, schema, table) == rows_text(
            pair["replica"], schema, table
        )


def test_keep_prunes_to_the_newest_generations(pair):
    for _ in range(4):
        assert run(pair, "sync", "--keep", "2").exit_code == 0
    listed = run_cli(
        ["rollback", "--replica-url", pair["replica"], "--list"], pair["work"]
    )
    runs = [int(ln.split()[0]) for ln in listed.output.splitlines()[2:]]
    assert runs == [3, 2], listed.output
    with psycopg.connect(pair["replica"]) as conn:
        kept = conn.execute(
            "select array_agg(distinct split_part(nspname, '__', 1))"
            " from pg_namespace where nspname like 'replica\\_gen\\_%'"
        ).fetchone()[0]
    assert sorted(kept) == ["replica_gen_2", "replica_gen_3"]


def test_lint_fails_on_a_violation(clusters, tmp_path):
    project = copy_project(tmp_path)
    bad = project / "models" / "staging" / "stg_master__clients.sql"
    bad.write_text(bad.read_text().replace("select", "SELECT", 1))
    replica = new_database(clusters["replica"], "lint")
    result = run_cli(
        [
            "lint",
            "--replica-url",
            replica,
            "--project-dir",
            str(project),
            "models/staging/stg_master__clients.sql",
        ],
        tmp_path,
    )
    assert result.exit_code == 1, result.output


def test_local_wins_never_takes_a_local_client_id(pair):
    assert run(pair, "sync").exit_code == 0
    built = run_cli(
        [
            "build",
            *pair["args"],
            "--vars",
            "{local_conflict_policy: local_wins}",
        ],
        pair["work"],
    )
    assert built.exit_code == 0, built.output
    with psycopg.connect(pair["replica"]) as conn:
        shared = conn.execute(
            """select p.name = l.name, p.client_id, m.client_id, l.client_id
               from public.projects as p
               join local_archive.projects as l using (id)
               join master_raw.projects as m using (id)"""
        ).fetchall()
    assert shared, "the demo's local projects share ids with master's"
    assert any(local != master for _, _, master, local in shared)
    for local_name, kept, master, _ in shared:
        assert local_name  # local_wins took the local name
        assert kept == master  # but never the local client_id


def test_a_failing_archive_hook_builds_nothing(pair):
    """If the on-run-start archive fails, no model may replace the application's
    legacy tables: they were not archived."""
    assert run(pair, "extract-load").exit_code == 0
    before = rows_text(pair["replica"], "public", "leads")
    with psycopg.connect(pair["replica"], autocommit=True) as conn:
        conn.execute("create schema local_archive")
        conn.execute("create table local_archive.archive_log (table_name integer)")
    result = run_cli(["build", *pair["args"]], pair["work"])
    assert result.exit_code == EXIT_DBT_FAILED, result.output
    assert "on-run-start" in error_line(result), result.output
    assert rows_text(pair["replica"], "public", "leads") == before
    with psycopg.connect(pair["replica"]) as conn:
        columns = conn.execute(
            "select count(*) from information_schema.columns"
            " where table_schema = 'public' and table_name = 'leads'"
        ).fetchone()[0]
    assert columns == 11  # still the application's table, as it was
