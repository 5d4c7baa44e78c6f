"""`replica demo` end to end on fresh embedded clusters, twice, leaving nothing up."""

from __future__ import annotations

import psutil
from conftest import run_cli


def postgres_under(path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and str(path) in cmdline:
            found.append(proc)
    return found


def test_demo_twice_and_no_server_left(tmp_path):
    first = run_cli(["demo"], tmp_path)
    assert first.exit_code == 0, first.output
    assert "synthetic master created" in first.output
    # The replica is the application's database: master's rows are written into
    # its tables, beside its own.
    assert "replica made the application's database in small" in first.output
    for table, count, own in (
        ("clients", "2", "5"),
        ("projects", "2", "5"),
        ("leads", "11", "21"),
        ("conversations", "499", "3"),
        ("whatsapp_messages", "1,296", "0"),
        ("agent_interaction_logs", "191", "0"),
        ("conversation_audit_log", "14", "0"),
        ("lead_status_history", "138", "0"),
    ):
        line = next(
            ln for ln in first.stdout.splitlines() if ln.startswith(table + " ")
        )
        assert line.split()[1:] == [count, count, own, "match"], line
    assert "ERROR=0" in first.output and "WARN=0" in first.output
    assert not postgres_under(tmp_path)

    second = run_cli(["demo"], tmp_path)
    assert second.exit_code == 0, second.output
    assert "synthetic master reused" in second.output
    assert "application's database in small" not in second.output  # synced already
    assert "run 2," in second.output
    assert not postgres_under(tmp_path)


def test_demo_refuses_a_database_with_foreign_crm_tables(clusters, tmp_path):
    import psycopg
    from conftest import new_database

    target = new_database(clusters["master"], "foreign")
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("create table leads (id uuid primary key)")
    result = run_cli(["demo", "--master-url", target], tmp_path)
    assert result.exit_code == 1
    assert "refusing to write the synthetic master" in result.output
