"""Run dbt against the replica with the project's profile.

dbt runs in a subprocess (its own logging and globals stay out of ours) with JSON
logs, which give both the lines a person reads and the progress of each node.
The profile is ``profiles.yml.example``, every value read with ``env_var()``; the
runner copies it into the work directory and fills the variables from the replica
URL, so ``dbt build`` by hand works with the same variables exported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from logging.handlers import RotatingFileHandler
from pathlib import Path

import yaml

from crm_replica.db import one_line, parse_url, redact
from crm_replica.errors import DbtFailed, ReplicaError

PROFILE_TEMPLATE = "profiles.yml.example"


@dataclass
class NodeResult:
    unique_id: str
    status: str
    message: str = ""
    seconds: float = 0.0
    #: What a failing or warning test logged about its rows (the dashboards'
    #: comparison with master's views: the rows only on one side); also at the
    #: end of ``message``.
    detail: str = ""

    @property
    def name(self) -> str:
        """The node's name: ``dashboard_bant_distribution_matches_master_view``."""
        return self.unique_id.split(".", 2)[-1]


@dataclass
class DbtOutcome:
    returncode: int
    results: list[NodeResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: An on-run-start/end hook that failed, and the database's error for it.
    failed_hook: str | None = None
    #: What the models said of this master (``note: …`` lines the macros log:
    #: a column the models read that master lacks, an index left out), once each.
    notes: list[str] = field(default_factory=list)

    def count(self, *statuses: str) -> int:
        return sum(1 for r in self.results if r.status in statuses)

    @property
    def failures(self) -> list[NodeResult]:
        return [
            r for r in self.results if r.status in ("error", "fail", "runtime error")
        ]

    def summary(self) -> str:
        return (
            f"PASS={self.count('pass', 'success')} WARN={self.count('warn')} "
            f"ERROR={self.count('error', 'fail', 'runtime error')} "
            f"SKIP={self.count('skipped')} NO-OP={self.count('no-op')} "
            f"TOTAL={len(self.results)}"
        )


def profile_env(replica_url: str, schema: str = "public") -> dict[str, str]:
    """The environment variables ``profiles.yml.example`` reads."""
    p = parse_url(replica_url, "replica")
    env = {
        "REPLICA_HOST": p.get("host", "localhost"),
        "REPLICA_PORT": p.get("port", "5432"),
        "REPLICA_USER": p.get("user", os.environ.get("USER", "postgres")),
        "REPLICA_DBNAME": p.get("dbname", p.get("user", "postgres")),
        "REPLICA_SCHEMA": schema,
        "REPLICA_SSLMODE": p.get("sslmode", "prefer"),
        # dbt scrubs DBT_ENV_SECRET_* values from its logs.
        "DBT_ENV_SECRET_REPLICA_PASSWORD": p.get("password", ""),
    }
    return env


def prepare_profiles(project_dir: Path, workdir: Path) -> Path:
    """Copy the profile template into ``workdir``; return the profiles directory."""
    template = project_dir / PROFILE_TEMPLATE
    if not template.exists():
        raise ReplicaError(f"{template} not found: is {project_dir} the project?")
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / "profiles.yml"
    if not target.exists() or target.read_bytes() != template.read_bytes():
        shutil.copyfile(template, target)
    return workdir


#: dbt.log is rolled over before a run that finds it this big; LOG_BACKUPS are kept.
LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5


def rotate_log(log: Path) -> None:
    """Roll ``log`` over to ``log.1`` (``log.1`` to ``log.2``, …) when it is big:
    before a run, not during one (as dbt would), so that the run's whole log is
    in the file the error line names. The standard library's rollover, without
    opening the file."""
    if not log.exists() or log.stat().st_size < LOG_MAX_BYTES:
        return
    rollover = RotatingFileHandler(log, backupCount=LOG_BACKUPS, delay=True)
    rollover.doRollover()
    rollover.close()


def dbt_environment(
    project_dir: Path, workdir: Path, replica_url: str, schema: str = "public"
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(profile_env(replica_url, schema))
    env["DBT_PROFILES_DIR"] = str(prepare_profiles(project_dir, workdir))
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["DBT_LOG_PATH"] = str(workdir / "logs")
    # Artifacts per work directory: two replicas never share a target/.
    env["DBT_TARGET_PATH"] = str(workdir / "target")
    # The run a sync builds (macro build_run_filter; run_dbt sets it for a sync):
    # empty, the latest succeeded run, whatever the user's environment says.
    env["CRM_REPLICA_RUN_ID"] = ""
    return env


Listener = Callable[[dict], None]


def with_vars(args: Sequence[str], runner_vars: dict) -> list[str]:
    """``args`` with one ``--vars``: the runner's, under any the user gave."""
    args = list(args)
    merged = dict(runner_vars)
    for i, arg in enumerate(args):
        if arg == "--vars" and i + 1 < len(args) or arg.startswith("--vars="):
            text = args[i + 1] if arg == "--vars" else arg.split("=", 1)[1]
            try:
                given = yaml.safe_load(text) or {}
            except yaml.YAMLError:
                raise ReplicaError(f"--vars is not YAML: {text!r}") from None
            if not isinstance(given, dict):
                raise ReplicaError(f"--vars must be a mapping: {text!r}")
            merged.update(given)
            del args[i : i + (2 if arg == "--vars" else 1)]
            break
    if merged:
        args += ["--vars", json.dumps(merged)]
    return args


def run_dbt(
    project_dir: Path,
    workdir: Path,
    replica_url: str,
    args: Sequence[str],
    *,
    on_event: Listener | None = None,
    echo: Callable[[str], None] | None = None,
    schema: str = "public",
    runner_vars: dict | None = None,
    run_id: int | None = None,
) -> DbtOutcome:
    """Run ``dbt ARGS`` in the project (with ``runner_vars`` under the user's
    ``--vars``); every log line goes to ``echo`` (or nowhere) and every event to
    ``on_event``."""
    args = with_vars(args, runner_vars or {})
    env = dbt_environment(project_dir, workdir, replica_url, schema)
    if run_id is not None:
        env["CRM_REPLICA_RUN_ID"] = str(run_id)
    results_file = workdir / "target" / "run_results.json"
    results_file.unlink(missing_ok=True)
    rotate_log(workdir / "logs" / "dbt.log")
    command = [
        sys.executable,
        "-m",
        "dbt.cli.main",
        *args,
        "--log-format",
        "json",
        # The file is for people: dbt's own debug lines, each run whole in dbt.log.
        "--log-format-file",
        "debug",
        "--no-use-colors-file",
        "--log-file-max-bytes",
        "0",
        "--project-dir",
        str(project_dir),
    ]
    try:
        proc = subprocess.Popen(
            command,
            cwd=project_dir,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            encoding="utf-8",
        )
    except OSError as exc:
        raise ReplicaError(f"cannot start dbt: {exc}") from None
    assert proc.stdout is not None
    errors: list[str] = []
    failed_hook = None
    database_error = ""
    logged: dict[str, list[str]] = {}
    notes: list[str] = []
    for line in proc.stdout:
        event = _parse(line)
        if event is None:
            if echo and line.strip():
                echo(redact(line.rstrip()))
            continue
        if on_event:
            on_event(event)
        name, data = event["info"].get("name"), event.get("data", {})
        if name == "AdapterEventDebug" and "error" in str(data.get("base_msg", "")):
            database_error = one_line(str(data["base_msg"]))
        if name == "LogHookEndLine" and data.get("status") == "error":
            failed_hook = f"{data.get('statement')}: {database_error}".rstrip(": ")
        node = (data.get("node_info") or {}).get("unique_id", "")
        if name == "JinjaLogInfo":
            said = redact(one_line(data.get("msg", "")))
            if said.startswith(NOTE) and said[len(NOTE) :] not in notes:
                notes.append(said[len(NOTE) :])
            elif node.startswith("test."):
                logged.setdefault(node, []).append(said)
        if event["info"].get("level") == "error":
            errors.append(redact(event["info"].get("msg", "")))
        if echo and event["info"].get("level") in ("info", "warn", "error"):
            echo(redact(event["info"].get("msg", "")))
    returncode = proc.wait()
    results = _results(results_file)
    for result in results:
        if result.status in _NOTED and result.unique_id in logged:
            result.detail = "; ".join(logged[result.unique_id])
            result.message = ": ".join(filter(None, [result.message, result.detail]))
    return DbtOutcome(returncode, results, errors, failed_hook, notes)


#: How a macro's line for the run's notes begins (macro `note`).
NOTE = "note: "

#: Results whose test's logged lines become part of their message.
_NOTED = ("fail", "warn", "error")


def build(
    project_dir: Path, workdir: Path, replica_url: str, extra: Sequence[str] = (), **kw
) -> DbtOutcome:
    """``dbt build``; raises DbtFailed when a node errors or a test fails."""
    outcome = run_dbt(project_dir, workdir, replica_url, ["build", *extra], **kw)
    if outcome.returncode != 0:
        failed = ", ".join(_failure(r) for r in outcome.failures[:5])
        more = len(outcome.failures) - 5
        if outcome.failed_hook:
            detail = (
                f": hook {outcome.failed_hook}; nothing was built"
                if "on-run-start" in outcome.failed_hook
                else f": hook {outcome.failed_hook}"
            )
        elif failed:
            detail = f": {failed}" + (f" and {more} more" if more > 0 else "")
        else:
            detail = f": {_one_line(outcome.errors)}"
        error = DbtFailed(
            f"dbt build failed{detail} (log: {workdir / 'logs' / 'dbt.log'})"
        )
        error.outcome = outcome
        raise error
    return outcome


def _failure(result: NodeResult) -> str:
    """A failing node in the error line: a test with what it logged about its
    rows, an errored node with the database's (or dbt's) error."""
    if result.detail:
        return f"{result.name} ({result.detail})"
    error = error_line(result.message) if result.status != "fail" else ""
    return f"{result.name}: {error}" if error else result.name


#: Lines of an errored node's message that are not the error itself: dbt's
#: heading ("Database Error in model leads (models/…)"), where the SQL is, and
#: PostgreSQL's pointer into the statement.
_NOT_THE_ERROR = re.compile(
    r"^(?:\w+ Error in \w+ \S+ \(.*\)|\w+ Error|compiled code at .*"
    r"|LINE \d+:.*|\^|HINT: .*|DETAIL: .*)$"
)


def error_line(message: str) -> str:
    """The error of an errored node's run_results message, on one line and
    without passwords: ``column "last_message_from" does not exist``."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    errors = [ln for ln in lines if not _NOT_THE_ERROR.match(ln)]
    return one_line(errors[0] if errors else message)


def _one_line(errors: list[str]) -> str:
    """The most telling line of dbt's error messages."""
    lines = [ln.strip() for msg in errors for ln in msg.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("Encountered an error")]
    return " ".join(lines[:2]) if lines else "dbt exited with an error"


def _parse(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "info" in event else None


def _results(path: Path) -> list[NodeResult]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return []
    return [
        NodeResult(
            r["unique_id"],
            r["status"],
            redact(r.get("message") or ""),
            float(r.get("execution_time") or 0.0),
        )
        for r in data.get("results", [])
    ]


def lint(
    project_dir: Path,
    workdir: Path,
    replica_url: str,
    paths: Sequence[str] = ("models",),
    fix: bool = False,
) -> int:
    """Run sqlfluff (dbt templater, which compiles against the replica) on ``paths``;
    its output goes straight to the terminal. Returns sqlfluff's exit code."""
    env = dbt_environment(project_dir, workdir, replica_url)
    command = [sys.executable, "-m", "sqlfluff", "fix" if fix else "lint", *paths]
    try:
        return subprocess.run(command, cwd=project_dir, env=env).returncode
    except OSError as exc:
        raise ReplicaError(f"cannot start sqlfluff: {exc}") from None
