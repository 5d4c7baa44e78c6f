"""Fault injection: interrupt `replica extract-load` and `replica sync` at random
moments and check, after each, that nothing the replica promises was broken.

Each round changes master a little (so that two loads differ), starts a command in
a process group of its own and hits it with one fault: SIGINT to the process group
(Ctrl-C), SIGTERM, SIGKILL, or ``pg_terminate_backend`` of one of the runner's
sessions on master or on the replica. An extract-load is hit after a random delay
within its usual duration; a sync in each of its phases in turn (prepare,
extract-load, dbt build, verify, publish, and inside the publishing transaction
before it commits), which the pause hook of crm_replica.sync.pipeline holds open
for a moment so that the fault lands there. Then it checks:

- master is unchanged by the run (its catalog and every table's checksum are what
  the round's own changes left);
- the replica holds one complete run: ``replica verify --against snapshot``
  passes, the landing tables and the replica models alike matching the figures of
  the last run the log calls succeeded;
- the run log is true: the interrupted run is not left ``running`` once another run
  has taken the lock, and a run recorded ``succeeded`` is the one the replica holds;
- the next sync succeeds.

Usage (CI runs the short form):

    .venv/bin/python tests/faults/inject.py --rounds 10 --workdir /tmp/faults
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

from crm_replica.db import (  # noqa: E402
    cluster,  # noqa: E402
    count_and_checksum,  # noqa: E402
)
from crm_replica.demo import setup as demo  # noqa: E402
from crm_replica.settings import CRM_TABLES  # noqa: E402

FAULTS = ("sigint", "sigterm", "sigkill", "kill-master-backend", "kill-replica-backend")
COMMANDS = ("extract-load", "sync", "sync-incremental")
#: Where a sync is hit, in turn (pipeline.pause's points).
PHASES = (
    "prepare",
    "extract-load",
    "dbt build",
    "verify",
    "publish",
    "publish-commit",
)
TABLES = CRM_TABLES


def replica(
    args: list[str], urls: dict, workdir: Path, env: dict | None = None
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "crm_replica.cli", *args]
        + ["--master-url", urls["master"], "--replica-url", urls["replica"]]
        + ["--workdir", str(workdir), "--project-dir", str(PROJECT)],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # SIGINT as at a terminal, even when this script runs in the background.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={**os.environ, **(env or {})},
    )


def command_args(command: str) -> list[str]:
    return {
        "extract-load": ["extract-load"],
        "sync": ["sync"],
        "sync-incremental": ["sync", "--mode", "incremental"],
    }[command]


def master_fingerprint(url: str) -> tuple:
    """The master's catalog size and every CRM table's count and checksum."""
    with psycopg.connect(url, options="-c TimeZone=UTC -c extra_float_digits=3") as c:
        catalog = c.execute(
            "select (select count(*) from pg_class),"
            " (select count(*) from pg_namespace)"
        ).fetchone()
        return (catalog, tuple(count_and_checksum(c, "public", t) for t in TABLES))


def change_master(url: str, rng: random.Random) -> None:
    """A little of what a CRM does between two syncs."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "update conversations set status = %s, updated_at = now()"
            " where id in (select id from conversations order by random() limit 5)",
            (rng.choice(["validated", "pending", "processed"]),),
        )
        conn.execute(
            "insert into whatsapp_messages (id, sender_number, content, payload,"
            " awaits_response, receiver_number, wa_timestamp, test_mode,"
            " test_scenario_name, created_at)"
            " select gen_random_uuid(), '+972500000000', 'fault round', '{}', false,"
            " '+972535550100', now(), true, 'load_test', now()"
            " from generate_series(1, 3)"
        )
        conn.execute(
            "delete from whatsapp_messages where id in (select id from"
            " whatsapp_messages where test_mode order by random() limit 2)"
        )


def kill_backend(url: str) -> bool:
    """Terminate one of the runner's sessions on ``url`` (its run lock's included);
    False when none is open."""
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "select pid from pg_stat_activity where application_name like"
                " 'crm-replica%' and pid <> pg_backend_pid()"
            ).fetchall()
        ]
        if not pids:
            return False
        conn.execute("select pg_terminate_backend(%s)", (random.choice(pids),))
        return True


def verify_snapshot(urls: dict, workdir: Path) -> tuple[int, str]:
    """verify --against snapshot: its exit code and its error line."""
    proc = replica(["verify", "--against", "snapshot"], urls, workdir)
    _, err = proc.communicate(timeout=600)
    errors = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    return proc.returncode, errors[-1] if errors else ""


def run_log(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select run_id, status from replica_meta.runs order by run_id"
        ).fetchall()


def one_round(
    n: int, urls: dict, workdir: Path, durations: dict, rng: random.Random
) -> dict:
    command = COMMANDS[n % len(COMMANDS)]
    fault = rng.choice(FAULTS)
    change_master(urls["master"], rng)
    before = master_fingerprint(urls["master"])
    phase, env = None, {}
    marker = workdir / "paused"
    marker.unlink(missing_ok=True)
    if command.startswith("sync"):
        syncs_before = n - n // len(COMMANDS) - 1  # the rounds before that synced
        phase = PHASES[syncs_before % len(PHASES)]
        env = {
            "CRM_REPLICA_PAUSE": phase,
            "CRM_REPLICA_PAUSE_FILE": str(marker),
            "CRM_REPLICA_PAUSE_SECONDS": "3",
        }
    delay = rng.uniform(0.05, durations[command] if phase is None else 2.5)
    proc = replica(command_args(command), urls, workdir, env)
    hit = threading.Event()

    def strike() -> None:
        if proc.poll() is not None:
            return
        if fault == "sigint":
            os.killpg(proc.pid, signal.SIGINT)
        elif fault == "sigterm":
            os.killpg(proc.pid, signal.SIGTERM)
        elif fault == "sigkill":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            side = "master" if fault == "kill-master-backend" else "replica"
            if not kill_backend(urls[side]):
                return
        hit.set()

    if phase is not None:  # wait for the sync to reach its phase
        deadline = time.monotonic() + 600
        while not marker.exists() and proc.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
    timer = threading.Timer(delay, strike)
    timer.start()
    _, err = proc.communicate(timeout=900)
    timer.cancel()
    if fault == "sigkill" and hit.is_set():
        time.sleep(0.5)  # the killed runner's sessions end with it
    record = {
        "round": n,
        "command": command,
        "fault": fault,
        "phase": phase,
        "delay": round(delay, 2),
        "hit": hit.is_set() and proc.returncode != 0,
        "exit": proc.returncode,
        "problems": [],
    }
    problems = record["problems"]
    if "Traceback" in err:
        problems.append("a traceback: " + err.strip().splitlines()[-1])
    if master_fingerprint(urls["master"]) != before:
        problems.append("master changed")
    code, report = verify_snapshot(urls, workdir)
    if code != 0:
        problems.append(f"verify --against snapshot exited {code}: {report}")
    nxt = replica(["sync"], urls, workdir)
    _, err_next = nxt.communicate(timeout=900)
    if nxt.returncode != 0:
        last = (err_next.strip().splitlines() or [""])[-1]
        problems.append(f"the next sync exited {nxt.returncode}: {last}")
    statuses = dict(run_log(urls["replica"]))
    if "running" in statuses.values():
        problems.append(f"a run still recorded running: {statuses}")
    code, report = verify_snapshot(urls, workdir)
    if code != 0:
        problems.append(f"after the next sync, verify exited {code}")
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crm-faults"))
    parser.add_argument("--json", type=Path, help="Also write the rounds as JSON.")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    with (
        cluster(work / "master", "crm_master") as master,
        cluster(work / "replica", "crm_replica") as replica_url,
    ):
        urls = {"master": master, "replica": replica_url}
        demo.ensure_master(master, seed=42, scale=args.scale)
        demo.ensure_application(replica_url, master, seed=42)
        durations = {}
        for command in COMMANDS:  # how long each takes undisturbed
            started = time.monotonic()
            proc = replica(command_args(command), urls, work)
            _, err = proc.communicate(timeout=900)
            if proc.returncode != 0:
                print(f"setup: {command} failed: {err[-500:]}", file=sys.stderr)
                return 1
            durations[command] = time.monotonic() - started
        print(
            "undisturbed: " + ", ".join(f"{c} {s:.1f} s" for c, s in durations.items())
        )
        rounds = []
        for n in range(args.rounds):
            record = one_round(n, urls, work, durations, rng)
            rounds.append(record)
            verdict = "ok" if not record["problems"] else "; ".join(record["problems"])
            where = record["phase"] or "start"
            print(
                f"round {n + 1:>3}: {record['command']:<16} {record['fault']:<20}"
                f" {where:>14} +{record['delay']:>4.2f} s "
                f"{'interrupted' if record['hit'] else 'finished first':<15}"
                f" exit {record['exit']:>3}  {verdict}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=2))
    hits = collections.Counter(r["fault"] for r in rounds if r["hit"])
    failed = [r for r in rounds if r["problems"]]
    print(
        f"{len(rounds)} rounds, {sum(hits.values())} interrupted mid-run "
        f"({', '.join(f'{k} {v}' for k, v in sorted(hits.items()))}); "
        f"{len(rounds) - len(failed)} passed every check, {len(failed)} did not"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
