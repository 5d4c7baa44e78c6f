"""`replica sync` as a scheduler runs it, generations, rollback and backup files."""

from __future__ import annotations

import shutil

import psycopg
import pytest
from conftest import PROJECT_DIR, new_database, rows_text, run_cli

from crm_replica.demo import setup as demo
from crm_replica.errors import EXIT_DBT_FAILED


@pytest.fixture
def pair(clusters, tmp_path) -> dict:
    """A writable synthetic master and an empty replica of their own."""
    master = new_database(clusters["master"], "opmaster")
    demo.ensure_master(master, seed=42, scale=1)
    replica = new_database(clusters["replica"], "opreplica")
    return {
        "args": ["--master-url", master, "--replica-url", replica],
        "master": master,
        "replica": replica,
        "work": tmp_path,
    }


def sync(pair: dict, *extra: str):
    return run_cli(["sync", *pair["args"], *extra], pair["work"])


def test_sync_records_its_steps_and_the_build(pair):
    result = sync(pair)
    assert result.exit_code == 0, result.output
    second = sync(pair)
    assert second.exit_code == 0, second.output
    with psycopg.connect(pair["replica"]) as conn:
        steps = conn.execute(
            "select run_id, step, status, detail from replica_meta.sync_steps"
            " order by run_id, step"
        ).fetchall()
        results = conn.execute(
            "select status, count(*) from replica_meta.build_results where run_id ="
            " (select max(run_id) from replica_meta.runs) group by 1"
        ).fetchall()
    by_run: dict[int, dict] = {}
    for run, step, status, detail in steps:
        by_run.setdefault(run, {})[step] = (status, detail)
    first, latest = by_run[min(by_run)], by_run[max(by_run)]
    assert sorted(latest) == [
        "dbt build",
        "extract-load",
        "prepare",
        "prune",
        "publish",
        "report",
        "verify",
    ]
    assert all(status == "succeeded" for status, _ in latest.values())
    assert first["prepare"][1] == "an empty build area"  # nothing to build on yet
    reports = sorted(p.name for p in (pair["work"] / "reports").iterdir())
    assert "report-run-2.html" in reports and "report-run-2.md" in reports
    assert dict(results)["pass"] > 50 and "fail" not in dict(results)


def master_dashboard_off_by_one(master: str) -> None:
    """Master's own dashboard view now disagrees with what its data says: the
    replica's dashboard test (equal to master's view) must fail."""
    with psycopg.connect(master, autocommit=True) as conn:
        conn.execute(
            "create or replace view dashboard_bant_distribution as"
            " select bant_status, count(*) + 1 as lead_count, null::numeric"
            " as avg_score, round(100.0 * count(*) / sum(count(*)) over (), 2)"
            " as percentage, now() as updated_at from leads group by bant_status"
        )


def test_a_failed_build_publishes_nothing(pair):
    assert sync(pair).exit_code == 0
    with psycopg.connect(pair["master"], autocommit=True) as conn:
        conn.execute("update leads set name = name || ' (new)'")
    assert sync(pair).exit_code == 0  # run 2, with the new names
    tables = (
        ("master_raw", "leads"),
        ("public", "leads"),
        ("master_raw", "whatsapp_messages"),
        ("public", "dashboard_bant_distribution"),
    )
    before = {t: rows_text(pair["replica"], *t) for t in tables}
    with psycopg.connect(pair["master"], autocommit=True) as conn:
        conn.execute("update leads set name = name || ' (newer)'")
    master_dashboard_off_by_one(pair["master"])
    failed = sync(pair)
    assert failed.exit_code == EXIT_DBT_FAILED, failed.output
    error = [ln for ln in failed.output.splitlines() if ln.startswith("Error:")]
    assert len(error) == 1 and "nothing was published" in error[0], failed.output
    assert {t: rows_text(pair["replica"], *t) for t in tables} == before
    with psycopg.connect(pair["replica"]) as conn:
        assert conn.execute(
            "select status from replica_meta.runs order by run_id desc limit 1"
        ).fetchone() == ("failed",)
        leftovers = conn.execute(
            "select count(*) from pg_namespace where nspname like '\\_crm\\_build%'"
        ).fetchone()[0]
    assert leftovers == 0
    verify = run_cli(
        ["verify", "--replica-url", pair["replica"], "--against", "snapshot"],
        pair["work"],
    )
    assert verify.exit_code == 0, verify.output


def test_rollback_to_an_older_generation_restores_its_checksums(pair):
    assert sync(pair).exit_code == 0  # run 1
    first_leads = rows_text(pair["replica"], "public", "leads")
    with psycopg.connect(pair["master"], autocommit=True) as conn:
        conn.execute(
            "delete from lead_status_history where id in"
            " (select id from lead_status_history order by id limit 10)"
        )
        conn.execute("update leads set status = 'warm'")
    assert sync(pair).exit_code == 0  # run 2 keeps run 1 as a generation
    assert sync(pair).exit_code == 0  # run 3 keeps run 2
    listed = run_cli(
        ["rollback", "--replica-url", pair["replica"], "--list"], pair["work"]
    )
    assert [ln.split()[0] for ln in listed.output.splitlines()[2:]] == ["2", "1"]
    back = run_cli(
        ["rollback", "--replica-url", pair["replica"], "--to", "1"], pair["work"]
    )
    assert back.exit_code == 0, back.output
    assert rows_text(pair["replica"], "public", "leads") == first_leads
    with psycopg.connect(pair["replica"]) as conn:
        history = conn.execute(
            "select count(*) from master_raw.lead_status_history"
        ).fetchone()[0]
    assert history == 138
    verify = run_cli(
        ["verify", "--replica-url", pair["replica"], "--against", "snapshot"],
        pair["work"],
    )
    assert verify.exit_code == 0, verify.output
    missing = run_cli(
        ["rollback", "--replica-url", pair["replica"], "--to", "99"], pair["work"]
    )
    assert missing.exit_code == 1 and "no generation of run 99" in missing.output


def test_backup_file_is_a_pg_dump_archive(pair, tmp_path):
    assert sync(pair).exit_code == 0
    out = tmp_path / "dumps" / "replica.dump"
    result = run_cli(
        ["backup", "--replica-url", pair["replica"], "--out", str(out)], pair["work"]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:5] == b"PGDMP"
    assert out.stat().st_size > 50_000


def test_rollback_without_generations_is_one_line(pair):
    result = run_cli(["rollback", "--replica-url", pair["replica"]], pair["work"])
    assert result.exit_code == 1
    assert "no generation to roll back to" in result.output


def test_a_landing_schema_named_in_replication_yml(master_url, clusters, tmp_path):
    """replication.yml's landing_schema reaches the loader, dbt (its sources), the
    publish, verify and status: every one passes, and nothing lands in master_raw."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dbt_project.yml", "profiles.yml.example", ".dbtignore"):
        shutil.copy(PROJECT_DIR / name, project / name)
    for folder in ("models", "macros", "seeds", "analyses", "tests/generic"):
        shutil.copytree(PROJECT_DIR / folder, project / folder)
    for test in (PROJECT_DIR / "tests").glob("*.sql"):
        shutil.copy(test, project / "tests" / test.name)
    config = (PROJECT_DIR / "replication.yml").read_text()
    assert "landing_schema: master_raw\n" in config
    (project / "replication.yml").write_text(
        config.replace("landing_schema: master_raw\n", "landing_schema: crm_landing\n")
    )
    replica = new_database(clusters["replica"], "landing")
    urls = ["--master-url", master_url, "--replica-url", replica]
    work = tmp_path / "work"
    for command in (["sync"], ["verify"], ["status"], ["sync"], ["verify"]):
        result = run_cli([*command, *urls, "--project-dir", str(project)], work)
        assert result.exit_code == 0, (command, result.output)
    with psycopg.connect(replica) as conn:
        landed = conn.execute(
            "select c.relname from pg_class c join pg_namespace n"
            " on n.oid = c.relnamespace where n.nspname = 'crm_landing'"
            " and c.relkind = 'r' order by 1"
        ).fetchall()
        assert conn.execute(
            "select to_regnamespace('master_raw'), count(*) from public.leads"
        ).fetchone() == (None, 11)
        staging = conn.execute(
            "select pg_get_viewdef('replica_staging.stg_master__leads')"
        ).fetchone()[0]
        recorded = conn.execute(
            "select distinct landing_schema from replica_meta.runs"
        ).fetchall()
    assert {r[0] for r in landed} >= {
        "leads",
        "whatsapp_messages",
        "dashboard_lead_funnel",
    }
    assert "crm_landing.leads" in staging
    assert recorded == [("crm_landing",)]
