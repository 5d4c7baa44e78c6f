"""Replicate the Pagila sample database both ways between PostgreSQL 15 and 18.

Pagila (https://github.com/devrimgunduz/pagila, MIT-style licence) at commit
d37c984 ("Add media-technical-data table with sample data"): the schema and data
(enums, domains, a partitioned ``payment``, tsvector, arrays) plus its
``media_technical_metadata`` table (a composite type ``color_info``, two more
enums, money, xml, geometric, network, bit string and range types, tsquery), with
Pagila's later ``film_embedding`` table (a pgvector ``vector(20)`` per film: its
categories multi-hot, then length, rental rate, replacement cost and rental
duration min-max normalised, as Pagila's README describes; its rows are not in
that commit, so they are computed here) where the server has pgvector.

Builds it into a throwaway Debian PostgreSQL 15 server (contrib and libxml, no
pgvector) and an embedded PostgreSQL 18 cluster (pgvector, no contrib, no libxml:
there ``media_technical_metadata`` stays empty, its rows have xml), then runs
``replica
extract-load --all-tables`` four ways (15 -> 18, 18 -> 15, 15 -> 15, 18 -> 18)
and checks every table: the run's counts and checksums, the checksums computed
again on both sides, and every row's text. Exit 0 when all match.

    git clone https://github.com/devrimgunduz/pagila /tmp/pagila
    .venv/bin/python tests/samples/pagila.py --repo /tmp/pagila
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

import supabase  # noqa: E402
from conftest import rows_text  # noqa: E402

from crm_replica.db.catalog import list_tables  # noqa: E402
from crm_replica.db.checksum import count_and_checksum  # noqa: E402
from crm_replica.db.embedded import cluster  # noqa: E402

COMMIT = "d37c984812b44b6d938e24455bbb3f336f07781e"
FILES = [
    "pagila-schema.sql",
    "pagila-data.sql",
    "pagila-schema-3-media-technical-data.sql",
    "pagila-insert-data-3-media-technical-data.sql",
]
PSQL = supabase.BIN / "psql"
#: Its xml column needs a server built with libxml (the embedded one is not).
MEDIA_DATA = "pagila-insert-data-3-media-technical-data.sql"

FILM_EMBEDDING = """
create extension if not exists vector with schema public;
create table public.film_embedding (
    film_id integer not null primary key references public.film (film_id),
    embedding public.vector(20) not null,
    last_update timestamp with time zone default now() not null
);
with span as (
    select min(length) l0, max(length) l1, min(rental_rate) r0, max(rental_rate) r1,
           min(replacement_cost) c0, max(replacement_cost) c1,
           min(rental_duration) d0, max(rental_duration) d1
    from public.film
)
insert into public.film_embedding (film_id, embedding)
select f.film_id,
       (array(select (exists (select 1 from public.film_category fc
                              where fc.film_id = f.film_id
                              and fc.category_id = c))::int::float8
              from generate_series(1, 16) c)
        || array[(f.length - l0)::float8 / (l1 - l0),
                 ((f.rental_rate - r0) / (r1 - r0))::float8,
                 ((f.replacement_cost - c0) / (c1 - c0))::float8,
                 (f.rental_duration - d0)::float8 / (d1 - d0)]
       )::real[]::public.vector(20)
from public.film f, span;
"""


def read_files(repo: Path, commit: str) -> dict[str, str]:
    return {
        name: subprocess.run(
            ["git", "-C", str(repo), "show", f"{commit}:{name}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for name in FILES
    }


def build(url: str, files: dict[str, str], work: Path) -> list[str]:
    """Pagila into the empty database at ``url`` (psql, as its dump needs);
    film_embedding where the server has pgvector. Returns what it left out and the
    extensions it used."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("select '<x/>'::xml")
            xml = True
        except psycopg.errors.FeatureNotSupported:
            xml = False
    said = []
    for name, text in files.items():
        if name == MEDIA_DATA and not xml:
            said.append(f"{name} left out: no XML support (metadata_xml)")
            continue
        path = work / name
        path.write_text(text)
        done = subprocess.run(
            [str(PSQL), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", path],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(f"psql -f {name} failed:\n{done.stderr}")
    with psycopg.connect(url, autocommit=True) as conn:
        has_vector = conn.execute(
            "select 1 from pg_available_extensions where name = 'vector'"
        ).fetchone()
        if has_vector:
            conn.execute(FILM_EMBEDDING)
        extensions = [r[0] for r in conn.execute("select extname from pg_extension")]
    return [*said, f"extensions {', '.join(extensions)}"]


def database(url: str, name: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}"')
        conn.execute(f'create database "{name}"')
    return make_conninfo(url, dbname=name)


def replicate(master: str, replica: str, work: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "crm_replica.cli",
            "extract-load",
            "--master-url",
            master,
            "--replica-url",
            replica,
            "--all-tables",
            "--jobs",
            "2",
            "--json",
            "--workdir",
            str(work),
        ],
        capture_output=True,
        text=True,
        cwd=TESTS.parent,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"extract-load failed:\n{done.stderr}")
    result = json.loads(done.stdout)
    result["notes"] = [
        line.removeprefix("schema: ")
        for line in done.stderr.splitlines()
        if line.startswith("schema: ") and not line.endswith(": created")
    ]
    result["wall"] = seconds
    return result


def check(master: str, replica: str, result: dict) -> list[str]:
    """What differs (nothing, when the replica equals master)."""
    problems = []
    with psycopg.connect(master) as m, psycopg.connect(replica) as r:
        tables = list_tables(m, "public")
        loaded = {t["table"]: t for t in result["tables"]}
        if set(loaded) != set(tables):
            problems.append(f"tables loaded {sorted(loaded)} != {tables}")
        for table in tables:
            load = loaded.get(table, {})
            if not load.get("matches") or load.get("master_checksum") != load.get(
                "replica_checksum"
            ):
                problems.append(f"{table}: the run's checksums differ: {load}")
            if count_and_checksum(m, "public", table) != count_and_checksum(
                r, "master_raw", table
            ):
                problems.append(f"{table}: checksums differ, computed again")
            if rows_text(master, "public", table) != rows_text(
                replica, "master_raw", table
            ):
                problems.append(f"{table}: rows differ")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="a pagila clone")
    parser.add_argument("--commit", default=COMMIT)
    args = parser.parse_args()
    files = read_files(args.repo, args.commit)
    work = Path(tempfile.mkdtemp(prefix="pagila-"))
    server = supabase.start()
    failed = False
    try:
        with cluster(work / "embedded", "postgres") as embedded:
            pg15 = database(server.url(), "pagila")
            pg18 = database(embedded, "pagila")
            print(
                f"pagila {args.commit[:7]} on PostgreSQL 15: {build(pg15, files, work)}"
            )
            print(
                f"pagila {args.commit[:7]} on PostgreSQL 18: {build(pg18, files, work)}"
            )
            for label, master, base in [
                ("15 -> 18", pg15, embedded),
                ("18 -> 15", pg18, server.url()),
                ("15 -> 15", pg15, server.url()),
                ("18 -> 18", pg18, embedded),
            ]:
                replica = database(base, "pagila_replica")
                result = replicate(master, replica, work / "runner")
                problems = check(master, replica, result)
                rows = sum(t["replica_rows"] for t in result["tables"])
                print(
                    f"{label}: {len(result['tables'])} tables, {rows:,} rows,"
                    f" {result['wall']:.1f} s: "
                    + (
                        "every table equal (rows, checksums)"
                        if not problems
                        else "DIFFERS"
                    )
                )
                for note in result["notes"]:
                    print(f"    {note}")
                for problem in problems:
                    print(f"    ! {problem}")
                failed = failed or bool(problems)
    finally:
        server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
