"""The CLI: help everywhere, one clear line on every error, JSON for machines."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner
from conftest import new_database, run_cli

from crm_replica import __version__
from crm_replica.cli import cli

COMMANDS = sorted(cli.commands)


def test_commands_are_there():
    assert {"demo", "extract-load", "build", "sync", "lint"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert f"replica {command}" in result.output


def test_group_help_and_version():
    assert "Example:" in CliRunner().invoke(cli, ["-h"]).output
    assert __version__ in CliRunner().invoke(cli, ["--version"]).output


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_url_is_one_clear_line(tmp_path):
    result = run_cli(
        [
            "extract-load",
            "--master-url",
            "postgresql://a:b@:x:y/z",
            "--replica-url",
            "postgresql://localhost/x",
        ],
        tmp_path,
    )
    assert_one_line_error(result, "master URL is not valid")


def test_unreachable_server_is_one_line_without_the_password(tmp_path):
    result = run_cli(
        [
            "extract-load",
            "--master-url",
            "postgresql://reader:s3cret-pw@127.0.0.1:1/crm",
            "--replica-url",
            "postgresql://localhost:1/x",
        ],
        tmp_path,
    )
    assert_one_line_error(
        result, "cannot connect to the master", "reader@127.0.0.1:1/crm"
    )
    assert "s3cret-pw" not in result.output


def load(master: str, replica: str, tables: str, workdir, *extra: str):
    args = ["extract-load", "--master-url", master, "--replica-url", replica]
    return run_cli([*args, "--tables", tables, *extra], workdir)


def test_unknown_table_is_one_line_and_loses_nothing(master_url, clusters, tmp_path):
    replica = new_database(clusters["replica"], "unknown")
    ok = load(master_url, replica, "leads", tmp_path)
    assert ok.exit_code == 0, ok.output
    bad = load(master_url, replica, "leads,nope", tmp_path)
    assert_one_line_error(bad, "public.nope not found on the master")
    with psycopg.connect(replica) as conn:
        assert conn.execute("select count(*) from master_raw.leads").fetchone()[0] == 11


def test_extract_load_json(master_url, clusters, tmp_path):
    replica = new_database(clusters["replica"], "json")
    result = load(master_url, replica, "clients, projects", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert [(t["table"], t["master_rows"], t["matches"]) for t in data["tables"]] == [
        ("clients", 2, True),
        ("projects", 2, True),
    ]


def test_empty_table_list_is_a_usage_error(tmp_path):
    result = run_cli(["extract-load", "--tables", " , "], tmp_path)
    assert result.exit_code == 2
    assert "name at least one table" in result.output


def test_sync_prints_counts_and_passing_dbt(synced):
    out = synced["output"]
    assert "whatsapp_messages" in out and "1,296" in out
    assert "ERROR=0" in out and "DIFFERS" not in out


@pytest.mark.parametrize("command", ["report", "lint"])
def test_commands_that_never_read_master_do_not_offer_it(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert "--master-url" not in result.output


def test_each_command_says_what_it_does_with_master():
    helps = {c: CliRunner().invoke(cli, [c, "--help"]).output for c in COMMANDS}
    assert "writes its synthetic master" in helps["demo"]
    assert "only to refuse a replica" in helps["backup"]
    assert "read-only" in helps["sync"]
    assert "tables to check" in helps["verify"]
    assert "tables to copy" not in helps["verify"].lower()


def test_the_command_list_shows_whole_sentences():
    listing = CliRunner().invoke(cli, ["--help"]).output
    commands = listing.split("Commands:", 1)[1]
    assert "..." not in commands


def test_a_target_with_an_ipv6_host_is_bracketed():
    from crm_replica.db import describe

    target = describe("postgresql://reader@[::1]:55432/crm", "master")
    assert str(target) == "reader@[::1]:55432/crm"


def test_progress_counts_one_row_as_a_row():
    from crm_replica.cli.console import plural

    assert plural(1, "row") == "1 row" and plural(1296, "row") == "1,296 rows"
