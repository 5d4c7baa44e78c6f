"""The application's reads without a database: written once (the README shows
exactly what the viewer runs), their parameters documented, their refs resolved as
dbt resolves them, and the viewer's formatting and escaping."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from markupsafe import Markup

from crm_replica.cli import cli
from crm_replica.serve import READS, Reads, model_schemas
from crm_replica.serve.pages import Problem, _cursor, _uuid, cursor_text
from crm_replica.serve.server import _duration, _highlight, templates
from crm_replica.settings import schemas

PROJECT = Path(__file__).resolve().parents[2]
SCHEMAS = schemas.load(PROJECT)


def test_the_readme_shows_exactly_the_reads_the_viewer_runs():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- reads: begin", 1)[1].split("<!-- reads: end", 1)[0]
    shown = dict(
        re.findall(r"<code>(read_\w+)</code>.*?```sql\n(.*?)```", section, re.S)
    )
    assert list(shown) == list(READS)
    assert shown == Reads.load(PROJECT, SCHEMAS).statements


def test_every_parameter_is_documented_and_used():
    for name, text in Reads.load(PROJECT, SCHEMAS).statements.items():
        header, _, body = text.partition("*/")
        used = {int(n) for n in re.findall(r"\$(\d+)", body)}
        listed = re.findall(r"^\s+(\$\d+.*)$", header, re.M)  # the parameter lines
        documented = {int(n) for line in listed for n in re.findall(r"\$(\d+)", line)}
        assert used == documented, name
        assert used == set(range(1, len(used) + 1)), name
        assert "{{" not in text and "{%" not in text, name


def test_refs_resolve_as_generate_schema_name_does():
    found = model_schemas(PROJECT, SCHEMAS)
    assert found["lead_thread"] == "replica_read"
    assert found["leads"] == "public"
    assert found["int_whatsapp_messages_linked_to_leads"] == "replica_intermediate"
    assert found["int_whatsapp_messages__normalised"] == "replica_cache"
    moved = Reads.load(PROJECT, replace(SCHEMAS, read="elsewhere", models="app"))
    assert '"elsewhere"."thread_conversation_turns"' in moved.statements["read_thread"]
    assert '"app"."leads"' in moved.statements["read_search"]


def test_serve_sql_prints_the_reads():
    result = CliRunner().invoke(cli, ["serve", "--project-dir", str(PROJECT), "--sql"])
    assert result.exit_code == 0, result.output
    for name, text in Reads.load(PROJECT, SCHEMAS).statements.items():
        assert f"-- {name}\n{text}" in result.output


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (0, "0 s"),
        (59.4, "59 s"),
        (61, "1 min 1 s"),
        (3600, "1 h"),
        (90061, "1 d 1 h"),
    ],
)
def test_durations(seconds, text):
    assert _duration(seconds) == text


def test_headlines_escape_the_text_and_mark_the_matches():
    html = _highlight("<b>\ue000שלום\ue001</b> & \ue000hi\ue001")
    assert isinstance(html, Markup)
    assert html == "&lt;b&gt;<mark>שלום</mark>&lt;/b&gt; &amp; <mark>hi</mark>"


def test_bad_ids_and_cursors_are_problems_not_errors():
    with pytest.raises(Problem) as bad:
        _uuid("12345", "lead")
    assert bad.value.status == 400
    with pytest.raises(Problem, match="go together"):
        _cursor({"through_at": "2026-01-01T00:00:00+00:00"}, "through")
    with pytest.raises(Problem, match="offset"):
        _cursor({"through_at": "2026-01-01", "through_id": "0" * 32}, "through")
    at, key = _cursor({"through_at": "-infinity", "through_id": "0" * 32}, "through")
    assert at == "-infinity" and str(key) == "00000000-0000-0000-0000-000000000000"
    assert cursor_text(at) == "-infinity"


def test_templates_autoescape():
    env = templates()
    html = env.get_template("error.html").render(
        status=400, reason="Bad Request", message="<script>x</script>"
    )
    assert "<script>x" not in html and "&lt;script&gt;x" in html
