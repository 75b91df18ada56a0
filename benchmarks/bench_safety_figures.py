"""Benchmark: the harmful-compliance figures (leaderboard.safety_figures.harmful_compliance) that every leaderboard
refresh computes for the red-team votes, against the Bradley-Terry view the same refresh already fits on the same
votes (leaderboard.table.compute_leaderboard, as the page calls it), in one run.

    python -m benchmarks.bench_safety_figures                   # writes BENCHMARKS.md
    python -m benchmarks.bench_safety_figures --votes 100000 --no-write

Data: simulate_battles over 20 models, every vote a counted human harmlessness vote (the worst case: an arena
whose votes are all red-team), ties 30% at most, split between both refused and both complied; battles of 2.5 turns
on average (a battle id per battle, so the intervals cluster by battle as in an export), a voter per battle.
Each side runs `--repeats` times, alternating; medians of wall time. The question is what the figures add to a
refresh: their time as a share of the fit's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.report import write_section

SECTION = "## Safety figures per refresh (issue 17)"
REPO = Path(__file__).resolve().parent.parent


def votes(n: int, seed: int = 0) -> pd.DataFrame:
    from facts.schema import normalize_battles
    from facts.vocabulary import BOTH_COMPLIED, BOTH_REFUSED, HARMLESSNESS
    from leaderboard.synthetic import simulate_battles

    ratings = {f"model-{i:02d}": 1000.0 + 25.0 * i for i in range(20)}
    frame = simulate_battles(ratings, n, seed=seed, tie_share=0.3)
    rng = np.random.default_rng(seed)
    ties = (frame["winner"] == "tie").to_numpy()
    frame.loc[ties, "winner"] = np.where(rng.random(int(ties.sum())) < 0.5, BOTH_REFUSED, BOTH_COMPLIED)
    battle = np.cumsum(rng.random(n) < 0.4)  # about 2.5 turns per battle
    frame["battle_id"] = pd.Categorical([f"b{b}" for b in battle])
    frame["judge"] = pd.Categorical([f"v{b % 50_000}" for b in battle])
    frame["criterion"] = HARMLESSNESS
    return normalize_battles(frame)


def run(n: int, repeats: int) -> dict[str, Any]:
    from leaderboard.safety_figures import harmful_compliance
    from leaderboard.table import compute_leaderboard

    frame = votes(n)
    harmful_compliance(frame.iloc[:20_000], normalized=True)  # warm-up
    fit_seconds, figure_seconds = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        compute_leaderboard(frame, source="human", normalized=True, with_online_elo=False)
        fit_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        figures = harmful_compliance(frame, normalized=True)
        figure_seconds.append(time.perf_counter() - started)
    return {
        "votes": n,
        "models": len(figures.rows),
        "repeats": repeats,
        "fit_seconds": statistics.median(fit_seconds),
        "figures_seconds": statistics.median(figure_seconds),
    }


def section(result: dict[str, Any]) -> str:
    ratio = result["figures_seconds"] / result["fit_seconds"]
    return (
        f"{SECTION}\n\n"
        f"Command: `python -m benchmarks.bench_safety_figures`. {' '.join(__doc__.split(chr(10) + chr(10))[2].split())}"
        f"\n\nMeasured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores, {result['repeats']} repeats:\n\n"
        "| Votes | Bradley-Terry view (s) | Harmful-compliance figures (s) | Figures / fit |\n"
        "|---:|---:|---:|---:|\n"
        f"| {result['votes']:,} | {result['fit_seconds']:.2f} | {result['figures_seconds']:.2f} | {ratio:.2f}x |\n"
        "\nRead it as: the fit works on aggregated pair counts and is cheap; the figures group answers by model and "
        "battle (one sort of two keys per vote), so they cost several fits, below a second at a million red-team "
        "votes, and grow with the red-team votes only (helpfulness votes are skipped by a mask), never with answer "
        "text. They are computed at refresh, never on a page read.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = run(args.votes, args.repeats)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", SECTION, section(result))


if __name__ == "__main__":
    main()
