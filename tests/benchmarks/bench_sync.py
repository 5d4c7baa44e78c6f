"""Benchmark: `replica sync` against pg_dump | pg_restore of the same master, one run.

    .venv/bin/python tests/benchmarks/bench_sync.py --scale 770

Builds (or reuses) an embedded synthetic master at SCALE (770: about a million
whatsapp_messages) and an embedded replica with the application's legacy tables,
then measures, each command as a separate process (its wall time and its own peak
memory, max RSS):

- baseline: ``pg_dump -Fc -Z0 | pg_restore`` of the whole master into an empty
  database (uncompressed, as a pipe should be), REPEAT times;
- the first ``replica sync`` (an empty replica: every model built from nothing);
- a second ``replica sync``, not counted: from then on a sync builds on the
  oldest generation kept (``--keep 1`` here), the steady state of a replica;
- ``replica sync`` (full) REPEAT times, each after about 1% new messages and 1%
  updated conversations on master (what a nightly sync finds), each beside a
  pg_dump pipe of the same master;
- ``replica sync --mode incremental`` after the same change, REPEAT times; then
  ``replica verify`` must pass;
- ``replica sync --mode incremental`` with nothing changed on master.

The replica is the application's database (demo.setup.ensure_application): the
publish writes master's rows into its clients, projects, leads and conversations.
During each full sync a reader reads the application's ``conversations`` as the
application does (a lead's latest turns, by index) in a loop, and its slowest read
is compared with the slowest of the same loop beside no sync (the baseline).

It prints medians and the ratios the issue sets bars on: full sync / pg_dump pipe
(bar 1.5), incremental / full sync (bar 15%), peak memory (bar 300 MB), the
publish step of a full sync after a 1% change (bar 2 s) and the reader's slowest
read during it (bar 50 ms).
Timings are for this machine at this moment; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

from crm_replica.db import (  # noqa: E402
    MASTER_DB,
    REPLICA_DB,
    REPLICA_SETTINGS,
    cluster,
)  # noqa: E402
from crm_replica.sync import pg_dump_binary  # noqa: E402


def timed(command: list[str]) -> tuple[float, float, str]:
    """Run ``command``: wall seconds, its own peak memory (MB), its stdout."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            sys.exit(f"{' '.join(command[:4])} … failed:\n{tail}")
    return wall, usage.ru_maxrss / 1024, out.decode(errors="replace")


def replica(urls: dict, workdir: Path, *args: str) -> tuple[float, float, str]:
    keep = ["--keep", "1"] if args[0] == "sync" else []
    return timed(
        [sys.executable, "-m", "crm_replica.cli", *args, *keep]
        + ["--master-url", urls["master"], "--replica-url", urls["replica"]]
        + ["--workdir", str(workdir), "--project-dir", str(PROJECT)]
    )


def make_master(url: str, scale: int) -> None:
    """The synthetic master, made in a process of its own: this one stays small,
    so that the commands it forks start small (a forked child's peak memory counts
    its parent's pages until it execs)."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from crm_replica.demo import setup as demo;"
            " demo.ensure_master(sys.argv[1], seed=42, scale=int(sys.argv[2]))",
            url,
            str(scale),
        ],
        check=True,
        cwd=PROJECT,
    )


def pg_dump_pipe(master: str, scratch: str) -> float:
    with psycopg.connect(scratch.replace("/bench_dump", "/postgres")) as c:
        c.autocommit = True
        c.execute("drop database if exists bench_dump")
        c.execute("create database bench_dump")
    bindir = Path(pg_dump_binary()).parent
    command = (
        f"'{bindir}/pg_dump' -Fc -Z0 -d '{master}'"
        f" | '{bindir}/pg_restore' --no-owner -d '{scratch}'"
    )
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)
    return time.perf_counter() - started


def change_master(master: str) -> tuple[int, int]:
    """About 1% new messages and 1% updated conversations."""
    with psycopg.connect(master, autocommit=True) as conn:
        messages = conn.execute("select count(*) from whatsapp_messages").fetchone()[0]
        added = conn.execute(
            "insert into whatsapp_messages (id, sender_number, content, payload,"
            " awaits_response, receiver_number, wa_timestamp, test_mode,"
            " test_scenario_name, created_at)"
            " select gen_random_uuid(), sender_number, content || ' (new)', payload,"
            " awaits_response, receiver_number, now(), test_mode,"
            " test_scenario_name, now()"
            " from whatsapp_messages order by md5(id::text) limit %s",
            (messages // 100,),
        ).rowcount
        conversations = conn.execute("select count(*) from conversations").fetchone()[0]
        updated = conn.execute(
            "update conversations set status = 'validated', updated_at = now()"
            " where id in (select id from conversations order by random() limit %s)",
            (conversations // 100,),
        ).rowcount
    return added, updated


class Reader(threading.Thread):
    """The application reading its conversations in a loop (a lead's latest
    turns, by index) until stopped; ``slowest``: its slowest read, in seconds."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.slowest, self.reads = url, 0.0, 0
        self.halt = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            leads = [
                r[0]
                for r in conn.execute(
                    "select distinct lead_id from public.conversations"
                    " where lead_id is not null limit 500"
                )
            ]
            while not self.halt.is_set():
                started = time.perf_counter()
                conn.execute(
                    "select id, status from public.conversations where lead_id = %s"
                    ' order by "timestamp" desc limit 20',
                    (leads[self.reads % len(leads)],),
                ).fetchall()
                self.slowest = max(self.slowest, time.perf_counter() - started)
                self.reads += 1
                time.sleep(0.005)

    def stop(self) -> float:
        self.halt.set()
        self.join()
        return self.slowest


def reading(url: str, seconds: float) -> float:
    """The reader's slowest read over ``seconds`` with no sync running."""
    reader = Reader(url)
    reader.start()
    time.sleep(seconds)
    return reader.stop()


def publish_seconds(url: str) -> float:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select seconds from replica_meta.sync_steps where step = 'publish'"
            " order by run_id desc limit 1"
        ).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=770)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(".replica/bench-sync"))
    args = parser.parse_args()
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    with (
        cluster(work / "master", MASTER_DB) as master,
        cluster(work / "replica", REPLICA_DB, REPLICA_SETTINGS) as replica_root,
    ):
        print(f"synthetic master: scale {args.scale} …", flush=True)
        make_master(master, args.scale)
        with psycopg.connect(replica_root, autocommit=True) as conn:
            conn.execute("drop database if exists bench_sync")
            conn.execute("create database bench_sync")
        urls = {
            "master": master,
            "replica": replica_root.replace(f"/{REPLICA_DB}", "/bench_sync"),
        }
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from crm_replica.demo import setup as demo;"
                " demo.ensure_application(sys.argv[1], sys.argv[2], seed=42)",
                urls["replica"],
                master,
            ],
            check=True,
            cwd=PROJECT,
        )
        scratch = replica_root.replace(f"/{REPLICA_DB}", "/bench_dump")
        peaks: list[float] = []
        dumps, fulls, incrementals = [], [], []
        first, peak, _ = replica(urls, work, "sync")
        peaks.append(peak)
        print(f"first sync (empty replica): {first:.2f} s", flush=True)
        second, peak, _ = replica(urls, work, "sync")
        peaks.append(peak)
        print(f"second sync (no generation yet): {second:.2f} s", flush=True)
        publishes, during, idle = [], [], []
        for i in range(args.repeat):
            added, updated = change_master(master)
            dumps.append(pg_dump_pipe(master, scratch))
            idle.append(reading(urls["replica"], 5.0))
            reader = Reader(urls["replica"])
            reader.start()
            wall, peak, _ = replica(urls, work, "sync")
            during.append(reader.stop())
            publishes.append(publish_seconds(urls["replica"]))
            fulls.append(wall)
            peaks.append(peak)
            print(
                f"round {i + 1} (+{added:,} messages, {updated:,} conversations"
                f" updated): pg_dump | pg_restore {dumps[-1]:.2f} s,"
                f" replica sync {wall:.2f} s ({peak:.0f} MB), publish"
                f" {publishes[-1]:.2f} s; slowest read {1000 * during[-1]:.1f} ms"
                f" ({reader.reads:,} reads; {1000 * idle[-1]:.1f} ms beside no sync)",
                flush=True,
            )
        for i in range(args.repeat):
            added, updated = change_master(master)
            wall, peak, _ = replica(urls, work, "sync", "--mode", "incremental")
            incrementals.append(wall)
            peaks.append(peak)
            print(
                f"incremental {i + 1} (+{added:,} messages, {updated:,} conversations"
                f" updated): {wall:.2f} s ({peak:.0f} MB)",
                flush=True,
            )
        replica(urls, work, "verify")  # a difference ends the benchmark here
        verified = True
        nothing, peak, _ = replica(urls, work, "sync", "--mode", "incremental")
        peaks.append(peak)
        print(f"incremental, nothing changed: {nothing:.2f} s", flush=True)
        with psycopg.connect(master) as conn:
            messages = conn.execute("select count(*) from whatsapp_messages").fetchone()
    dump, full, incremental = (
        statistics.median(dumps),
        statistics.median(fulls),
        statistics.median(incrementals),
    )
    report = {
        "scale": args.scale,
        "whatsapp_messages": messages[0],
        "pg_dump_pipe_s": round(dump, 2),
        "first_sync_s": round(first, 2),
        "full_sync_s": round(full, 2),
        "full_over_pg_dump": round(full / dump, 2),
        "incremental_s": round(incremental, 2),
        "incremental_percent_of_full": round(100 * incremental / full, 1),
        "nothing_changed_s": round(nothing, 2),
        "peak_rss_mb": round(max(peaks), 1),
        "publish_s": round(statistics.median(publishes), 2),
        "slowest_read_during_sync_ms": round(1000 * max(during), 1),
        "slowest_read_beside_no_sync_ms": round(1000 * max(idle), 1),
        "verified_after_incremental": verified,
    }
    print(f"""
scale {args.scale} ({messages[0]:,} whatsapp_messages), median of {args.repeat}:
  pg_dump -Fc -Z0 | pg_restore            {dump:6.2f} s
  replica sync, first (empty replica)     {first:6.2f} s   {first / dump:.2f}x pg_dump
  replica sync (full, after a 1% change)  {full:6.2f} s   {full / dump:.2f}x pg_dump \
(bar 1.5x)
  replica sync --mode incremental (1%)    {incremental:6.2f} s   \
{100 * incremental / full:.0f}% of the full sync (bar 15%)
  incremental, nothing changed            {nothing:6.2f} s
  peak memory of the runner               {max(peaks):6.1f} MB (bar 300 MB)""")
    publish, slowest = statistics.median(publishes), max(during)
    print(f"  publish step of a full sync (1%)        {publish:6.2f} s   (bar 2 s)")
    print(
        f"  slowest read of conversations during    {1000 * slowest:6.1f} ms"
        f"  {slowest / max(max(idle), 1e-6):.1f}x the same reads beside no sync"
        " (bar 50 ms)"
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
