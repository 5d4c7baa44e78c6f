"""Benchmark: the application's reads at scale, beside the same reads written
naively against master's tables, in one run.

    .venv/bin/python tests/benchmarks/bench_reads.py --scale 770

Builds (or reuses) an embedded synthetic master at SCALE (770: about a million
whatsapp_messages, 8,470 leads, a few threads of tens of thousands of events) and
a synced embedded replica, then:

- **dbt build**: ``replica build`` of the whole project, and of a copy of it
  without the read models (models/read, analyses/read_*), alternately, REPEAT
  times each: what the read models add to a whole build (bar: at most 20%), and
  their own node time;
- **reads**: each statement of analyses/read_*.sql as the application runs it (an
  unnamed statement with its values), SAMPLES times with random leads,
  conversations and queries: a thread's first page, a deep page (at a random
  depth in the older half of a thread of 500 events or more), lead details,
  conversation details (bar: p95 <= 5 ms), a lead's analytics (bar: 20 ms), a
  search for a common word, a rare word and a prefix (bar: 50 ms); the longest
  threads apart, as they are a few among thousands of leads;
- **naive**: the same reads written without the project's models and indexes,
  against copies of master's tables with their primary keys only (schema
  ``naive``: what the application could run on master): the link by phone
  number and by wamid computed at read time, OFFSET pages, ILIKE search,
  analytics with window functions over the lead's messages; fewer samples;
- **served**: pages of ``replica serve`` end to end over HTTP (bar: p95 <= 50 ms);
- **plans**: each read's plan at this scale, the indexes it uses, and any
  sequential scan of a table of more than 10,000 rows.

Prints the figures as a Markdown table (docs/benchmarks.md) and as JSON. Timings
are for this machine at this moment; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psycopg

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

from crm_replica.db import (  # noqa: E402
    MASTER_DB,
    REPLICA_DB,
    REPLICA_SETTINGS,
    cluster,
)
from crm_replica.serve import Reads, open_server  # noqa: E402
from crm_replica.settings import schemas as settings  # noqa: E402

BENCH_DB = "bench_reads"
#: The read models (models/read), whose build time the benchmark sums.
READ_MODELS = sorted(p.stem for p in (PROJECT / "models" / "read").glob("*.sql"))
#: The master's tables, copied with their primary keys only (schema naive).
NAIVE_TABLES = {
    "clients": "id",
    "projects": "id",
    "leads": "id",
    "conversations": "id",
    "whatsapp_messages": "id",
    "agent_interaction_logs": "interaction_log_id",
    "conversation_audit_log": "id",
    "lead_status_history": "id",
}
BARS = {
    "thread, first page": 5,
    "thread, deep page": 5,
    "lead details": 5,
    "conversation details": 5,
    "lead analytics": 20,
    "search, common word": 50,
    "search, rare word": 50,
    "search, prefix": 50,
    "served page": 50,
}


def run(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:5])} … failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def replica(urls: dict, work: Path, *args: str, project: Path = PROJECT) -> float:
    return run(
        [sys.executable, "-m", "crm_replica.cli", *args]
        + ["--replica-url", urls["replica"], "--workdir", str(work)]
        + ["--project-dir", str(project)]
        + (["--master-url", urls["master"]] if args[0] in ("sync", "build") else [])
    )


def prepare(urls: dict, work: Path, scale: int) -> None:
    """The master at SCALE (reused when there) and a replica synced from it."""
    run(
        [
            sys.executable,
            "-c",
            "import sys; from crm_replica.demo import setup;"
            " setup.ensure_master(sys.argv[1], seed=42, scale=int(sys.argv[2]));"
            " setup.ensure_application(sys.argv[3], sys.argv[1], seed=42)",
            urls["master"],
            str(scale),
            urls["replica"],
        ]
    )
    with psycopg.connect(urls["replica"]) as conn:
        synced = conn.execute(
            "select to_regclass('replica_read.lead_details') is not null"
        ).fetchone()[0]
    if not synced:
        print("sync …", flush=True)
        print(f"sync: {replica(urls, work, 'sync', '--keep', '1'):.1f} s", flush=True)


def naive_schema(url: str) -> None:
    """Copies of master's tables with their primary keys only."""
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("select to_regclass('naive.whatsapp_messages')").fetchone()[0]:
            return
        print("naive copies of master's tables …", flush=True)
        conn.execute("create schema naive")
        for table, key in NAIVE_TABLES.items():
            conn.execute(
                f"create table naive.{table} as select * from master_raw.{table}"
            )
            conn.execute(f"alter table naive.{table} add primary key ({key})")
            conn.execute(f"analyze naive.{table}")


def timed(fn: Callable[[], object], samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def without_reads(work: Path) -> Path:
    """A copy of the project without the read models and their analyses: what a
    whole build was before them."""
    copy = work / "project-without-reads"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(
        PROJECT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".replica", "target", "logs", "__pycache__", "*.egg-info"
        ),
    )
    shutil.rmtree(copy / "models" / "read")
    for analysis in (copy / "analyses").glob("read_*.sql"):
        analysis.unlink()
    (copy / "analyses" / "_analyses.yml").write_text("analyses: []\n")
    return copy


def builds(urls: dict, work: Path, repeat: int) -> dict:
    """Whole builds (replica build: every model, built beside and published) of
    the project with and without the read models, alternately; and the read
    models' own node time in the whole builds."""
    copy = without_reads(work)
    full, without, read_nodes, all_nodes = [], [], [], []
    for i in range(repeat):
        without.append(replica(urls, work, "build", project=copy))
        full.append(replica(urls, work, "build"))
        results = json.loads((work / "target" / "run_results.json").read_text())
        times = {r["unique_id"]: r["execution_time"] for r in results["results"]}
        all_nodes.append(sum(times.values()))
        read_nodes.append(
            sum(
                t
                for uid, t in times.items()
                if any(f".{name}" in uid for name in READ_MODELS)
            )
        )
        print(
            f"build {i + 1}: without the read models {without[-1]:.1f} s,"
            f" with them {full[-1]:.1f} s (their nodes {read_nodes[-1]:.1f} s"
            f" of {all_nodes[-1]:.1f} s)",
            flush=True,
        )
    whole, base = statistics.median(full), statistics.median(without)
    return {
        "whole_build_s": round(whole, 2),
        "without_read_models_s": round(base, 2),
        "read_models_share": round((whole - base) / base, 3),
        "read_nodes_s": round(statistics.median(read_nodes), 2),
        "all_nodes_s": round(statistics.median(all_nodes), 2),
    }


# --- the reads as the application runs them ---------------------------------


class Bench:
    def __init__(self, url: str, samples: int, naive_samples: int, seed: int) -> None:
        # As the viewer runs them (crm_replica/serve/database.py): unprepared,
        # without parallel workers.
        self.conn = psycopg.connect(
            url,
            autocommit=True,
            prepare_threshold=None,
            options="-c max_parallel_workers_per_gather=0",
        )
        self.reads = Reads.load(PROJECT, settings.load(PROJECT))
        self.samples, self.naive_samples = samples, naive_samples
        self.rng = random.Random(seed)
        self.rows: list[dict] = []
        sizes = self.conn.execute(
            "select lead_id, messages_in + messages_out + status_changes"
            " + agent_interactions from replica_read.lead_details"
        ).fetchall()
        self.leads = [r[0] for r in sizes]
        ordered = sorted(sizes, key=lambda r: -r[1])
        self.longest = [r[0] for r in ordered[: max(3, len(ordered) // 200)]]
        self.deep = [r[0] for r in sizes if r[1] >= 500]
        self.conversations = [
            r[0]
            for r in self.conn.execute(
                "select id from master_raw.conversations tablesample system (2)"
            )
        ]
        self.words = self._words()

    def _words(self) -> dict[str, list[str]]:
        stats = self.conn.execute(
            "select word, ndoc from ts_stat($$select to_tsvector('simple',"
            " message_content) from master_raw.conversations tablesample system (5)$$)"
            " order by ndoc desc"
        ).fetchall()
        common = [w for w, _ in stats[:10]]
        rare = [w for w, n in stats if n == 1 and w.isdigit() and len(w) == 4][:200]
        prefix = [w[:3] + "*" for w, _ in stats[:30] if len(w) >= 4]
        return {"common word": common, "rare word": rare, "prefix": prefix}

    def read(self, name: str, params: list) -> list[dict]:
        return self.reads.run(self.conn, name, params)

    def record(self, what: str, times: list[float], naive: list[float] | None) -> None:
        row = {
            "read": what,
            "p50_ms": round(p(times, 0.5), 2),
            "p95_ms": round(p(times, 0.95), 2),
            "samples": len(times),
        }
        if naive:
            row["naive_p50_ms"] = round(p(naive, 0.5), 1)
            row["naive_p95_ms"] = round(p(naive, 0.95), 1)
        self.rows.append(row)
        extra = f", naive p50 {row['naive_p50_ms']} ms" if naive else ""
        print(
            f"{what:38} p50 {row['p50_ms']:8.2f} ms"
            f"  p95 {row['p95_ms']:8.2f} ms{extra}",
            flush=True,
        )

    def deep_cursor(self, lead) -> tuple:
        count = self.conn.execute(
            "select count(*) from replica_read.lead_thread where lead_id = %s", (lead,)
        ).fetchone()[0]
        offset = self.rng.randrange(count // 2, max(count - 50, count // 2 + 1))
        row = self.conn.execute(
            "select occurred_at, id from replica_read.lead_thread where lead_id = %s"
            " order by occurred_at desc, id desc offset %s limit 1",
            (lead, offset),
        ).fetchone()
        return lead, row[0], row[1], offset

    def compare(
        self,
        what: str,
        pick: Callable[[], object],
        read: Callable[[object], object],
        naive: Callable[[object], object] | None,
    ) -> None:
        """The read and its naive twin, each on values picked at random."""
        self.record(
            what,
            timed(lambda: read(pick()), self.samples),
            timed(lambda: naive(pick()), self.naive_samples) if naive else None,
        )

    def all(self) -> None:
        rng, conn = self.rng, self.conn
        for what, leads in (("", self.leads), (" (longest threads)", self.longest)):
            self.compare(
                "thread, first page" + what,
                lambda leads=leads: rng.choice(leads),
                lambda lead: self.read("read_thread", [lead, None, None, 50, None]),
                lambda lead: naive_thread(conn, lead, 0),
            )
        cursors = [self.deep_cursor(rng.choice(self.deep)) for _ in range(50)]
        self.compare(
            "thread, deep page",
            lambda: rng.choice(cursors),
            lambda c: self.read("read_thread", [*c[:3], 50, None]),
            lambda c: naive_thread(conn, c[0], c[3]),
        )
        self.compare(
            "lead details",
            lambda: rng.choice(self.leads),
            lambda lead: self.read("read_lead", [lead]),
            lambda lead: naive_lead(conn, lead),
        )
        self.compare(
            "conversation details",
            lambda: rng.choice(self.conversations),
            lambda turn: self.read("read_conversation", [turn]),
            lambda turn: naive_conversation(conn, turn),
        )
        for what, leads in (("", self.leads), (" (longest threads)", self.longest)):
            self.compare(
                "lead analytics" + what,
                lambda leads=leads: rng.choice(leads),
                lambda lead: self.read("read_lead_analytics", [lead, 30, 20]),
                lambda lead: naive_analytics(conn, lead),
            )
        for kind, words in self.words.items():
            self.compare(
                f"search, {kind}",
                lambda words=words: rng.choice(words),
                lambda word: self.read("read_search", search_params(word)),
                lambda word: naive_search(conn, word),
            )
        self.compare(
            "leads list (first page)",
            lambda: None,
            lambda _: self.read("read_leads", [None] * 6 + [50]),
            None,
        )

    def plans(self) -> list[str]:
        """Each read's plan: indexes used; sequential scans of big tables."""
        big = {
            r[0]
            for r in self.conn.execute(
                "select relname from pg_class where relkind = 'r' and reltuples > 10000"
            )
        }
        lead, deep = self.longest[0], self.deep_cursor(self.longest[0])
        cases = {
            "read_thread": [lead, None, None, 50, None],
            "read_thread (deep)": [*deep[:3], 50, None],
            "read_thread_newer": [*deep[:3], 50, None],
            "read_lead": [lead],
            "read_lead_analytics": [lead, 30, 20],
            "read_conversation": [self.conversations[0]],
            "read_leads": [None, None, None, None, None, None, 50],
            "read_lead_facets": [],
        }
        for kind, words in self.words.items():
            cases[f"read_search ({kind}: {words[0]})"] = search_params(words[0])
        notes = []
        for label, params in cases.items():
            name = label.split(" ")[0]
            with psycopg.RawCursor(self.conn) as cur:
                cur.execute("explain " + self.reads.statements[name], params)
                plan = "\n".join(r[0] for r in cur.fetchall())
            indexes = sorted(
                set(re.findall(r"(?:using|Index Scan on) (\S+)(?: on (\S+))?", plan))
            )
            seqs = sorted(
                {t for t in re.findall(r"Seq Scan on (\S+)", plan) if t in big}
            )
            notes.append(
                f"{label}: indexes "
                + ", ".join(f"{i} on {t}" if t else i for i, t in indexes)
                + (f"; SEQ SCAN of {', '.join(seqs)}" if seqs else "")
            )
        return notes


def search_params(text: str) -> list:
    return [text, None, None, None, None, None, None, None, 100, None, None, None, 20]


# --- the same reads, naively, on master's tables ------------------------------

LEAD_MESSAGES = """
    select m.id, coalesce(m.wa_timestamp, m.created_at) as at, m.content,
        case when regexp_replace(m.sender_number, '\\D', '', 'g')
            in (select regexp_replace(whatsapp_phone_number, '\\D', '', 'g')
                from naive.clients) then 'outbound' else 'inbound' end as direction
    from naive.whatsapp_messages m, naive.leads l
    where l.id = %(lead)s and regexp_replace(l.phone, '\\D', '', 'g') in (
        regexp_replace(m.sender_number, '\\D', '', 'g'),
        regexp_replace(m.receiver_number, '\\D', '', 'g'))
"""


def naive_thread(conn, lead, offset: int) -> list:
    return conn.execute(
        f"""select * from (
            select id, at, content, direction from ({LEAD_MESSAGES}) msgs
            union all
            select id, "timestamp", message_content, message_type
            from naive.conversations where lead_id = %(lead)s
            union all
            select id, changed_at, status, previous_status
            from naive.lead_status_history where lead_id = %(lead)s
            union all
            select interaction_log_id, interaction_timestamp, n8n_action_taken, null
            from naive.agent_interaction_logs where lead_id = %(lead)s
        ) t order by at desc, id desc offset %(offset)s limit 50""",
        {"lead": lead, "offset": offset},
    ).fetchall()


def naive_lead(conn, lead) -> list:
    return conn.execute(
        f"""select l.*, c.name, p.name,
            (select count(*) from naive.conversations where lead_id = l.id),
            (select count(*) from ({LEAD_MESSAGES}) m where direction = 'inbound'),
            (select count(*) from ({LEAD_MESSAGES}) m where direction = 'outbound'),
            (select max(changed_at) from naive.lead_status_history
             where lead_id = l.id and status_type = 'bant')
        from naive.leads l
        left join naive.clients c on c.id = l.client_id
        left join naive.projects p on p.id = l.current_project_id
        where l.id = %(lead)s""",
        {"lead": lead},
    ).fetchall()


def naive_conversation(conn, turn) -> list:
    return conn.execute(
        """select c.*,
            (select json_agg(m) from naive.whatsapp_messages m
             where m.wamid = regexp_replace(c.message_id, '\\.\\d+$', '')),
            (select json_agg(a) from naive.conversation_audit_log a
             where a.conversation_id = c.id),
            (select json_agg(g) from naive.agent_interaction_logs g
             where g.triggering_message_id = c.id)
        from naive.conversations c where c.id = %s""",
        (turn,),
    ).fetchall()


def naive_analytics(conn, lead) -> list:
    return conn.execute(
        f"""with msgs as (
            select at, id, direction from ({LEAD_MESSAGES}) m
            union all
            select "timestamp", id, case message_type when 'incoming' then 'inbound'
                else 'outbound' end from naive.conversations where lead_id = %(lead)s
        ), answered as (
            select at, direction, min(at) filter (where direction = 'outbound')
                over (order by at desc) as reply,
                at - lag(at) over (order by at, id) as gap
            from msgs
        )
        select count(*) filter (where direction = 'inbound'),
            percentile_cont(0.5) within group (order by extract(epoch from reply - at))
                filter (where direction = 'inbound'),
            percentile_cont(0.9) within group (order by extract(epoch from reply - at))
                filter (where direction = 'inbound'),
            max(gap),
            (select json_agg(d) from (select at::date, count(*) from msgs
             group by 1) d),
            (select json_agg(h) from (select extract(hour from at), count(*) from msgs
             group by 1) h)
        from answered""",
        {"lead": lead},
    ).fetchall()


def naive_search(conn, text: str) -> list:
    like = "%" + text.rstrip("*") + "%"
    return conn.execute(
        """select * from (
            select id, "timestamp" as at, message_content as body, lead_id
            from naive.conversations where message_content ilike %(like)s
            union all
            select id, wa_timestamp, content, null from naive.whatsapp_messages
            where content ilike %(like)s and test_mode is not true
        ) t order by at desc limit 20""",
        {"like": like},
    ).fetchall()


# --- served pages ----------------------------------------------------------------


def served(url: str, bench: Bench, samples: int) -> list[float]:
    server = open_server(url, PROJECT, settings.load(PROJECT), port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rng = bench.rng
    paths = [
        lambda: f"leads/{rng.choice(bench.leads)}",
        lambda: f"conversations/{rng.choice(bench.conversations)}",
        lambda: (
            "search?q="
            + urllib.parse.quote(rng.choice(rng.choice(list(bench.words.values()))))
        ),
        lambda: "",
    ]

    def fetch() -> None:
        with urllib.request.urlopen(server.url + rng.choice(paths)(), timeout=30) as r:
            r.read()
            assert r.status == 200

    try:
        return timed(fetch, samples)
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=770)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--naive-samples", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="builds of each kind")
    parser.add_argument("--skip-builds", action="store_true")
    parser.add_argument("--only-builds", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path(".replica/bench-reads"))
    args = parser.parse_args()
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    with (
        cluster(work / "master", MASTER_DB) as master,
        cluster(work / "replica", REPLICA_DB, REPLICA_SETTINGS) as replica_root,
    ):
        with psycopg.connect(replica_root, autocommit=True) as conn:
            if not conn.execute(
                "select 1 from pg_database where datname = %s", (BENCH_DB,)
            ).fetchone():
                conn.execute(f"create database {BENCH_DB}")
        urls = {
            "master": master,
            "replica": replica_root.replace(f"/{REPLICA_DB}", f"/{BENCH_DB}"),
        }
        print(f"synthetic master, scale {args.scale} …", flush=True)
        prepare(urls, work, args.scale)
        naive_schema(urls["replica"])
        report: dict = {"scale": args.scale}
        if not args.skip_builds:
            report["build"] = builds(urls, work, args.repeat)
        if args.only_builds:
            print(json.dumps(report))
            return
        bench = Bench(urls["replica"], args.samples, args.naive_samples, seed=7)
        with bench.conn.cursor() as cur:
            counts = cur.execute(
                "select (select count(*) from master_raw.whatsapp_messages),"
                " (select count(*) from public.leads),"
                " (select max(messages_in + messages_out + status_changes"
                " + agent_interactions) from replica_read.lead_details)"
            ).fetchone()
        report["messages"], report["leads"], report["longest_thread"] = counts
        bench.all()
        pages = served(urls["replica"], bench, args.samples)
        bench.record("served page (HTTP, end to end)", pages, None)
        report["reads"] = bench.rows
        report["plans"] = bench.plans()
    print(
        f"\nscale {args.scale}: {counts[0]:,} messages, {counts[1]:,} leads,"
        f" the longest thread {counts[2]:,} events"
    )
    if "build" in report:
        b = report["build"]
        print(
            f"replica build: {b['whole_build_s']} s, without the read models"
            f" {b['without_read_models_s']} s: the read models add"
            f" {100 * b['read_models_share']:.0f}% (bar 20%); their nodes"
            f" {b['read_nodes_s']} s of {b['all_nodes_s']} s"
        )
    print("\n| read | p50 ms | p95 ms | bar | naive p50 ms | naive p95 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in report["reads"]:
        bar = next((v for k, v in BARS.items() if row["read"].startswith(k)), None)
        bar_text = f"≤ {bar}" if bar and "longest" not in row["read"] else ""
        print(
            f"| {row['read']} | {row['p50_ms']} | {row['p95_ms']} | {bar_text} |"
            f" {row.get('naive_p50_ms', '')} | {row.get('naive_p95_ms', '')} |"
        )
    print("\nplans:")
    for note in report["plans"]:
        print(f"- {note}")
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
