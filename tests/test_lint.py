"""The SQL lints clean with sqlfluff's dbt templater, compiled on a real replica."""

from __future__ import annotations

import subprocess
import sys

from conftest import PROJECT_DIR


def test_models_lint_clean(clusters, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "crm_replica.cli",
            "lint",
            "--project-dir",
            str(PROJECT_DIR),
            "--workdir",
            str(tmp_path),
            "--replica-url",
            clusters["replica"],
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All Finished" in result.stdout
