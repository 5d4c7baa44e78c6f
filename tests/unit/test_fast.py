"""What needs no database, in seconds: `pytest tests/unit`. Parsing replication.yml
and durations, redacting passwords, rendering tables and reports, and the CLI's
argument errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_replica.checks.status import format_age, parse_duration
from crm_replica.cli import cli
from crm_replica.db.secrets import one_line, redact, remember, url_password
from crm_replica.errors import ReplicaError
from crm_replica.format import table
from crm_replica.reports import render
from crm_replica.reports.gather import Report, Run, TableLine
from crm_replica.settings import schemas
from crm_replica.settings.replication import load as load_config
from crm_replica.sync import dbt

PROJECT = Path(__file__).resolve().parents[2]


def config_from(tmp_path: Path, text: str):
    (tmp_path / "replication.yml").write_text(text)
    return load_config(tmp_path)


def test_replication_yml_defaults_and_a_table(tmp_path):
    config = config_from(
        tmp_path,
        "landing_schema: crm_landing\ndefaults:\n  deletes: flag\n"
        "tables:\n  leads:\n    key: [id]\n    cursor: updated_at\n  clients:\n",
    )
    assert config.landing == "crm_landing"
    leads = config.spec("leads")
    assert (leads.key, leads.cursor, leads.deletes) == (
        ("id",),
        ("updated_at",),
        "flag",
    )
    assert config.spec("other_table").deletes == "flag"  # the defaults


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tables:\n  leads:\n    cursr: x\n", "line 3: unknown setting 'cursr'"),
        ("tables:\n  leads:\n    deletes: drop\n", "deletes must be one of"),
        ("tables: [leads]\n", "tables must map table names"),
        ("nope: 1\n", "unknown setting 'nope'"),
        ("tables:\n  leads: {key: [\n", "replication.yml line"),
    ],
)
def test_replication_yml_mistakes_are_one_line(tmp_path, text, fragment):
    with pytest.raises(ReplicaError) as caught:
        config_from(tmp_path, text)
    assert fragment in caught.value.message
    assert "\n" not in caught.value.message


def test_schema_names_come_from_dbt_project_yml():
    names = schemas.load(PROJECT)
    assert (names.landing, names.staging, names.archive) == (
        "master_raw",
        "replica_staging",
        "local_archive",
    )
    assert schemas.load(PROJECT, "crm_landing").landing == "crm_landing"
    assert schemas.build_schema("public") == "_crm_build_public"
    assert schemas.generation_schema(7, "public") == "replica_gen_7__public"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("3600s", timedelta(seconds=3600)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "1x", "24h garbage"])
def test_bad_durations_say_what_a_duration_is(text):
    with pytest.raises(ValueError, match="like 24h"):
        parse_duration(text)


def test_ages_read_as_a_person_reads_them():
    assert format_age(timedelta(seconds=45)) == "45s"
    assert format_age(timedelta(hours=3, minutes=5)) == "3h 05m"
    assert format_age(timedelta(days=2, hours=4)) == "2d 04h"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://admin:Sw0rdfish-9@db.example.com:5432/postgres",
        "host=db.example.com password=Sw0rdfish-9 user=admin",
        "postgresql://admin:Sw0rdfish-9@db.example.com/postgres?sslmode=require",
    ],
)
def test_passwords_are_redacted_from_any_text(url):
    text = f"could not connect: {url} refused"
    assert "Sw0rdfish-9" not in redact(text)


def test_a_remembered_password_is_redacted_in_pieces_too():
    written = url_password("postgresql://a:p@ssW0rd/Piece@h/db")
    assert written == "p@ssW0rd/Piece"
    remember(written)
    assert "ssW0rd" not in redact("host ssW0rd/Piece@h and Piece-x")
    assert one_line(ValueError("first line\nsecond")) == "first line"


def test_tables_align_numbers_right_and_text_left():
    out = table(["table", "rows"], [("leads", 11), ("whatsapp_messages", 1296)])
    lines = out.splitlines()
    assert lines[0].startswith("table") and lines[2].endswith("   11")
    assert lines[3].endswith("1,296")


def report() -> Report:
    started = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    run = Run(
        7,
        "full",
        "succeeded",
        "reader@db:5432/postgres",
        started,
        started,
        started + timedelta(seconds=12),
        [],
        None,
    )
    return Report(
        run,
        [
            TableLine("leads", 11, 11, "5", "5", 4096, 0.1),
            TableLine("clients", 2, 1, "3", "9", 512, 0.1),
        ],
    )


def test_a_report_renders_as_markdown_json_and_html():
    data = report()
    markdown = render(data, "md")
    assert "# Sync report: run 7" in markdown and "| clients | 2 | 1 |" in markdown
    parsed = json.loads(render(data, "json"))
    assert parsed["run"]["run_id"] == 7 and parsed["tables"][1]["match"] == "DIFFERS"
    html = render(data, "html")
    assert html.startswith("<!doctype html>") and "<script" not in html


def test_html_escapes_what_it_shows():
    data = report()
    data.run.error = "<script>alert('x')</script>"
    data.run.status = "failed"
    html = render(data, "html")
    assert "<script>alert" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(
    "args",
    [
        ["sync", "--mode", "sideways"],
        ["sync", "--jobs", "0"],
        ["sync", "--keep", "-1"],
        ["extract-load", "--lock-timeout", "-1"],
        ["report", "--format", "pdf"],
        ["status", "--max-age", "soon"],
        ["backup"],
    ],
)
def test_argument_errors_are_usage_errors(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Error:" in result.output and "Traceback" not in result.output


def test_dbt_log_rolls_over_before_a_run_not_during_it(tmp_path, monkeypatch):
    monkeypatch.setattr(dbt, "LOG_MAX_BYTES", 10)
    log = tmp_path / "dbt.log"
    dbt.rotate_log(log)  # no log yet: nothing to do
    assert not list(tmp_path.iterdir())
    log.write_text("short")
    dbt.rotate_log(log)
    assert log.read_text() == "short"
    for run in range(1, 8):
        log.write_text(f"run {run}: a log longer than the limit")
        dbt.rotate_log(log)
        assert not log.exists()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [f"dbt.log.{n}" for n in range(1, dbt.LOG_BACKUPS + 1)]
    assert (tmp_path / "dbt.log.1").read_text().startswith("run 7:")
    assert (tmp_path / "dbt.log.5").read_text().startswith("run 3:")


def test_the_fingerprint_follows_every_file_that_shapes_a_build(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: p\n")
    (tmp_path / "models" / "a.sql").write_text("select 1")
    first = schemas.fingerprint(tmp_path)
    assert schemas.fingerprint(tmp_path) == first
    seen = {first}
    for path, text in (
        ("models/a.sql", "select 2"),
        (".dbtignore", "tests/adversarial.sql\n"),
        ("selectors.yml", "selectors: []\n"),
        ("packages.yml", "packages: []\n"),
    ):
        (tmp_path / path).write_text(text)
        seen.add(schemas.fingerprint(tmp_path))
    assert len(seen) == 5


def test_the_run_id_reaches_dbt_only_from_a_sync(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_REPLICA_RUN_ID", "7")
    env = dbt.dbt_environment(PROJECT, tmp_path, "postgresql://u@localhost/db")
    assert env["CRM_REPLICA_RUN_ID"] == ""
