"""Benchmark: concurrent vote writes through store.battles.record_vote, on SQLite (file, WAL) and PostgreSQL.

Each run writes N votes, one per pre-created battle (one turn each; created in bulk outside the timed part),
first from one thread (the baseline), then from T threads, each on a fresh database. It checks that no
acknowledged vote was lost (the count in the database equals the writes that returned) and exits non-zero
otherwise. The markdown table is printed and written into BENCHMARKS.md under SECTION.

    python -m benchmarks.bench_votes --votes 10000 --threads 16
    python -m benchmarks.bench_votes --votes 2000 --no-postgres --no-write   # SQLite, quick

Run from the repository root (benchmarks is a package there).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from benchmarks.report import write_section
from store import Store
from store.engine import make_engine, writer
from store.tables import Battle, Turn, utcnow

SECTION = "## Vote writes (issue 2: benchmark 3)"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
_BULK_CHUNK = 1000


@dataclass(frozen=True)
class RunResult:
    database: str
    writers: int
    votes: int
    acknowledged: int
    stored: int
    errors: int
    seconds: float
    cpu_seconds: float  # this process (all its threads) during the timed part
    latencies_ms: tuple[float, ...]

    @property
    def votes_per_s(self) -> float:
        return self.acknowledged / self.seconds if self.seconds else 0.0

    @property
    def lost(self) -> int:
        return self.acknowledged - self.stored

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.lost == 0 and self.acknowledged == self.votes

    def percentile_ms(self, q: float) -> float:
        ranked = sorted(self.latencies_ms)
        return ranked[min(len(ranked) - 1, int(q * len(ranked)))] if ranked else 0.0


def create_battles(storage: Store, count: int) -> list[str]:
    """`count` anonymous battles with one turn each, inserted in bulk (not timed)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    now = utcnow()
    with writer(storage.engine).begin() as connection:
        for start in range(0, count, _BULK_CHUNK):
            chunk = ids[start : start + _BULK_CHUNK]
            connection.execute(insert(Battle), [_battle_row(battle_id, i, now) for i, battle_id in enumerate(chunk)])
            connection.execute(insert(Turn), [_turn_row(battle_id, now) for battle_id in chunk])
    return ids


def _battle_row(battle_id: str, i: int, now: datetime) -> dict[str, object]:
    return {
        "id": battle_id,
        "mode": "anonymous",
        "model_a": "bench-a",
        "model_b": "bench-b",
        "swapped": bool(i % 2),
        "params_a": {},
        "params_b": {},
        "session_id": f"session-{i}",
        "voter_id": f"voter-{i}",
        "state": "active",
        "flag_error": False,
        "flag_identity_leak": False,
        "flag_length_limit": False,
        "flag_notes": "",
        "tokens_a": 30,
        "tokens_b": 30,
        "created_at": now,
        "updated_at": now,
    }


def _turn_row(battle_id: str, now: datetime) -> dict[str, object]:
    return {
        "battle_id": battle_id,
        "index": 1,
        "attempt": 0,
        "superseded": False,
        "user_message": "Which is better?",
        "answer_a": "This one.",
        "answer_b": "No, this one.",
        "prompt_tokens_a": 20,
        "prompt_tokens_b": 20,
        "completion_tokens_a": 10,
        "completion_tokens_b": 10,
        "created_at": now,
    }


def write_votes(storage: Store, database: str, battle_ids: list[str], writers: int) -> RunResult:
    """Record one human vote per battle from `writers` threads released together; the timed part."""
    slices = [battle_ids[i::writers] for i in range(writers)]
    latencies: list[list[float]] = [[] for _ in range(writers)]
    errors = [0] * writers
    barrier = threading.Barrier(writers + 1)

    def work(slot: int) -> None:
        barrier.wait()
        for n, battle_id in enumerate(slices[slot]):
            started = time.perf_counter()
            try:
                storage.battles.record_vote(battle_id=battle_id, turn=1, winner=WINNERS[n % 4], voter_id=f"v{slot}")
            except Exception as exc:
                errors[slot] += 1
                print(f"  write failed: {exc!r}", file=sys.stderr)
            else:
                latencies[slot].append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started, cpu_started = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    flat = tuple(ms for per_thread in latencies for ms in per_thread)
    return RunResult(
        database=database,
        writers=writers,
        votes=len(battle_ids),
        acknowledged=len(flat),
        stored=storage.votes.count(),
        errors=sum(errors),
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        latencies_ms=flat,
    )


def run_one(url: str, database: str, votes: int, writers: int) -> RunResult:
    # One pooled connection per writer, so threads wait for the database, not for the pool.
    storage = Store.open(url, pool_size=writers, max_overflow=2)
    try:
        battle_ids = create_battles(storage, votes)
        result = write_votes(storage, database, battle_ids, writers)
    finally:
        storage.dispose()
    status = "ok" if result.ok else f"FAILED ({result.errors} errors, {result.lost} lost)"
    print(f"{database:<12} {writers:>2} writers: {result.votes_per_s:8.0f} votes/s, {status}", file=sys.stderr)
    return result


@contextmanager
def postgres_schema_url(base_url: str) -> Iterator[str]:
    """A fresh schema in the PostgreSQL database, dropped afterwards."""
    url = make_url(base_url)
    conninfo = f"host={url.host or '127.0.0.1'} port={url.port or 5432} dbname={url.database} "
    conninfo += f"user={url.username or 'postgres'}" + (f" password={url.password}" if url.password else "")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def postgres_version(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar()).split()[0]
    finally:
        engine.dispose()


def markdown(results: list[tuple[RunResult, RunResult]], votes: int, writers: int, versions: str) -> str:
    lines = [
        SECTION,
        "",
        f"Command: `python -m benchmarks.bench_votes --votes {votes} --threads {writers}`. "
        f"{votes:,} human votes written "
        "through `store.battles.record_vote` (one transaction each: the battle's facts under a row lock, turn check, "
        "battle state update, "
        f"vote insert), one per battle, on {votes:,} battles with one turn each created beforehand (not timed). "
        f"Baseline: the same number of votes from one thread on a fresh database. {versions}.",
        "",
        "| Database | Writers | Votes/s | p50 write (ms) | p99 write (ms) | Throughput vs 1 writer "
        "| Client CPU (cores) | Stored / acknowledged |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for single, concurrent in results:
        for run in (single, concurrent):
            ratio = run.votes_per_s / single.votes_per_s if single.votes_per_s else 0.0
            lines.append(
                f"| {run.database} | {run.writers} | {run.votes_per_s:,.0f} | {run.percentile_ms(0.50):.2f} "
                f"| {run.percentile_ms(0.99):.2f} | {ratio:.2f}x | {run.cpu_seconds / run.seconds:.2f} "
                f"| {run.stored:,} / {run.acknowledged:,}"
                f"{'' if run.ok else ' **LOST OR FAILED**'} |"
            )
    lines += [
        "",
        "SQLite has one write lock per file: writers queue for it (threads of one process on a Python lock, "
        "processes on BEGIN IMMEDIATE and busy_timeout), so more threads can only overlap one writer's Python "
        "work with another's commit. PostgreSQL runs the transactions concurrently and syncs commits together. "
        "Python threads share one GIL and the 2 cores with the database server: a client CPU near 1 core "
        "means the Python side (SQLAlchemy, the driver) is the limit, not the database. Absolute rates move "
        "with other work on the machine; the ratios and the stored/acknowledged check are the result.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--votes", type=int, default=10_000, help="votes per run (default 10000)")
    parser.add_argument("--threads", type=int, default=16, help="concurrent writer threads (default 16)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="PostgreSQL database to use")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"), help="markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    if args.votes < args.threads or args.threads < 1:
        parser.error("need at least one thread and at least as many votes as threads")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[tuple[RunResult, RunResult]] = []
    load = os.getloadavg()[0]  # other work on the machine skews absolute rates; say how much there was
    versions = [f"SQLite {sqlite3.sqlite_version} (file, WAL, synchronous=NORMAL)"]
    with tempfile.TemporaryDirectory(prefix="bench_votes_") as folder:
        pair = []
        for writers in (1, args.threads):
            url = f"sqlite:///{Path(folder) / f'writers{writers}.db'}"
            pair.append(run_one(url, "SQLite", args.votes, writers))
        results.append((pair[0], pair[1]))
    if not args.no_postgres:
        try:
            with postgres_schema_url(args.postgres_url) as url:
                versions.append(f"PostgreSQL {postgres_version(url)} on localhost via psycopg 3")
        except psycopg.OperationalError as exc:
            print(f"PostgreSQL at {args.postgres_url} does not answer ({exc}); use --no-postgres", file=sys.stderr)
            return 2
        pair = []
        for writers in (1, args.threads):
            with postgres_schema_url(args.postgres_url) as url:
                pair.append(run_one(url, "PostgreSQL", args.votes, writers))
        results.append((pair[0], pair[1]))
    versions.append(f"load average {load:.1f} when the run started")
    table = markdown(results, args.votes, args.threads, "; ".join(versions))
    print(table)
    if not args.no_write:
        write_section(args.output, SECTION, table)
    return 0 if all(run.ok for pair in results for run in pair) else 1


if __name__ == "__main__":
    sys.exit(main())
