"""Benchmark: a million-battle file, read and rated end to end, against the current Chatbot Arena method.

The file: 1,000,000 battles from leaderboard.synthetic.simulate_battles (100 models, true ratings ~ N(1000,
150^2), ties up to 30%, as benchmarks.bench_ratings), with the columns of Chatbot Arena's clean-battle files
that the leaderboard reads: model_a, model_b, winner, judge (a voter id: Zipf over 50,000 voters), turn, anony,
tstamp. Written once in each format the leaderboard reads (leaderboard.io.write_battles; Parquet by pyarrow).

Two measurements, each in a fresh process (wall and CPU seconds, the process's reaped workers included; peak
resident memory):
  1. Reading: leaderboard.io.read_battles against pandas' own reader for the same format (read_json,
     read_json(lines=True), read_csv, read_parquet); ours also checks and normalizes the frame.
  2. End to end (read, fit, 1,000-round bootstrap): `python -m leaderboard --battles FILE --ci bootstrap` (which
     also screens voters for anomalies and writes the table) against the current Chatbot Arena method:
     pandas.read_json, unique (model_a, model_b, outcome) rows, L-BFGS-B, 1,000-round multinomial bootstrap on
     one process per core (benchmarks.bench_ratings's reimplementation of FastChat's compute_bootstrap_bt).

    python -m benchmarks.bench_files                      # 1M battles, writes BENCHMARKS.md
    python -m benchmarks.bench_files --battles 100000 --no-write
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.process import REPO, Measured, load_average, run_measured
from benchmarks.report import write_section

SECTION = "## Battles files (issue 13)"
FORMATS = (".json", ".jsonl", ".csv", ".parquet")
VOTERS = 50_000


def battles_frame(n: int) -> pd.DataFrame:
    from leaderboard.synthetic import simulate_battles

    rng = np.random.default_rng(1)
    ratings = dict(zip((f"model-{i:03d}" for i in range(100)), rng.normal(1000.0, 150.0, 100), strict=True))
    frame = simulate_battles(ratings, n, seed=0, tie_share=0.3)[["model_a", "model_b", "winner"]]
    voters = np.minimum(rng.zipf(1.3, n), VOTERS)
    return frame.assign(
        judge=[f"voter-{v:05d}" for v in voters],
        turn=1,
        anony=True,
        tstamp=1.7e9 + np.sort(rng.uniform(0.0, 3.0e7, n)).round(3),
    )


def write_files(frame: pd.DataFrame, folder: Path) -> dict[str, Path]:
    from leaderboard.io import write_battles

    paths = {}
    for suffix in FORMATS:
        path = folder / f"battles{suffix}"
        if suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            write_battles(frame, path)
        paths[suffix] = path
    return paths


# ---- what the child processes run --------------------------------------------------------------------------


def child(mode: str, path: Path) -> None:
    if mode.startswith("write-"):
        write_files(battles_frame(int(mode.removeprefix("write-"))), path)
        return
    if mode == "read-ours":
        from leaderboard.io import read_battles

        frame = read_battles(path)
    elif mode in ("read-pandas", "chatbot-arena"):
        frame = pandas_read(path)
        if mode == "chatbot-arena":
            from benchmarks.bench_ratings import fastchat_all

            ratings, _ = fastchat_all(frame)
            print(ratings.to_json())
    print(len(frame), file=sys.stderr)


def pandas_read(path: Path) -> pd.DataFrame:
    suffix = path.suffix
    if suffix == ".json":
        return pd.read_json(path)
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    if suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def measure(mode: str, path: Path) -> Measured:
    return run_measured(["-m", "benchmarks.bench_files", "--child", mode, str(path)])


def ours_end_to_end(path: Path, out: Path) -> Measured:
    argv = ["-m", "leaderboard", "--battles", str(path), "--ci", "bootstrap", "--out", str(out)]
    return run_measured(argv)


# ---- the run -----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> str:
    loads = [load_average()]
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        # written by a child: a forked child's peak RSS counts the parent's memory at the fork
        run_measured(["-m", "benchmarks.bench_files", "--child", f"write-{args.battles}", folder])
        paths = {suffix: Path(folder) / f"battles{suffix}" for suffix in FORMATS}
        sizes = {suffix: path.stat().st_size / 1024 / 1024 for suffix, path in paths.items()}
        reads: dict[str, tuple[Measured, Measured]] = {}
        for suffix, path in paths.items():
            # pandas first, then ours, alternating per format: drift in the machine's load hits both
            reads[suffix] = (measure("read-pandas", path), measure("read-ours", path))
            print(f"read {suffix}: pandas {reads[suffix][0].wall:.2f} s, ours {reads[suffix][1].wall:.2f} s")
        loads.append(load_average())
        baseline = measure("chatbot-arena", paths[".json"])
        print(f"Chatbot Arena end to end: {baseline.wall:.2f} s")
        ours = {suffix: ours_end_to_end(path, Path(folder) / "table.json") for suffix, path in paths.items()}
        for suffix, measured in ours.items():
            print(f"ours end to end {suffix}: {measured.wall:.2f} s")
        loads.append(load_average())
    return report(args, sizes, reads, baseline, ours, loads)


def report(
    args: argparse.Namespace,
    sizes: dict[str, float],
    reads: dict[str, tuple[Measured, Measured]],
    baseline: Measured,
    ours: dict[str, Measured],
    loads: list[float],
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        SECTION,
        "",
        f"Command: `python -m benchmarks.bench_files --battles {args.battles}`. {args.battles:,} battles "
        "(leaderboard.synthetic, 100 models, ties up to 30%) with model_a, model_b, winner, judge (voter ids, "
        "Zipf), turn, anony and tstamp, in each format the leaderboard reads. Every figure is one fresh process "
        "(Python start and imports included): wall and CPU seconds (CPU: all threads and reaped workers), peak "
        f"resident memory. Measured {when} on 2 CPU cores; 1-minute load average "
        f"{' / '.join(f'{x:.1f}' for x in loads)} (start / after reading / end).",
        "",
        "Reading: `leaderboard.io.read_battles` (checks and normalizes too) against pandas' reader for the format.",
        "",
        "| Format | Size (MB) | pandas wall / CPU (s) | ours wall / CPU (s) | Wall vs pandas "
        "| pandas / ours RSS (MB) |",
        "|---|---:|---|---|---:|---|",
    ]
    for suffix, (theirs, mine) in reads.items():
        lines.append(
            f"| {suffix} | {sizes[suffix]:,.0f} | {theirs.wall:.2f} / {theirs.cpu:.2f} | {mine.wall:.2f} / "
            f"{mine.cpu:.2f} | {theirs.wall / mine.wall:.1f}x | {theirs.rss_mb:,.0f} / {mine.rss_mb:,.0f} |"
        )
    lines += [
        "",
        "End to end (read, fit, 1,000-round bootstrap): `python -m leaderboard --battles FILE --ci bootstrap --out "
        "table.json` (also screens the voters for anomalies) against the current Chatbot Arena method on the JSON "
        "file (pandas.read_json, unique outcome rows, L-BFGS-B, multinomial bootstrap on one process per core). "
        "Target: at least 7x faster.",
        "",
        "| Run | Wall (s) | CPU (s) | Peak RSS (MB) | Wall vs Chatbot Arena | CPU vs Chatbot Arena "
        "| Met (>= 7x wall) |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| Chatbot Arena method, .json | {baseline.wall:.2f} | {baseline.cpu:.2f} | {baseline.rss_mb:,.0f} | 1.0x "
        "| 1.0x | |",
    ]
    for suffix, measured in ours.items():
        ratio = baseline.wall / measured.wall
        lines.append(
            f"| ours, {suffix} | {measured.wall:.2f} | {measured.cpu:.2f} | {measured.rss_mb:,.0f} | {ratio:.1f}x | "
            f"{baseline.cpu / measured.cpu:.1f}x | {'yes' if ratio >= 7 else 'no'} |"
        )
    lines += [
        "",
        "How: JSON Lines, CSV and Parquet go through Arrow's columnar readers (model names dictionary-encoded, "
        "never a Python string per row); a JSON list through orjson, then each column gathered in one pass. The "
        "fit counts votes per pair first, so everything after reading grows with the pairs, not the battles.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None, help="where the files are written (default: /tmp)")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not touch BENCHMARKS.md")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    started = time.perf_counter()
    section = run(args)
    print(section)
    print(f"({math.ceil(time.perf_counter() - started)} s)")
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", SECTION, section)


if __name__ == "__main__":
    main()
