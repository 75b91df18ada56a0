"""Benchmark: intervals that count battles, not votes. What the refresh pays for them, and how much they widen.

The refresh now reads one more column (each vote's battle, hashed to an integer code as it arrives; no text is
kept) and every view sums its votes per battle (bincounts, no sort) for the sandwich. The baseline is the same
refresh from another commit (--baseline, default HEAD~1: the commit before intervals counted battles), checked out
as a git worktree and run on the same database. Each refresh is a fresh process; baseline and this checkout
alternate --repeats times (the baseline measured in the same run, under the same load); medians and ratios.
Then, in this process and untimed: the database's votes read once, and the human and composite (people 1, judges
0.5) views fitted with and without the battle codes (their median interval widths); and a simulation of a judge
that agrees with people at a given rate, where coverage shows what counting votes gets wrong (agreement_study).

    python -m benchmarks.bench_battle_intervals                                  # 100k and 1M, both databases
    python -m benchmarks.bench_battle_intervals --sizes 100000 --engines sqlite --repeats 1 --no-write
    python -m benchmarks.bench_battle_intervals --bootstrap      # the bootstrap at 1M votes: battles against votes
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_refresh import _median, database_url, ensure_filled, measure
from benchmarks.process import REPO, load_average
from benchmarks.report import write_section

SECTION = "## Intervals that count battles"


@contextmanager
def baseline_checkout(ref: str) -> Iterator[tuple[Path, str]]:
    """A worktree of `ref` under /tmp and the commit's short hash; the worktree is removed when the block ends."""
    sha = subprocess.run(["git", "rev-parse", "--short", ref], cwd=REPO, check=True, capture_output=True, text=True)
    commit = sha.stdout.strip()
    folder = Path(tempfile.mkdtemp(prefix=f"arena-baseline-{commit}-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), commit], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    try:
        yield folder, commit
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=REPO, check=False,
                       capture_output=True)  # fmt: skip


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


def agreement_study(agreement: float, seeds: int, battles: int) -> dict[str, float]:
    """A judge on every battle that repeats the person's verdict with probability `agreement` and otherwise draws
    its own from the same Bradley-Terry model (so a judge alone would be as right as a person): the composite's
    95% intervals (people 1, judge 0.5) counting votes and counting battles, their coverage of the true ratings
    over `seeds` arenas of 20 models (LLMFAO-like spread, 30% ties), and the median width ratio."""
    import pandas as pd

    from leaderboard.composite import compute_composite_leaderboard
    from leaderboard.synthetic import simulate_battles

    truth = {f"m{i:02d}": 850.0 + 17.0 * i for i in range(20)}
    centred = {model: rating - np.mean(list(truth.values())) + 1000.0 for model, rating in truth.items()}
    covered: dict[str, list[bool]] = {"votes": [], "battles": []}
    ratio = []
    for seed in range(seeds):
        people = simulate_battles(truth, battles, seed=seed, tie_share=0.3)
        judge = people.copy()
        repeat = np.random.default_rng(seed).random(battles) < agreement
        judge["winner"] = np.where(repeat, people["winner"], _draws(people, truth, seed))
        people["source"], judge["source"] = "human", "judge:sim"
        people["battle_id"] = judge["battle_id"] = np.arange(battles)
        both = pd.concat([people, judge], ignore_index=True)
        weights = {"human": 1.0, "judge:sim": 0.5}
        fits = {"battles": compute_composite_leaderboard(both, weights, with_online_elo=False),
                "votes": compute_composite_leaderboard(both.drop(columns="battle_id"), weights,
                                                       with_online_elo=False)}  # fmt: skip
        for way, board in fits.items():
            covered[way] += [row.lower <= centred[row.model] <= row.upper for row in board.rows]
        width = {way: np.median([row.upper - row.lower for row in board.rows]) for way, board in fits.items()}
        ratio.append(width["battles"] / width["votes"])
    return {"agreement": agreement, "coverage_votes": float(np.mean(covered["votes"])),
            "coverage_battles": float(np.mean(covered["battles"])), "width_ratio": float(np.median(ratio)),
            "seeds": seeds, "battles": battles}  # fmt: skip


def bootstrap_cost(votes: int, second_share: float, rounds: int, repeats: int) -> dict[str, Any]:
    """The 1,000-round bootstrap of `votes` votes among 24 models where a share of the battles carry a second
    vote: resampling battles (battle_id given) against resampling votes (the same votes without it), alternating
    in this process; median wall seconds and the median interval width of each."""
    import time

    import pandas as pd

    from leaderboard.synthetic import simulate_battles
    from leaderboard.table import compute_leaderboard

    truth = {f"m{i:02d}": 900.0 + 10.0 * i for i in range(24)}
    n_battles = round(votes / (1.0 + second_share))
    first = simulate_battles(truth, n_battles, seed=1, tie_share=0.3)
    first["battle_id"] = np.arange(n_battles)
    second = first.sample(n=votes - n_battles, random_state=2)
    second["winner"] = _draws(second, truth, 2)
    frame = pd.concat([first, second], ignore_index=True)
    ways = {"battles": frame, "votes": frame.drop(columns="battle_id")}
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    width: dict[str, float] = {}
    for _ in range(repeats):
        for way, data in ways.items():
            started = time.perf_counter()
            board = compute_leaderboard(data, ci="bootstrap", rounds=rounds, with_online_elo=False)
            seconds[way].append(time.perf_counter() - started)
            width[way] = float(np.median([row.upper - row.lower for row in board.rows]))
    return {"votes": len(frame), "battles": n_battles, "shared": len(second), "rounds": rounds,
            "seconds": {way: float(np.median(times)) for way, times in seconds.items()}, "width": width}  # fmt: skip


def _draws(people: Any, truth: dict[str, float], seed: int) -> np.ndarray:
    """An independent verdict on each of the people's battles, from the same Bradley-Terry model with 30% ties."""
    rng = np.random.default_rng(30_000 + seed)
    gap = people["model_a"].map(truth).to_numpy(float) - people["model_b"].map(truth).to_numpy(float)
    p = 1.0 / (1.0 + 10.0 ** (-gap / 400.0))
    tie = 2.0 * 0.3 * np.minimum(p, 1.0 - p)
    draw = rng.random(len(p))
    return np.where(draw < p - tie / 2, "model_a", np.where(draw < p + tie / 2, "tie", "model_b"))


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    with baseline_checkout(args.baseline) as (baseline, commit):
        args.commit = commit
        return _measure_all(args, baseline)


def _measure_all(args: argparse.Namespace, baseline: Path) -> list[dict[str, Any]]:
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


def report(args: argparse.Namespace, rows: list[dict[str, Any]], studies: list[dict[str, float]]) -> str:
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
            f"{w['human']['votes']:.2f} / {w['human']['battles']:.2f} | "
            f"{w['composite']['votes']:.2f} / {w['composite']['battles']:.2f} | "
            f"{row['load'][0]:.1f} / {row['load'][1]:.1f} |"
        )
    lines += [
        "",
        "What it costs: one more fixed-width column per vote (the battle id, 36 bytes through the driver, hashed on "
        "the Arrow buffers and kept as a 4-byte code) and a few bincounts per view; nothing grows with answer text. "
        "In this fill a judge's verdict is drawn independently of the person's, so counting battles leaves the "
        "widths where they were (to the shown digits): the correction is for correlated votes, and costs nothing "
        "in width where there are none.",
        "",
        f"What it corrects (`agreement_study`, untimed): {args.seeds} simulated arenas of {args.battles:,} battles "
        "each, 20 models 17 Elo apart, 30% ties; a person votes on every battle, and a judge repeats the person's "
        "verdict with the given probability, else draws its own from the same Bradley-Terry model. The composite "
        "(people 1, judge 0.5) as the page shows it; coverage is the share of (model, arena) whose true rating lies "
        "in its 95% interval.",
        "",
        "| Judge repeats the person | Coverage, counting votes | Coverage, counting battles | Width, battles / votes |",
        "|---:|---:|---:|---:|",
    ]
    for study in studies:
        lines.append(
            f"| {study['agreement']:.0%} | {study['coverage_votes']:.1%} | {study['coverage_battles']:.1%} | "
            f"{study['width_ratio']:.2f}x |"
        )
    lines += [
        "",
        "Human-GPT-4 agreement on MT-Bench's votes is about 66% (Zheng et al. 2023): at that rate, intervals that "
        "count votes miss the truth about twice as often as they claim; counting battles restores the stated 95%.",
        "",
    ]
    return "\n".join(lines)


BOOTSTRAP_SECTION = "## Bootstrap that resamples battles"


def bootstrap_report(cost: dict[str, Any], repeats: int) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    battles, votes = cost["seconds"]["battles"], cost["seconds"]["votes"]
    lines = [
        BOOTSTRAP_SECTION,
        "",
        f"Command: `python -m benchmarks.bench_battle_intervals --bootstrap`. {cost['votes']:,} votes among 24 "
        f"models (leaderboard.synthetic, 30% ties): {cost['battles']:,} battles, {cost['shared']:,} of them with a "
        f'second, independently drawn vote. `compute_leaderboard(ci="bootstrap", rounds={cost["rounds"]})` with the '
        "battle ids (battles resampled, each with all its votes) against the same votes without them (votes "
        f"resampled: the baseline), alternating in one process, median of {repeats}. Measured {when} on 2 CPU "
        "cores.",
        "",
        "| Resampled | Wall (s) | Median 95% CI width (Elo) |",
        "|---|---:|---:|",
        f"| votes (baseline) | {votes:.2f} | {cost['width']['votes']:.2f} |",
        f"| battles | {battles:.2f} | {cost['width']['battles']:.2f} |",
        "",
        f"Ratio {battles / votes:.2f}x. The multinomial runs over kinds of battle (outcomes.BattleUnits: battles "
        "whose votes fall in the same pair x outcome x weight cells), so its size does not grow with the battles; "
        "grouping the battles that hold several votes is the added cost. Here the second vote is independent, "
        "so the widths agree; with correlated votes the vote bootstrap is too narrow "
        "(tests/test_ratings_battles.py: sqrt(2) when every vote is repeated).",
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
    parser.add_argument("--seeds", type=int, default=100, help="simulated arenas per agreement rate")
    parser.add_argument("--battles", type=int, default=3000, help="battles per simulated arena")
    parser.add_argument("--bootstrap", action="store_true", help="only the bootstrap: battles against votes")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not touch BENCHMARKS.md")
    args = parser.parse_args()
    if args.bootstrap:
        section = bootstrap_report(bootstrap_cost(1_000_000, 0.25, 1000, args.repeats), args.repeats)
        print(section)
        if not args.no_write:
            write_section(REPO / "BENCHMARKS.md", BOOTSTRAP_SECTION, section)
        return
    rows = run(args)
    studies = [agreement_study(agreement, args.seeds, args.battles) for agreement in (0.0, 0.5, 0.66, 0.8, 1.0)]
    section = report(args, rows, studies)
    print(section)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", SECTION, section)


if __name__ == "__main__":
    sys.exit(main())
