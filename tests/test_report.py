"""`replica report`: the run log read back as Markdown, JSON and an HTML page that
a real headless Chromium renders."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
from browser import FLAGS, near, need_chromium, png_pixels
from conftest import new_database, run_cli

from crm_replica.errors import ReplicaError
from crm_replica.load import extract_load
from crm_replica.load import runlog as meta

WINDOW = (1200, 2000)
#: Colours the page must show: the "succeeded" green, the bars' blue.
GREEN, BLUE = (0x2F, 0x9E, 0x62), (0x3B, 0x6F, 0xD8)
SECRET = "hunter2-secret"


def report(replica: str, workdir: Path, *args: str):
    return run_cli(["report", "--replica-url", replica, *args], workdir)


def report_json(replica: str, workdir: Path, *args: str) -> dict:
    result = report(replica, workdir, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def recorded_loads(replica: str, run_id: int) -> dict[str, tuple]:
    with psycopg.connect(replica) as conn:
        rows = conn.execute(
            "select table_name, master_rows, replica_rows, master_checksum::text,"
            " replica_checksum::text, bytes from replica_meta.table_loads"
            " where run_id = %s",
            (run_id,),
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def scalar(url: str, query: str, *params: object):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


# --- the synced replica ---------------------------------------------------------


def test_json_numbers_are_the_run_log(synced, tmp_path):
    replica = synced["replica"]
    data = report_json(replica, tmp_path)
    run = data["run"]
    assert run["run_id"] == scalar(replica, "select max(run_id) from replica_meta.runs")
    assert run["status"] == scalar(
        replica, "select status from replica_meta.runs where run_id = %s", run["run_id"]
    )
    if run["status"] != "succeeded":  # another test's run came last: report the sync
        succeeded = "select max(run_id) from replica_meta.table_loads"
        data = report_json(replica, tmp_path, "--run", str(scalar(replica, succeeded)))
        run = data["run"]
    assert ":" not in run["master"].split("@")[0]  # user@host, no password
    loads = recorded_loads(replica, run["run_id"])
    assert {t["table"]: t for t in data["tables"]}.keys() == loads.keys()
    for t in data["tables"]:
        assert (
            t["master_rows"],
            t["replica_rows"],
            t["master_checksum"],
            t["replica_checksum"],
            t["bytes"],
        ) == loads[t["table"]]
        expected = "not taken" if t["master_checksum"] is None else "match"
        assert t["match"] == expected
    messages = next(t for t in data["tables"] if t["table"] == "whatsapp_messages")
    assert messages["master_rows"] == 1296
    conflicts = scalar(replica, "select count(*) from local_archive.merge_conflicts")
    assert data["conflicts"]["relation"] == "local_archive.merge_conflicts"
    assert len(data["conflicts"]["rows"]) == conflicts > 0
    nodes = scalar(
        replica,
        "select count(*) from replica_meta.build_results where run_id = %s",
        run["run_id"],
    )
    assert sum(data["build"]["counts"].values()) == len(data["build"]["nodes"]) == nodes
    assert [h["run_id"] for h in data["history"]][-1] == run["run_id"]


def test_markdown_lists_every_table_with_its_counts(synced, tmp_path):
    replica = synced["replica"]
    run_id = scalar(replica, "select max(run_id) from replica_meta.table_loads")
    result = report(replica, tmp_path, "--run", str(run_id))
    assert result.exit_code == 0, result.output
    md = result.stdout
    assert md.startswith(f"# Sync report: run {run_id}\n")
    for table, (m_rows, r_rows, m_sum, r_sum, _) in recorded_loads(
        replica, run_id
    ).items():
        line = next(ln for ln in md.splitlines() if ln.startswith(f"| {table} |"))
        assert f"| {m_rows:,} | {r_rows:,} | {m_sum or '-'} | {r_sum} |" in line
        assert ("not taken" if m_sum is None else "| match |") in line
    for section in ("## Tables", "## Conflicts resolved", "## dbt tests"):
        assert section in md
    assert "| leads | 18c26797-" in md or "| leads |" in md
    assert "master value kept" in md


def test_out_writes_one_file_or_all_three(synced, tmp_path):
    replica = synced["replica"]
    run_id = scalar(replica, "select max(run_id) from replica_meta.runs")
    result = report(replica, tmp_path, "--out", str(tmp_path / "reports"))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert names == [f"report-run-{run_id}.{ext}" for ext in ("html", "json", "md")]
    one = tmp_path / "one.html"
    result = report(replica, tmp_path, "--out", str(one))
    assert result.exit_code == 0, result.output
    assert one.read_text().startswith("<!doctype html>")


# --- a run log built on purpose: a failed run, changes, build and steps ----------


@pytest.fixture(scope="module")
def history(master_url, clusters) -> dict:
    """Run 1 loads leads and projects; run 2 fails (a table master lacks); run 3
    loads clients and leads, with a build, sync steps and flagged deletes written
    into its log (run 1's leads count lowered so that the change shows)."""
    url = new_database(clusters["replica"], "report")
    extract_load(master_url, url, ["leads", "projects"])
    with pytest.raises(ReplicaError, match="nope"):
        extract_load(master_url, url, ["leads", "nope"])
    third = extract_load(master_url, url, ["clients", "leads"])
    with psycopg.connect(url) as conn:
        conn.execute(
            "update replica_meta.table_loads set master_rows = 9"
            " where run_id = 1 and table_name = 'leads'"
        )
        conn.cursor().executemany(
            "insert into replica_meta.build_results values (%s, %s, %s, %s, %s)",
            [
                (3, "model.crm_replica.leads", "success", "SELECT 11", 0.4),
                (3, "test.crm_replica.unique_leads_id", "pass", None, 0.1),
                (
                    3,
                    "test.crm_replica.row_count_matches_master_leads",
                    "fail",
                    f"Got 1 result, postgresql://bob:{SECRET}@db/x",
                    0.2,
                ),
            ],
        )
        conn.cursor().executemany(
            "insert into replica_meta.sync_steps values (%s, %s, %s, %s, %s)",
            [
                (3, "extract-load", "succeeded", 1.5, None),
                (3, "build", "failed", 7.25, "1 test failed"),
            ],
        )
        conn.execute(
            "insert into replica_meta.deleted_rows (table_name, key, run_id)"
            " values ('leads', '[\"a\"]', 3), ('leads', '[\"b\"]', 3)"
        )
    return {"url": url, "run": third.run_id}


def test_failed_run_shows_its_error(history, tmp_path):
    data = report_json(history["url"], tmp_path, "--run", "2")
    assert data["run"]["status"] == "failed"
    assert "public.nope not found on the master" in data["run"]["error"]
    assert data["tables"] == []
    assert data["headline"].startswith("Run 2 failed: ")
    md = report(history["url"], tmp_path, "--run", "2").stdout
    assert "| status | failed |" in md and "| error | " in md
    assert "No table was loaded by this run." in md
    assert "No build recorded for this run." in md


def test_changes_build_steps_and_deletes_of_the_last_run(history, tmp_path):
    data = report_json(history["url"], tmp_path)
    assert data["run"]["run_id"] == history["run"] == 3
    changes = data["changes"]
    assert changes["previous_run_id"] == 1  # run 2 failed: not a comparison point
    assert changes["tables"] == [
        {"table": "leads", "previous_rows": 9, "rows": 11, "delta": 2}
    ]
    assert changes["tables_added"] == ["clients"]
    assert changes["tables_removed"] == ["projects"]
    assert data["build"]["counts"] == {"fail": 1, "pass": 1, "success": 1}
    [failure] = data["build"]["failures"]
    assert failure["unique_id"] == "test.crm_replica.row_count_matches_master_leads"
    assert SECRET not in json.dumps(data)
    assert [(s["step"], s["status"]) for s in data["sync_steps"]] == [
        ("extract-load", "succeeded"),
        ("build", "failed"),
    ]
    assert data["deleted_rows"] == {"leads": 2}
    assert [(h["run_id"], h["status"]) for h in data["history"]] == [
        (1, "succeeded"),
        (2, "failed"),
        (3, "succeeded"),
    ]
    assert data["conflicts"] == {"relation": None, "built": False, "rows": []}

    md = report(history["url"], tmp_path).stdout
    assert "| leads | 9 | 11 | +2 |" in md
    assert "- tables added: clients" in md
    assert "- tables not loaded this time: projects" in md
    assert "3 nodes: fail 1, pass 1, success 1." in md
    assert "| test.crm_replica.row_count_matches_master_leads | fail |" in md
    assert "| build | failed | 7.25 | 1 test failed |" in md
    assert "| leads | 2 |" in md
    assert "not built in this replica" in md
    assert SECRET not in md


def test_no_run_log_or_no_such_run_is_one_line(history, clusters, tmp_path):
    empty = new_database(clusters["replica"], "nolog")
    result = report(empty, tmp_path)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: no run log in this replica (replica_meta.runs is missing):"
        " run `replica sync` first"
    ]
    with psycopg.connect(empty, autocommit=True) as conn:
        meta.ensure_schema(conn)
    result = report(empty, tmp_path)
    assert result.exit_code == 1 and "the run log is empty" in result.output
    result = report(history["url"], tmp_path, "--run", "99")
    assert result.exit_code == 1
    assert "Error: no run 99 in the run log (the last is run 3)" in result.output
    assert "Traceback" not in result.output


# --- the HTML page in a real browser -------------------------------------------


def browse(html: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    size = f"--window-size={WINDOW[0]},{WINDOW[1]}"
    return subprocess.run(
        [
            need_chromium(),
            *FLAGS,
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            size,
            *args,
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_html_renders_in_headless_chromium(synced, tmp_path):
    replica = synced["replica"]
    run_id = scalar(replica, "select max(run_id) from replica_meta.table_loads")
    page = tmp_path / "report.html"
    result = report(replica, tmp_path, "--run", str(run_id), "--out", str(page))
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    dom = browse(page, tmp_path, "--dump-dom").stdout
    assert f"Sync report · run {run_id}" in dom
    assert dom.count("<svg") >= 2 and 'aria-label="Rows per table"' in dom
    for table, (_, r_rows, m_sum, _, _) in recorded_loads(replica, run_id).items():
        assert f"<b>{table}</b>" in dom
        assert f'<td class="num">{r_rows:,}</td>' in dom
        assert f"{table}: {r_rows:,} rows" in dom  # the bar's tooltip
        if m_sum is not None:
            assert m_sum in dom
    assert "1,296" in dom and "master value kept" in dom

    shot = tmp_path / "report.png"
    browse(page, tmp_path, f"--screenshot={shot}")
    width, height, colours = png_pixels(shot)
    assert (width, height) == WINDOW
    assert len(colours) > 100, "the screenshot is (nearly) blank"
    assert near(GREEN, colours), "no 'succeeded' badge or history bar rendered"
    assert near(BLUE, colours), "no rows-per-table bar rendered"


def test_html_of_a_failing_build_in_chromium(history, tmp_path):
    page = tmp_path / "history.html"
    result = report(history["url"], tmp_path, "--format", "html", "--out", str(page))
    assert result.exit_code == 0, result.output
    dom = browse(page, tmp_path, "--dump-dom").stdout
    assert "test.crm_replica.row_count_matches_master_leads" in dom
    assert '<span class="up">+2</span>' in dom
    assert "run 2 (full): failed" in dom  # the red bar of the history chart
    assert SECRET not in dom
