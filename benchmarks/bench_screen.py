"""Benchmark: the stuffing screen job (arena.vote_screen) over N votes, on SQLite and PostgreSQL.

The databases are the refresh benchmark's (benchmarks.arena_fill: 24 models, Zipf voters over 50,000 sessions,
two sessions per address, eight addresses per network; filled once and kept). Each figure is one fresh process:
  scan    one full scan of the votes table through the driver: the baseline;
  screen  the job as the scheduler runs it, over every vote (a window as long as the fill): the origins read
          (store.vote_origins), the screen (leaderboard.stuffing), the flags written (none: honest votes).
Wall and CPU seconds and peak resident memory of the process.

    python -m benchmarks.bench_screen                              # 100k and 1M on SQLite and PostgreSQL
    python -m benchmarks.bench_screen --sizes 100000 --engines sqlite --no-write
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bench_refresh import _clock, _scan, _since, database_url, ensure_filled
from benchmarks.process import REPO, Measured, load_average, run_measured
from benchmarks.report import write_section

SECTION = "## Stuffing screen (issue 14)"
WINDOW_DAYS = 3650.0  # every vote of the fill, whatever its dates


def child(mode: str, url: str) -> dict[str, Any]:
    from store import Store

    store = Store.open(url)
    stages: dict[str, dict[str, float]] = {}
    try:
        if mode == "scan":
            start = _clock()
            rows = _scan(store, "votes")
            stages["total"] = _since(start)
            return {"rows": rows, "stages": stages}
        from datetime import timedelta

        from leaderboard.stuffing import screen_stuffing
        from store import SourceFlag

        start = _clock()
        votes = store.vote_origins.read(since=datetime.now(UTC) - timedelta(days=WINDOW_DAYS))
        stages["read"] = _since(start)
        begin = _clock()
        report = screen_stuffing(votes)
        store.vote_origins.flag([SourceFlag(k, kind, f.evidence) for f in report.flagged for kind, k in f.sources()])
        stages["screen"] = _since(begin)
        stages["total"] = _since(start)
        return {"rows": len(votes), "tested": report.sources_tested, "flagged": len(report.flagged), "stages": stages}
    finally:
        store.dispose()


def measure(mode: str, url: str) -> tuple[Measured, dict[str, Any]]:
    measured = run_measured(["-m", "benchmarks.bench_screen", "--child", mode, url])
    return measured, json.loads(measured.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    args.folder.mkdir(parents=True, exist_ok=True)
    for engine in args.engines:
        for votes in args.sizes:
            url = database_url(engine, votes, False, args.folder)
            ensure_filled(url, votes, False)
            load = load_average()
            scan, screen = measure("scan", url), measure("screen", url)
            row = {"engine": engine, "votes": votes, "scan": scan, "screen": screen, "load": (load, load_average())}
            print(
                f"{engine} {votes:,}: scan {scan[1]['stages']['total']['wall']:.2f} s, screen "
                f"{screen[1]['stages']['total']['wall']:.2f} s",
                file=sys.stderr,
                flush=True,
            )
            results.append(row)
    return results


def report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        SECTION,
        "",
        f"Command: `python -m benchmarks.bench_screen --sizes {' '.join(map(str, args.sizes))} --engines "
        f"{' '.join(args.engines)}`. The refresh benchmark's databases (`benchmarks.arena_fill`: 24 models, Zipf "
        "voters over 50,000 sessions, two sessions per address, eight addresses per network). Each figure is one "
        f"fresh process; measured {when} on 2 CPU cores, SQLite (file, WAL) and PostgreSQL 15 on localhost. "
        "Scan: every row and column of the votes table through the driver (the baseline). Screen: the scheduler's "
        "job over every human vote that counts (the window set longer than the fill): the origins read, the screen "
        "(per address, per /24 network, and the churn pool), flags written.",
        "",
        "| Database | Votes | Scan (s) | Screen: read / screen / total wall (s) | Screen CPU (s) | Screen vs scan "
        "| Peak RSS (MB) | Sources tested | Flagged | Load (1 min) |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in results:
        scan = row["scan"][1]["stages"]["total"]
        process, result = row["screen"]
        stages = result["stages"]
        walls = " / ".join(f"{stages[k]['wall']:.2f}" for k in ("read", "screen", "total"))
        lines.append(
            f"| {row['engine']} | {row['votes']:,} | {scan['wall']:.2f} | {walls} | {stages['total']['cpu']:.2f} | "
            f"{stages['total']['wall'] / scan['wall']:.2f}x | {process.rss_mb:,.0f} | {result['tested']:,} | "
            f"{result['flagged']} | {row['load'][0]:.1f} / {row['load'][1]:.1f} |"
        )
    lines += [
        "",
        "The job runs every 5 minutes over the last 7 days (settings), so what it reads is a week of votes (the "
        "index on the votes' time keeps the read to the window), not the table: at Chatbot Arena's pace, a few "
        "hundred thousand votes. The screen itself groups integer codes (no Python loop per vote or per test); the "
        "exact tail is computed only for the tests a Chernoff bound cannot rule out.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/arena-refresh"), help="where SQLite files live")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not touch BENCHMARKS.md")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1])))
        return
    started = time.perf_counter()
    section = report(args, run(args))
    print(section)
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", SECTION, section)


if __name__ == "__main__":
    main()
