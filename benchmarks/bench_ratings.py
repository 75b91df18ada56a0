"""Benchmark: Bradley-Terry fit + 1,000-round bootstrap + sandwich intervals on a million synthetic votes.

Ours (leaderboard.outcomes / fit) against three ways of getting the same ratings and bootstrap intervals,
all run in this script on the same data:
  (i)   the historical Chatbot Arena method: scikit-learn LogisticRegression refitted each round on the full
        duplicated battle matrix of a resample of the battles (2N x models, dense); a few rounds timed,
        extrapolated to 1,000;
  (ii)  evalica's bradley_terry refitted each round on a resample of the battles; a few rounds, extrapolated;
  (iii) the current Chatbot Arena method (FastChat rating_systems.compute_bootstrap_bt, reimplemented here):
        unique (model_a, model_b, outcome) rows with counts, weighted logistic loss minimised by scipy
        L-BFGS-B, multinomial bootstrap over those rows, one process per core; all 1,000 rounds run.
Data: simulate_battles over 100 models with ratings ~ N(1000, 150^2), ties 30 % of the time at most (about
30,000 unique outcome rows); then 10 million votes for ours, to show the fit does not grow with the votes.
Each method runs in a fresh process (no other method's BLAS threads or memory around), after a warm-up on
20,000 battles. Wall time, CPU time (the process and its children, all threads) and peak traced memory
(tracemalloc, in a separate run so tracing does not slow the timed one) are reported; for (iii) the workers'
memory is the peak of one fit traced in-process, times the number of workers.

    python -m benchmarks.bench_ratings                        # full run, writes BENCHMARKS.md
    python -m benchmarks.bench_ratings --battles 100000 --ten-million 0 --rounds-sklearn 1 --no-write

Run from the repository root (benchmarks is a package there). Needs the dev packages scikit-learn, scipy and
evalica.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import evalica
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from benchmarks.report import write_section
from leaderboard.fit import fit_ratings
from leaderboard.multinomial import multinomial_rounds
from leaderboard.outcomes import count_outcomes
from leaderboard.synthetic import simulate_battles

SECTION = "## Ratings (issue 3)"
ROUNDS = 1000
N_MODELS = 100
ELO_PER_NAT = 400.0 / math.log(10.0)


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


def clock(work: Callable[[], Any]) -> tuple[Any, Timing]:
    """Run work; wall time and CPU time of this process (all threads) plus reaped children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - cpu + (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return result, Timing(wall, cpu)


def traced_peak_mb(work: Callable[[], Any]) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 1e6


def centred(series: pd.Series) -> pd.Series:
    return series - series.mean() + 1000.0


# ---- ours ------------------------------------------------------------------------------------------------


def ours_all(battles: pd.DataFrame, rounds: int = ROUNDS) -> dict[str, Any]:
    """Aggregate, fit + sandwich, fit + bootstrap: every figure of the leaderboard's intervals."""
    counts, aggregate = clock(lambda: count_outcomes(battles))
    sandwich, sandwich_time = clock(lambda: fit_ratings(counts, ci="sandwich"))
    bootstrap, bootstrap_time = clock(lambda: fit_ratings(counts, ci="bootstrap", rounds=rounds, seed=0))
    return {
        "counts": counts,
        "ratings": pd.Series(sandwich.rating, index=list(sandwich.models)),
        "aggregate": aggregate,
        "sandwich": sandwich_time,
        "bootstrap": bootstrap_time,
        "prior_rounds": bootstrap.bootstrap_prior_rounds,
    }


# ---- (iii) FastChat's current method, reimplemented ----------------------------------------------------


def fastchat_rows(battles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Unique (model_a, model_b, outcome) rows with their counts, as FastChat's preprocess_for_bt."""
    n = len(battles)
    codes, models = pd.factorize(pd.concat([battles["model_a"], battles["model_b"]]))
    schedule = np.full((n, 3), 1, dtype=np.int32)
    schedule[:, 0], schedule[:, 1] = codes[:n], codes[n:]
    winner = battles["winner"].to_numpy()
    schedule[winner == "model_a", 2] = 2
    schedule[winner == "model_b", 2] = 0
    unique, counts = np.unique(schedule, return_counts=True, axis=0)
    return unique[:, :2], unique[:, 2].astype(np.float64) / 2.0, counts.astype(np.float64), list(models)


def fastchat_loss(
    ratings: np.ndarray, matchups: np.ndarray, outcomes: np.ndarray, weights: np.ndarray, alpha: float
) -> tuple[float, np.ndarray]:
    pair = ratings[matchups]
    probs = expit(alpha * (pair[:, 0] - pair[:, 1]))
    loss = -((np.log(probs) * outcomes + np.log(1.0 - probs) * (1.0 - outcomes)) * weights).sum()
    per_row = -alpha * (outcomes - probs) * weights
    gradient = np.zeros_like(ratings)
    np.add.at(gradient, matchups, per_row[:, None] * np.array([1.0, -1.0]))
    return loss, gradient


def fastchat_fit(
    matchups: np.ndarray, outcomes: np.ndarray, weights: np.ndarray, n_models: int, alpha: float
) -> np.ndarray:
    result = minimize(
        fastchat_loss,
        np.zeros(n_models),
        args=(matchups, outcomes, weights, alpha),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 100, "gtol": 1e-6},
    )
    return result["x"]


def fastchat_all(battles: pd.DataFrame, rounds: int = ROUNDS) -> tuple[pd.Series, np.ndarray]:
    matchups, outcomes, weights, models = fastchat_rows(battles)
    alpha = math.log(10.0)
    point = fastchat_fit(matchups, outcomes, weights, len(models), alpha)
    draws = np.random.default_rng(0).multinomial(len(battles), weights / weights.sum(), size=rounds)
    fit = partial(fastchat_fit, matchups, outcomes, n_models=len(models), alpha=alpha)
    pool = mp.get_context("fork").Pool(os.cpu_count())
    try:
        results = list(pool.imap_unordered(fit, draws.astype(np.float64) / len(battles)))
    finally:
        pool.close()
        pool.join()  # reaped: their CPU time counts in RUSAGE_CHILDREN
    ratings = pd.Series(point * 400.0 + 1000.0, index=models)
    return ratings, np.array(results) * 400.0 + 1000.0


def fastchat_memory(battles: pd.DataFrame) -> float:
    """Parent's peak (rows, draws, weights) plus one worker fit's peak times the workers."""
    rows = fastchat_rows(battles)
    matchups, outcomes, weights, models = rows

    def parent() -> None:
        fastchat_rows(battles)
        draws = np.random.default_rng(0).multinomial(len(battles), weights / weights.sum(), size=ROUNDS)
        _ = draws.astype(np.float64) / len(battles)

    def worker() -> None:
        fastchat_fit(matchups, outcomes, weights / len(battles), len(models), math.log(10.0))

    return traced_peak_mb(parent) + (os.cpu_count() or 1) * traced_peak_mb(worker)


# ---- (i) the historical sklearn method -------------------------------------------------------------------


def sklearn_fit(battles: pd.DataFrame) -> pd.Series:
    """Logistic regression on every battle twice (a tie: one win each way), as the 2023 Arena notebook."""
    models = pd.concat([battles["model_a"], battles["model_b"]]).unique()
    index = pd.Series(np.arange(len(models)), index=models)
    doubled = pd.concat([battles, battles], ignore_index=True)
    n = len(doubled)
    design = np.zeros((n, len(models)))
    design[np.arange(n), index[doubled["model_a"]].to_numpy()] = math.log(10.0)
    design[np.arange(n), index[doubled["model_b"]].to_numpy()] = -math.log(10.0)
    target = np.zeros(n)
    target[(doubled["winner"] == "model_a").to_numpy()] = 1.0
    ties = doubled["winner"].isin(["tie", "tie (bothbad)"]).to_numpy().copy()
    ties[n // 2 :] = False
    target[ties] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: reported through the rating difference instead
        model = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6).fit(design, target)
    return pd.Series(400.0 * model.coef_[0] + 1000.0, index=models)


def sklearn_round(battles: pd.DataFrame, seed: int) -> pd.Series:
    return sklearn_fit(battles.sample(frac=1.0, replace=True, random_state=seed))


# ---- (ii) evalica ----------------------------------------------------------------------------------------

EVALICA_WINNERS = {"model_a": evalica.Winner.X, "model_b": evalica.Winner.Y, "tie": evalica.Winner.Draw}


def evalica_fit(xs: np.ndarray, ys: np.ndarray, winners: np.ndarray, index: pd.Index) -> pd.Series:
    result = evalica.bradley_terry(xs, ys, winners.tolist(), index=index)
    return pd.Series(400.0 * np.log10(result.scores.astype(float)), index=result.scores.index)


def evalica_round(battles_arrays: tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index], seed: int) -> pd.Series:
    xs, ys, winners, index = battles_arrays
    pick = np.random.default_rng(seed).integers(0, len(xs), len(xs))
    return evalica_fit(xs[pick], ys[pick], winners[pick], index)


# ---- the run ---------------------------------------------------------------------------------------------


def synthetic(n_battles: int) -> pd.DataFrame:
    truth = np.random.default_rng(0).normal(1000.0, 150.0, N_MODELS)
    ratings = {f"model-{i:03d}": float(r) for i, r in enumerate(truth)}
    return simulate_battles(ratings, n_battles, seed=1, tie_share=0.3)


def extrapolate(point: Timing, rounds: list[Timing]) -> tuple[float, float]:
    per_wall = statistics.mean(t.wall for t in rounds)
    per_cpu = statistics.mean(t.cpu for t in rounds)
    return point.wall + ROUNDS * per_wall, point.cpu + ROUNDS * per_cpu


def worker_ours(battles: pd.DataFrame, args: argparse.Namespace) -> dict[str, Any]:
    ours_all(synthetic(20_000), rounds=50)  # warm-up: imports, thread pool, BLAS
    runs = [ours_all(battles) for _ in range(3)]
    totals = [sum(r[k].wall for k in ("aggregate", "sandwich", "bootstrap")) for r in runs]
    middle = runs[int(np.argsort(totals)[1])]
    parts = {k: [middle[k].wall, middle[k].cpu] for k in ("aggregate", "sandwich", "bootstrap")}
    counts = middle["counts"]
    cells = np.concatenate([counts.wins, counts.ties, counts.losses])
    total = int(cells.sum())
    _, numpy_draw = clock(lambda: np.random.default_rng(0).multinomial(total, cells / total, size=ROUNDS))
    _, our_draw = clock(lambda: multinomial_rounds(cells, ROUNDS, seed=0))
    return {
        "wall": sum(v[0] for v in parts.values()),
        "cpu": sum(v[1] for v in parts.values()),
        "parts": parts,
        "draw": {"numpy": [numpy_draw.wall, numpy_draw.cpu], "ours": [our_draw.wall, our_draw.cpu]},
        "walls": totals,
        "peak_mb": traced_peak_mb(lambda: ours_all(battles)),
        "rounds_timed": ROUNDS,
        "ratings": centred(middle["ratings"]).to_dict(),
        "pairs": middle["counts"].n_pairs,
        "prior_rounds": middle["prior_rounds"],
    }


def worker_fastchat(battles: pd.DataFrame, args: argparse.Namespace) -> dict[str, Any]:
    fastchat_all(synthetic(20_000), rounds=4)
    (point, _), timing = clock(lambda: fastchat_all(battles))
    return {
        "wall": timing.wall,
        "cpu": timing.cpu,
        "peak_mb": fastchat_memory(battles),
        "rounds_timed": ROUNDS,
        "ratings": centred(point).to_dict(),
    }


def worker_evalica(battles: pd.DataFrame, args: argparse.Namespace) -> dict[str, Any]:
    arrays = (
        battles["model_a"].to_numpy(object),
        battles["model_b"].to_numpy(object),
        battles["winner"].map(EVALICA_WINNERS).to_numpy(object),
        pd.Index(sorted(set(battles["model_a"]) | set(battles["model_b"]))),
    )
    evalica_round(tuple(a[:20_000] if i < 3 else a for i, a in enumerate(arrays)), 0)  # warm-up
    point, point_time = clock(lambda: evalica_fit(*arrays))
    rounds = [clock(partial(evalica_round, arrays, seed))[1] for seed in range(args.rounds_evalica)]
    wall, cpu = extrapolate(point_time, rounds)
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": traced_peak_mb(lambda: evalica_round(arrays, 99)),
        "rounds_timed": args.rounds_evalica,
        "ratings": centred(point).to_dict(),
    }


def worker_sklearn(battles: pd.DataFrame, args: argparse.Namespace) -> dict[str, Any]:
    sklearn_fit(synthetic(20_000))
    point, point_time = clock(lambda: sklearn_fit(battles))
    rounds = [clock(partial(sklearn_round, battles, seed))[1] for seed in range(args.rounds_sklearn)]
    wall, cpu = extrapolate(point_time, rounds)
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": traced_peak_mb(lambda: sklearn_round(battles, 99)),
        "rounds_timed": args.rounds_sklearn,
        "ratings": centred(point).to_dict(),
    }


WORKERS: dict[str, Callable[[pd.DataFrame, argparse.Namespace], dict[str, Any]]] = {
    "ours": worker_ours,
    "(iii) FastChat L-BFGS-B": worker_fastchat,
    "(ii) evalica": worker_evalica,
    "(i) sklearn, duplicated battles": worker_sklearn,
}


def worker(args: argparse.Namespace) -> None:
    """One method in a fresh process: no other method's threads, memory or caches around."""
    battles = synthetic(args.size)
    result = WORKERS[args.worker](battles, args)
    result["load"] = os.getloadavg()[0]
    if args.worker == "ours":
        result["unique_rows"] = len(battles.groupby(["model_a", "model_b", "winner"]).size())
    print(json.dumps(result))


def in_fresh_process(method: str, size: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.bench_ratings", "--worker", method, "--size", str(size)]
    command += ["--rounds-sklearn", str(args.rounds_sklearn), "--rounds-evalica", str(args.rounds_evalica)]
    load = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_before"] = load
    print(
        f"{method} ({size:,} battles): {result['wall']:.2f} s wall, {result['cpu']:.2f} s CPU, "
        f"{result['peak_mb']:.0f} MB",
        flush=True,
    )
    return result


def run(args: argparse.Namespace) -> str:
    load_start = os.getloadavg()[0]
    results = {method: in_fresh_process(method, args.battles, args) for method in WORKERS}
    big = in_fresh_process("ours", args.ten_million, args) if args.ten_million else None
    return report(args, results, big, load_start, os.getloadavg()[0])


def report(
    args: argparse.Namespace,
    results: dict[str, dict[str, Any]],
    big: dict[str, Any] | None,
    load_start: float,
    load_end: float,
) -> str:
    ours = results["ours"]
    base_ratings = pd.Series(ours["ratings"])
    loads = ", ".join(f"{method.split(' ')[0]} {r['load_before']:.1f}" for method, r in results.items())
    lines = [
        SECTION,
        "",
        f"Command: `python -m benchmarks.bench_ratings`. {args.battles:,} synthetic battles "
        f"(`leaderboard.synthetic.simulate_battles`: {N_MODELS} models, true ratings ~ N(1000, 150²), tie share "
        f"0.3; {ours['unique_rows']:,} unique (model_a, model_b, outcome) rows, {ours['pairs']:,} model pairs). "
        f"Task: Bradley-Terry point estimate plus {ROUNDS:,}-round bootstrap 95% intervals; ours also computes "
        f"the sandwich intervals. Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}; each method in a fresh process on the same "
        f"(seeded) data after a warm-up on 20,000 battles. Load average (1 min): {load_start:.1f} at the start, "
        f"{load_end:.1f} at the end; before each method: {loads}. Wall and CPU seconds (CPU: the process's "
        "threads plus its reaped worker processes); peak memory: tracemalloc peak of the method's own "
        "allocations, input table excluded, in a separate traced run. Ours: median of 3 runs (totals "
        f"{', '.join(f'{w:.2f}' for w in ours['walls'])} s); baselines: one run, rounds beyond those timed "
        "extrapolated from their mean.",
        "",
        "| Method | Rounds timed | Wall (s) | CPU (s) | Peak memory (MB) | Wall vs ours | CPU vs ours "
        "| Memory vs ours | Max rating difference vs ours (Elo) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, r in results.items():
        ratings = pd.Series(r["ratings"])
        difference = (ratings - base_ratings.reindex(ratings.index)).abs().max()
        lines.append(
            f"| {method} | {r['rounds_timed']:,} | {r['wall']:,.2f} | {r['cpu']:,.2f} | {r['peak_mb']:,.0f} | "
            f"{r['wall'] / ours['wall']:,.1f}x | {r['cpu'] / ours['cpu']:,.1f}x | "
            f"{r['peak_mb'] / ours['peak_mb']:,.1f}x | {difference:.2g} |"
        )
    fastchat = results["(iii) FastChat L-BFGS-B"]
    speedup = fastchat["wall"] / ours["wall"]
    lines += [
        "",
        f"Goals: ours under 2 s in total: {'met' if ours['wall'] < 2.0 else 'NOT met'} ({ours['wall']:.2f} s "
        f"wall); at least 7x faster than (iii): {'met' if speedup >= 7 else 'NOT met'} ({speedup:.1f}x wall, "
        f"{fastchat['cpu'] / ours['cpu']:.1f}x CPU). The rating differences come from the baselines' stopping "
        "rules (L-BFGS-B gtol 1e-6 on the mean loss, evalica's default tolerance 1e-6, lbfgs tol 1e-6 in "
        "scikit-learn); ours stops Newton at 2e-8 Elo and agrees with an independent Newton solution to 1e-6.",
        "",
        "Where our time goes (wall / CPU seconds):",
        "",
        "| Battles | Aggregate to pair counts | Fit + sandwich | Fit + 1,000-round bootstrap | Total "
        "| Peak memory (MB) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n, row in ((args.battles, ours), (args.ten_million, big)):
        if row is None:
            continue
        cells = " | ".join(f"{row['parts'][k][0]:.2f} / {row['parts'][k][1]:.2f}" for k in row["parts"])
        lines.append(f"| {n:,} | {cells} | {row['wall']:.2f} / {row['cpu']:.2f} | {row['peak_mb']:,.0f} |")
    lines += [
        "",
        "How: votes are counted per unordered pair x {win, tie, loss} first (the only step that grows with the "
        "votes), so the fit sees at most 4,950 pairs whatever the number of battles. The multinomial resample "
        "of those counts is drawn for all rounds as independent Poisson counts completed to exactly N votes "
        "(the same law as numpy's multinomial), in blocks of 125 rounds on two threads: "
        f"{ours['draw']['ours'][0]:.2f} s wall / {ours['draw']['ours'][1]:.2f} s CPU for the 1,000 rounds at "
        f"{args.battles:,} battles, against {ours['draw']['numpy'][0]:.2f} s for numpy's Generator.multinomial. "
        "Every round is refitted from the full fit by chord iterations (Newton steps reusing the full fit's "
        "inverse Hessian; the mean strength is fixed by adding J/n rather than pinning a model), one gather and "
        "one bincount per step, no BLAS threads; rounds where the chord stalls finish with batched Newton. So "
        f"drawing is {ours['draw']['ours'][1] / ours['parts']['bootstrap'][1]:.0%} of the bootstrap's CPU time "
        "and the refits the rest. evalica's solver is Rust: tracemalloc does not see its memory.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--ten-million", type=int, default=10_000_000, help="second size for ours (0: skip)")
    parser.add_argument("--rounds-sklearn", type=int, default=2)
    parser.add_argument("--rounds-evalica", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    section = run(args)
    print(section)
    if not args.no_write:
        write_section(Path("BENCHMARKS.md"), SECTION, section)


if __name__ == "__main__":
    main()
