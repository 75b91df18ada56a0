"""Benchmark: intervals that count battles, not votes. What the refresh pays for them, and how much they widen.

The refresh now reads one more column (each vote's battle, hashed to an integer code as it arrives; no text is
kept) and every view sums its votes per battle (bincounts, no sort) for the sandwich. The baseline is the same
refresh from another commit (--baseline, default HEAD~1: the commit before intervals counted battles), checked out
as a git worktree and run on the same database. Each refresh is a fresh process; baseline and this checkout
alternate --repeats times (the baseline measured in the same run, under the same load); medians and ratios.
Then, in this process and untimed: the database's votes read once, and the human and composite (people 1, judges
0.5) views fitted with and without the battle codes. Their interval widths show what counting battles changes on
benchmarks.arena_fill's votes, where a judge votes on a fifth of the battles.

    python -m benchmarks.bench_battle_intervals                                  # 100k and 1M, both databases
    python -m benchmarks.bench_battle_intervals --sizes 100000 --engines sqlite --repeats 1 --no-write
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_refresh import _median, database_url, ensure_filled, measure
from benchmarks.process import REPO, load_average
from benchmarks.report import write_section

SECTION = "## Intervals that count battles"


def baseline_checkout(ref: str) -> tuple[Path, str]:
    """A worktree of `ref` under /tmp (made once per commit), and the commit's short hash."""
    sha = subprocess.run(["git", "rev-parse", "--short", ref], cwd=REPO, check=True, capture_output=True, text=True)
    commit = sha.stdout.strip()
    folder = Path("/tmp") / f"arena-baseline-{commit}"
    if not folder.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(folder), commit], cwd=REPO, check=True,
                       capture_output=True)  # fmt: skip
    return folder, commit


def widths(url: str) -> dict[str, Any]:
    """Median interval width of the human and composite views, counting battles and counting votes."""
    from leaderboard.composite import DEFAULT_WEIGHTS, compute_composite_leaderboard, parse_source_weights
    from leaderboard.outcomes import count_outcomes
    from leaderboard.selection import select_votes
    from leaderboard.table import compute_leaderboard
    from store import Store

    store = Store.open(url)
    try:
        votes = store.votes.read()
    finally:
        store.dispose()
    weights = parse_source_weights(DEFAULT_WEIGHTS)
    fits = {
        "human": lambda frame: compute_leaderboard(frame, with_online_elo=False),
        "composite": lambda frame: compute_composite_leaderboard(frame, weights, with_online_elo=False),
    }
    result: dict[str, Any] = {}
    for view, fit in fits.items():
        battles = fit(votes)
        unclustered = fit(votes.drop(columns="battle_key"))
        median = {name: float(np.median([row.upper - row.lower for row in board.rows]))
                  for name, board in (("battles", battles), ("votes", unclustered))}  # fmt: skip
        result[view] = median
    counted = select_votes(votes, source=None).votes
    sums = count_outcomes(counted).battles
    result["battles"] = (0, 0) if sums is None else (sums.shared, sums.n_battles)
    result["votes"] = len(counted)
    return result


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    baseline, commit = baseline_checkout(args.baseline)
    args.commit = commit
    rows = []
    args.folder.mkdir(parents=True, exist_ok=True)
    for engine in args.engines:
        for votes in args.sizes:
            url = database_url(engine, votes, False, args.folder)
            fill = ensure_filled(url, votes, False)
            load = load_average()
            runs: dict[str, list] = {"baseline": [], "ours": []}
            for _ in range(args.repeats):
                runs["baseline"].append(measure("refresh", url, repo=baseline))
                runs["ours"].append(measure("refresh", url))
            row = {"engine": engine, "votes": votes, "fill": fill, "runs": runs, "load": (load, load_average()),
                   "widths": widths(url)}  # fmt: skip
            print(line(row), flush=True)
            rows.append(row)
    return rows


def line(row: dict[str, Any]) -> str:
    before, after = _median(row["runs"]["baseline"], "total.wall"), _median(row["runs"]["ours"], "total.wall")
    shared, battles = row["widths"]["battles"]
    return (
        f"{row['engine']} {row['votes']:,}: refresh {before:.2f} s baseline, {after:.2f} s ours "
        f"({after / before:.2f}x); "
        f"{shared:,} of {battles:,} battles hold several counted votes; composite width "
        f"{row['widths']['composite']['votes']:.1f} -> {row['widths']['composite']['battles']:.1f}"
    )


def report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        SECTION,
        "",
        f"Command: `python -m benchmarks.bench_battle_intervals --sizes {' '.join(map(str, args.sizes))} --engines "
        f"{' '.join(args.engines)} --repeats {args.repeats}`. The refresh's databases (`benchmarks.arena_fill`, as in "
        "the refresh section: 24 models, one-turn battles, a judge verdict on a fifth of the battles). Baseline: "
        f"the same stored-snapshot refresh from commit {args.commit} (before intervals counted battles), run from a "
        f"git worktree on the same database; baseline and this checkout alternate, {args.repeats} fresh processes "
        f"each, medians. Measured {when} on 2 CPU cores, SQLite (file, WAL) and PostgreSQL 15 on localhost. "
        "Seconds are the work inside the process (imports excluded); peak RSS the whole process's.",
        "",
        "| Database | Votes | Refresh wall: baseline / ours (s) | Ratio | Read: baseline / ours (s) | Payload: "
        "baseline / ours (s) | Peak RSS: baseline / ours (MB) | Battles with several votes | Median 95% CI width, "
        "human: votes / battles | composite: votes / battles | Load (1 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        runs, w = row["runs"], row["widths"]

        def pair(what: str, digits: int = 2, runs: dict = runs) -> str:
            return f"{_median(runs['baseline'], what):,.{digits}f} / {_median(runs['ours'], what):,.{digits}f}"

        ratio = _median(runs["ours"], "total.wall") / _median(runs["baseline"], "total.wall")
        shared, battles = w["battles"]
        lines.append(
            f"| {row['engine']} | {row['votes']:,} | {pair('total.wall')} | {ratio:.2f}x | {pair('read.wall')} | "
            f"{pair('payload.wall')} | {pair('rss', 0)} | {shared:,} of {battles:,} | "
            f"{w['human']['votes']:.1f} / {w['human']['battles']:.1f} | "
            f"{w['composite']['votes']:.1f} / {w['composite']['battles']:.1f} | "
            f"{row['load'][0]:.1f} / {row['load'][1]:.1f} |"
        )
    lines += [
        "",
        "Read it as: the cost is one more fixed-width column per vote (the battle id, 36 bytes through the driver, "
        "hashed on the Arrow buffers and kept as a 4-byte code) and two bincounts per view; nothing grows with "
        "answer text. The widths show the correction: in the human view a battle holds one counted vote, so its "
        "intervals do not move; in the composite, a judge's verdict and a person's vote on the same battle no "
        "longer count as two independent draws.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", choices=("sqlite", "postgresql"), default=["postgresql", "sqlite"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default="HEAD~1", help="the commit to compare with (git ref)")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/arena-refresh"), help="where SQLite files live")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not touch BENCHMARKS.md")
    args = parser.parse_args()
    section = report(args, run(args))
    print(section)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", SECTION, section)


if __name__ == "__main__":
    sys.exit(main())
