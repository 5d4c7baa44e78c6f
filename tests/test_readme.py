"""The README's commands work as pasted: its "dbt by hand" block, against a server
with a password and a port of its own (the Supabase-like PostgreSQL 15)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import supabase
from conftest import PROJECT_DIR, run_cli

README = PROJECT_DIR / "README.md"


def readme_block(heading: str) -> str:
    """The first ```sh block after ``heading`` in the README."""
    text = README.read_text(encoding="utf-8")
    after = text.split(heading, 1)[1]
    return re.search(r"```sh\n(.*?)```", after, re.S).group(1)


def test_dbt_by_hand_works_as_pasted(supabase_master, master_url, tmp_path):
    server = supabase_master
    with server.admin() as conn:
        conn.execute("create database byhand")
    replica = server.url("postgres", "byhand")
    synced = run_cli(
        ["sync", "--master-url", master_url, "--replica-url", replica], tmp_path
    )
    assert synced.exit_code == 0, synced.output
    project = tmp_path / "project"
    shutil.copytree(
        PROJECT_DIR,
        project,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".replica", "target", "logs", "__pycache__"
        ),
    )
    block = readme_block("### dbt by hand")
    assert "REPLICA_PORT" in block and "DBT_ENV_SECRET_REPLICA_PASSWORD" in block
    # The reader's values in place of the README's placeholders.
    block = (
        block.replace("REPLICA_HOST=localhost", "REPLICA_HOST=127.0.0.1")
        .replace("REPLICA_PORT=5432", f"REPLICA_PORT={server.port}")
        .replace("REPLICA_USER=me", "REPLICA_USER=postgres")
        .replace("REPLICA_DBNAME=crm", "REPLICA_DBNAME=byhand")
        .replace("'…'", f"'{supabase.PASSWORDS['postgres']}'")
        .replace(".venv/bin/", f"{Path(sys.executable).parent}/")
    )
    # `dbt docs serve` would serve until stopped: everything before it runs.
    block = block.split(" && ")[0] if "docs serve" in block else block
    lines = [ln for ln in block.splitlines() if "docs serve" not in ln]
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
        cwd=project,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Completed successfully" in done.stdout
    assert supabase.PASSWORDS["postgres"] not in done.stdout + done.stderr
    with psycopg.connect(replica) as conn:
        assert conn.execute("select count(*) from public.leads").fetchone()[0] == 11
