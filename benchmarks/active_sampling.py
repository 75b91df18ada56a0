"""Benchmark (issue 20): votes until every model's 95% interval is narrower than a target, uniform against active
pair sampling (arena.active_sampling), in a simulated arena; and the coverage of the intervals when it stops.

Truth: 20 models whose true ratings are the LLMFAO crowd fit (../shared/data/llmfao/crowd-comparisons.csv, all
8,931 human votes, leaderboard.fit.fit_ratings; 59 models, 846 to 1172 Elo) thinned to 20: the models at 20
evenly spaced ranks (1st, 4th, ..., 59th), so the spread and the shape of the real crowd's ratings are kept.
Outcomes are Bradley-Terry with ties as leaderboard.synthetic: P(tie) = 2 s min(p, 1 - p), a tie worth half a win,
s set so that ties are LLMFAO's observed crowd share (38.9 % of votes) under uniform pairs.

Policies, all with the same uniform floor (P = floor * uniform + (1 - floor) * P_rule; burn-in: see arrival):
  uniform   every pair equally likely (the baseline: what the arena does today);
  paper     Chatbot Arena's Eq. 9 (arena.active_sampling, rule="paper", with the pairs' vote counts);
  ours      arena.active_sampling, rule="ours".
Votes arrive in refreshes of --refresh votes: before each, the policy's probabilities are recomputed from a refit
of the votes so far, as production re-reads its leaderboard snapshot (refreshed every minute) for the standings.
Every vote is weighted by inverse propensity, facts.propensity.inverse_propensity_weights (uniform / drawn pair
probability), so a uniform vote weighs 1.

After every --check votes the votes so far are refitted twice: weighted (the target's estimand: every pair
equally likely) and unweighted (plain maximum likelihood, also consistent here since the simulated truth is
Bradley-Terry). A run stops, for each fit, at the first check where every model's sandwich 95% interval has
half-width <= --target Elo points. Reported per policy over --seeds seeds: votes to target (mean, 95% interval of
the mean), reduction against uniform (1 - mean / uniform's mean; bootstrap 95% interval over seeds), and the
coverage at the stopping point: the share of models whose true rating (mean gauge, as the fit) lies in its
interval, averaged over seeds.

Weighted fit: the core's (leaderboard.fit.fit_ratings on weighted PairCounts: sums of weights and of squared
weights per pair and outcome, the weighted sandwich), built here straight from the simulated tallies; the tests
check it equals count_outcomes(battles, weights=...) on the same votes.
--stretch s multiplies the true ratings' distances to their mean by s (1: LLMFAO's spread, 326 Elo; 1.7: about
550 Elo, roughly the spread of Chatbot Arena's public leaderboard), to see how the gain depends on the spread.

--scenario arrival: models joining an established arena (its normal life) instead of all starting together
(cold-start, the default). --arrivals k models (default 1) arrive, at true ranks drawn per seed (--newcomer random)
or fixed (top, middle, bottom: k consecutive ranks). Per seed, before the arrival, the other 20 - k incumbents
have a history identical for every policy: uniform pairs among the incumbents only (weight 1: drawn uniformly from
their pool), checked every --check votes until every incumbent's weighted interval, in a fit of the incumbents
alone, is within the target, then --established times as many votes in all (default 1: just at the target). Then
the newcomers arrive (pool of 20; their pairs have no votes; the sampler's first standings are the incumbents'
fit, without the newcomers) and votes are counted from the arrival until every model's interval, the newcomers'
included, is within the target. Also reported: the share of those votes that involve a newcomer, the newcomers'
coverage, and the votes until the newcomers alone are within the target (weighted). A fourth policy, burn-in, is
production's burn-in over uniform pairs (arena.sampling.BurnIn defaults: a quarter of the battles feature an
unsettled newcomer, fewer than 300 counted votes and an interval wider than 60 points, against any other model,
since its base is not in the pool here; the rest uniform).

    python -m benchmarks.active_sampling --out /work/notes/issue20-full.json     # full: 40 seeds, +-25 Elo, ~30 s
    python -m benchmarks.active_sampling --scenario arrival --out arrival.json    # 40 seeds, ~20 s; --arrivals 3
    python -m benchmarks.active_sampling --quick --out /tmp/quick.json           # CI size: 4 seeds, +-60, ~2 s
    python -m benchmarks.active_sampling --seeds 20 --floor 0.2 --refresh 500 --out x.csv

Run from the repository root (benchmarks is a package there). Only numpy and pandas; one process.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from arena.active_sampling import pair_probabilities
from arena.sampling import BurnIn
from facts.propensity import inverse_propensity_weights
from leaderboard import outcomes
from leaderboard.fit import RatingFit, fit_ratings
from leaderboard.intervals import Z95
from leaderboard.outcomes import PairCounts
from leaderboard.scale import INITIAL

REPO = Path(__file__).resolve().parent.parent
LLMFAO = REPO.parent / "shared" / "data" / "llmfao" / "crowd-comparisons.csv"
LLMFAO_TIE_SHARE = 0.3886  # 3,471 of LLMFAO's 8,931 crowd votes are ties
POLICIES = ("uniform", "paper", "ours", "burn-in")  # burn-in: the arrival scenario only
BURN_IN = BurnIn()  # production's burn-in of new contenders (arena.sampling): share 0.25 while unsettled
N_MODELS = 20


# --- the simulated arena ----------------------------------------------------------------------------------------


def llmfao_ratings(path: Path = LLMFAO, n_models: int = N_MODELS) -> dict[str, float]:
    """True ratings: the LLMFAO crowd fit thinned to n_models models at evenly spaced ranks (mean 1000)."""
    votes = pd.read_csv(path)
    battles = pd.DataFrame(
        {
            "model_a": votes["left"].astype(str),
            "model_b": votes["right"].astype(str),
            "winner": votes["winner"].map({"left": "model_a", "right": "model_b", "tie": "tie"}),
        }
    )
    fit = fit_ratings(outcomes.count_outcomes(battles))
    order = np.argsort(-fit.rating, kind="stable")
    chosen = order[np.unique(np.round(np.linspace(0, len(order) - 1, n_models)).astype(int))]
    ratings = fit.rating[chosen]
    ratings = ratings - ratings.mean() + INITIAL
    return {fit.models[i]: float(r) for i, r in zip(chosen, ratings, strict=True)}


@dataclass(frozen=True)
class Arena:
    names: tuple[str, ...]  # sorted
    true: np.ndarray  # Elo, mean INITIAL (the fit's mean gauge)
    first: np.ndarray  # pair index -> model index, first < second, in the order of itertools.combinations
    second: np.ndarray
    outcome: np.ndarray  # (pairs, 3): P(first wins), P(tie), P(second wins)
    pairs: tuple[tuple[str, str], ...]

    @property
    def n_pairs(self) -> int:
        return len(self.first)


def make_arena(ratings: dict[str, float], tie_share: float = LLMFAO_TIE_SHARE, stretch: float = 1.0) -> Arena:
    names = tuple(sorted(ratings))
    true = np.array([ratings[n] for n in names])
    true = stretch * (true - true.mean()) + INITIAL
    pairs = tuple(combinations(names, 2))
    first = np.array([names.index(a) for a, _ in pairs])
    second = np.array([names.index(b) for _, b in pairs])
    p = 1.0 / (1.0 + 10.0 ** ((true[second] - true[first]) / 400.0))
    closeness = 2.0 * np.minimum(p, 1.0 - p)
    s = min(tie_share / closeness.mean(), 1.0)  # the tie share of uniform pairs is tie_share
    tie = s * closeness
    outcome = np.stack([p - tie / 2.0, tie, 1.0 - p - tie / 2.0], axis=1)
    return Arena(names, true, first, second, outcome, pairs)


# --- fits -------------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Per pair and outcome (first wins, tie, second wins): votes, sum of weights, sum of squared weights."""

    votes: np.ndarray
    weights: np.ndarray
    squares: np.ndarray

    @classmethod
    def empty(cls, n_pairs: int) -> Tally:
        return cls(np.zeros((n_pairs, 3)), np.zeros((n_pairs, 3)), np.zeros((n_pairs, 3)))

    def copy(self) -> Tally:
        return Tally(self.votes.copy(), self.weights.copy(), self.squares.copy())

    def add(self, counts: np.ndarray, weight: np.ndarray) -> None:
        self.votes += counts
        self.weights += counts * weight[:, None]
        self.squares += counts * (weight**2)[:, None]


def _subset(arena: Arena, present: np.ndarray | None) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(names, position of each arena model among them (-1: absent), pairs within them) of the models present."""
    if present is None:
        return arena.names, np.arange(len(arena.names)), np.ones(arena.n_pairs, dtype=bool)
    position = np.where(present, np.cumsum(present) - 1, -1)
    names = tuple(n for n, keep in zip(arena.names, present, strict=True) if keep)
    return names, position, present[arena.first] & present[arena.second]


def _pair_counts(arena: Arena, cells: np.ndarray, present: np.ndarray | None = None) -> PairCounts | None:
    """PairCounts of the pairs with votes, over all models (or the models `present`: a fit of those alone); None
    while one of them has no vote (no full fit)."""
    names, position, inside = _subset(arena, present)
    rows = np.flatnonzero((cells.sum(axis=1) > 0) & inside)
    seen = np.zeros(len(names), dtype=bool)
    seen[position[arena.first[rows]]] = seen[position[arena.second[rows]]] = True
    if not seen.all():
        return None
    return PairCounts(
        models=names,
        first=position[arena.first[rows]],
        second=position[arena.second[rows]],
        wins=cells[rows, 0],
        ties=cells[rows, 1],
        losses=cells[rows, 2],
    )


def weighted_fit(arena: Arena, tally: Tally, present: np.ndarray | None = None) -> RatingFit | None:
    """The weighted fit of the core (leaderboard.fit on weighted PairCounts: sums of weights, of squared weights,
    and the plain counts, as outcomes.count_outcomes(battles, weights=...) builds them)."""
    plain = _pair_counts(arena, tally.votes, present)
    if plain is None:
        return None
    _, position, inside = _subset(arena, present)
    rows = np.flatnonzero((tally.votes.sum(axis=1) > 0) & inside)
    w, sq = tally.weights[rows], tally.squares[rows]
    counts = PairCounts(
        models=plain.models, first=position[arena.first[rows]], second=position[arena.second[rows]],
        wins=w[:, 0], ties=w[:, 1], losses=w[:, 2], wins_sq=sq[:, 0], ties_sq=sq[:, 1], losses_sq=sq[:, 2],
        observed=plain,
    )  # fmt: skip
    return fit_ratings(counts)


def weighted_battles(arena: Arena, history: list[tuple[np.ndarray, np.ndarray]]) -> tuple[pd.DataFrame, np.ndarray]:
    """The simulated votes as battle rows with their weights (for count_outcomes(battles, weights=...))."""
    labels = np.array(["model_a", "tie", "model_b"], dtype=object)
    model_a, model_b, winner, weights = [], [], [], []
    for counts, weight in history:
        pair, cell = np.nonzero(counts)
        repeat = counts[pair, cell].astype(int)
        model_a.append(np.repeat(arena.first[pair], repeat))
        model_b.append(np.repeat(arena.second[pair], repeat))
        winner.append(np.repeat(labels[cell], repeat))
        weights.append(np.repeat(weight[pair], repeat))
    categories = list(arena.names)
    battles = pd.DataFrame(
        {
            "model_a": pd.Categorical.from_codes(np.concatenate(model_a), categories=categories),
            "model_b": pd.Categorical.from_codes(np.concatenate(model_b), categories=categories),
            "winner": np.concatenate(winner),
        }
    )
    return battles, np.concatenate(weights)


def unweighted_fit(arena: Arena, tally: Tally) -> RatingFit | None:
    counts = _pair_counts(arena, tally.votes)
    return None if counts is None else fit_ratings(counts)


def _fitted(fit: RatingFit | None) -> bool:
    return fit is not None and not fit.prior.any() and len(set(fit.part.tolist())) == 1


def half_widths(fit: RatingFit) -> np.ndarray:
    return (fit.upper - fit.lower) / 2.0


def reached(fit: RatingFit | None, target: float, models: np.ndarray | None = None) -> bool:
    """Whether every model's (or every model in the mask `models`') 95% interval has half-width <= target."""
    if not _fitted(fit):
        return False
    half = half_widths(fit)  # type: ignore[arg-type]
    half = half if models is None else half[models]
    return bool(np.all(np.isfinite(half)) and half.max() <= target)


def covered(fit: RatingFit, arena: Arena) -> np.ndarray:
    return (fit.lower <= arena.true) & (arena.true <= fit.upper)


def coverage(fit: RatingFit, arena: Arena) -> float:
    return float(np.mean(covered(fit, arena)))


# --- arrival: models joining an established arena ----------------------------------------------------------------


@dataclass
class History:
    """The established arena at the arrival of the new models (identical for every policy of a seed)."""

    new: np.ndarray  # bool per model: the arriving ones
    tally: Tally  # the incumbents' votes (uniform among them, weight 1)
    snapshot: RatingFit  # the incumbents' weighted fit at the arrival: the sampler's first standings
    votes: int


def arriving(arena: Arena, seed: int, count: int, where: str) -> np.ndarray:
    """Which models arrive: `count` of them, drawn per seed ("random") or at given true ranks (top, middle,
    bottom: consecutive ranks)."""
    n = len(arena.names)
    order = np.argsort(-arena.true, kind="stable")  # rank order, best first
    if not 0 < count < n - 1:
        raise ValueError(f"arrivals must leave at least 2 incumbents: 0 < arrivals < {n - 1}")
    if where == "random":
        chosen = np.random.default_rng([seed, 2000]).choice(n, count, replace=False)
    elif where == "top":
        chosen = order[:count]
    elif where == "middle":
        chosen = order[(n - count) // 2 : (n - count) // 2 + count]
    elif where == "bottom":
        chosen = order[n - count :]
    else:
        raise ValueError(f"unknown newcomer placement {where!r}")
    new = np.zeros(n, dtype=bool)
    new[chosen] = True
    return new


def true_ranks(arena: Arena) -> np.ndarray:
    """1 = the best true rating."""
    ranks = np.empty(len(arena.names), dtype=int)
    ranks[np.argsort(-arena.true, kind="stable")] = np.arange(1, len(arena.names) + 1)
    return ranks


def establish(arena: Arena, new: np.ndarray, seed: int, *, target: float, check: int, established: float,
              max_votes: int) -> History:  # fmt: skip
    """The incumbents' history: uniform pairs among the incumbents only (weight 1: pool of the incumbents),
    checked every `check` votes until every incumbent's interval (a fit of the incumbents alone) is within the
    target, then `established` times as many votes in all (1: just at the target)."""
    rng = np.random.default_rng([seed, 1000])
    incumbents = ~new
    inside = incumbents[arena.first] & incumbents[arena.second]
    q = inside / inside.sum()
    ones = np.ones(arena.n_pairs)
    tally, votes, fit = Tally.empty(arena.n_pairs), 0, None
    while not reached(fit, target):
        if votes >= max_votes:
            raise RuntimeError(f"the incumbents did not reach ±{target:g} within {max_votes:,} votes")
        tally.add(rng.multinomial(rng.multinomial(check, q), arena.outcome).astype(float), ones)
        votes += check
        fit = weighted_fit(arena, tally, incumbents)
    extra = round((established - 1.0) * votes / check) * check
    if extra > 0:
        tally.add(rng.multinomial(rng.multinomial(extra, q), arena.outcome).astype(float), ones)
        votes += extra
        fit = weighted_fit(arena, tally, incumbents)
    assert fit is not None
    return History(new, tally, fit, votes)


# --- one run ----------------------------------------------------------------------------------------------------


@dataclass
class Run:
    policy: str
    seed: int
    votes_weighted: float  # votes until every weighted interval is within the target (NaN: not within the cap)
    coverage_weighted: float
    votes_unweighted: float
    coverage_unweighted: float
    max_weight: float  # the largest inverse-propensity weight given to a vote
    # arrival only (NaN / "" in cold start); votes are counted from the arrival
    newcomers: str = ""  # the arriving models, comma-separated
    newcomer_ranks: str = ""  # their true ranks (1 = best)
    history_votes: float = math.nan  # the incumbents' votes before the arrival
    new_share_weighted: float = math.nan  # share of the votes up to the weighted stop that involve a newcomer
    new_share_unweighted: float = math.nan
    new_covered_weighted: float = math.nan  # share of the newcomers whose interval covers their true rating
    new_covered_unweighted: float = math.nan
    new_ready_weighted: float = math.nan  # votes until the newcomers' own weighted intervals are within the target


def _standings(arena: Arena, fit: RatingFit | None, tally: Tally) -> dict[str, tuple[int, float, float]]:
    """What the sampler reads from the snapshot: (counted votes, lower, upper) of every model the fit has."""
    if fit is None:
        return {}
    votes = tally.votes.sum(axis=1)
    n = len(arena.names)
    per_model = np.bincount(arena.first, votes, n) + np.bincount(arena.second, votes, n)
    index = {m: k for k, m in enumerate(arena.names)}
    return {m: (int(per_model[index[m]]), float(fit.lower[k]), float(fit.upper[k])) for k, m in enumerate(fit.models)}


def burn_in_probabilities(arena: Arena, standings: dict, new: np.ndarray | None) -> np.ndarray:
    """Production's burn-in over uniform pairs (arena.sampling, BurnIn defaults): while a newcomer is unsettled
    (fewer than min_votes counted votes and an interval wider than max_interval in the snapshot), a share of the
    battles feature one of the unsettled newcomers (each equally likely) against any other model, each equally
    likely (its base is not in the pool here, so none of them is against a base); the rest are uniform."""
    uniform = np.full(arena.n_pairs, 1.0 / arena.n_pairs)
    if new is None:
        return uniform
    unsettled = []
    for k in np.flatnonzero(new):
        votes, lower, upper = standings.get(arena.names[k], (0, math.nan, math.nan))
        if votes < BURN_IN.min_votes and not upper - lower <= BURN_IN.max_interval:
            unsettled.append(k)
    if not unsettled:
        return uniform
    burn = np.zeros(arena.n_pairs)
    for k in unsettled:
        burn += ((arena.first == k) | (arena.second == k)) / (len(unsettled) * (len(arena.names) - 1))
    return BURN_IN.share * burn + (1.0 - BURN_IN.share) * uniform


def policy_probabilities(policy: str, arena: Arena, fit: RatingFit | None, tally: Tally, floor: float,
                         target: float, new: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    if policy == "uniform":
        return np.full(arena.n_pairs, 1.0 / arena.n_pairs)
    standings = _standings(arena, fit, tally)
    if policy == "burn-in":
        return burn_in_probabilities(arena, standings, new)
    pair_votes = {pair: int(v) for pair, v in zip(arena.pairs, tally.votes.sum(axis=1), strict=True)}
    q = pair_probabilities(arena.names, standings, floor=floor, rule=policy, pair_votes=pair_votes)
    return np.array([q[pair] for pair in arena.pairs])


def simulate(policy: str, arena: Arena, seed: int, *, target: float, floor: float, refresh: int, check: int,
             max_votes: int, start: History | None = None) -> Run:  # fmt: skip
    """One run from no votes (cold start) or from an established history (`start`: arrival); votes are counted
    from the start of the run."""
    rng = np.random.default_rng([seed, POLICIES.index(policy) if policy in POLICIES else 99])
    tally = start.tally.copy() if start else Tally.empty(arena.n_pairs)
    new = start.new if start else None
    new_pairs = (new[arena.first] | new[arena.second]) if new is not None else np.zeros(arena.n_pairs, dtype=bool)
    pool = np.full(arena.n_pairs, len(arena.names))
    result: dict[str, dict[str, float]] = {}
    snapshot: RatingFit | None = None  # the standings the sampler reads: the weighted fit at the last refresh
    weighted: RatingFit | None = start.snapshot if start else None
    max_weight, votes, with_new, new_ready = 0.0, 0, 0.0, math.nan
    while votes < max_votes and len(result) < 2:
        if votes % refresh == 0:
            snapshot = weighted
            q = policy_probabilities(policy, arena, snapshot, tally, floor, target, new)
            weight = inverse_propensity_weights(q, pool)
        counts = rng.multinomial(rng.multinomial(check, q), arena.outcome).astype(float)
        tally.add(counts, weight)
        max_weight = max(max_weight, float(weight[counts.sum(axis=1) > 0].max()))
        with_new += float(counts[new_pairs].sum())
        votes += check
        weighted = weighted_fit(arena, tally)
        if new is not None and math.isnan(new_ready) and reached(weighted, target, new):
            new_ready = float(votes)
        for name in ("weighted", "unweighted"):
            if name in result:
                continue
            fit = weighted if name == "weighted" else unweighted_fit(arena, tally)
            if reached(fit, target):
                assert fit is not None
                inside = covered(fit, arena)
                result[name] = {
                    "votes": float(votes),
                    "coverage": float(inside.mean()),
                    "new_share": with_new / votes if new is not None else math.nan,
                    "new_covered": float(inside[new].mean()) if new is not None else math.nan,
                }
    missing = dict.fromkeys(("votes", "coverage", "new_share", "new_covered"), math.nan)
    w, u = result.get("weighted", missing), result.get("unweighted", missing)
    ranks = true_ranks(arena)
    return Run(
        policy, seed, w["votes"], w["coverage"], u["votes"], u["coverage"], max_weight,
        newcomers=",".join(arena.names[k] for k in np.flatnonzero(new)) if new is not None else "",
        newcomer_ranks=",".join(str(ranks[k]) for k in np.flatnonzero(new)) if new is not None else "",
        history_votes=float(start.votes) if start else math.nan,
        new_share_weighted=w["new_share"], new_share_unweighted=u["new_share"],
        new_covered_weighted=w["new_covered"], new_covered_unweighted=u["new_covered"],
        new_ready_weighted=new_ready,
    )  # fmt: skip


# --- summary ----------------------------------------------------------------------------------------------------


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    half = Z95 * x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else math.nan
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def reduction_interval(active: np.ndarray, uniform: np.ndarray, rounds: int = 2000) -> tuple[float, float, float]:
    """1 - mean(active) / mean(uniform), with a bootstrap 95% interval resampling the seeds of each."""
    active, uniform = active[np.isfinite(active)], uniform[np.isfinite(uniform)]
    if len(active) == 0 or len(uniform) == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(0)
    a = rng.choice(active, (rounds, len(active))).mean(axis=1)
    u = rng.choice(uniform, (rounds, len(uniform))).mean(axis=1)
    low, high = np.quantile(1.0 - a / u, [0.025, 0.975])
    return float(1.0 - active.mean() / uniform.mean()), float(low), float(high)


@dataclass
class Summary:
    policy: str
    fit: str  # which intervals decide the stop: "weighted" or "unweighted"
    seeds: int
    stopped: int  # seeds that reached the target within the cap
    votes_mean: float
    votes_low: float
    votes_high: float
    reduction: float
    reduction_low: float
    reduction_high: float
    coverage: float
    coverage_low: float
    coverage_high: float
    max_weight: float
    # arrival only (NaN in cold start)
    new_share: float = math.nan  # share of the votes from the arrival to the stop that involve a newcomer
    new_share_low: float = math.nan
    new_share_high: float = math.nan
    new_coverage: float = math.nan  # share of the newcomers' intervals covering their true rating at the stop
    new_ready: float = math.nan  # votes until the newcomers' own weighted intervals are within the target
    new_ready_low: float = math.nan
    new_ready_high: float = math.nan


def summarise(runs: list[Run]) -> list[Summary]:
    rows = []
    for fit in ("weighted", "unweighted"):
        uniform = np.array([getattr(r, f"votes_{fit}") for r in runs if r.policy == "uniform"])
        for policy in dict.fromkeys(r.policy for r in runs):
            mine = [r for r in runs if r.policy == policy]
            votes = np.array([getattr(r, f"votes_{fit}") for r in mine])
            cover = [getattr(r, f"coverage_{fit}") for r in mine]
            share = mean_interval([getattr(r, f"new_share_{fit}") for r in mine])
            ready = mean_interval([r.new_ready_weighted for r in mine]) if fit == "weighted" else (math.nan,) * 3
            rows.append(
                Summary(
                    policy,
                    fit,
                    len(mine),
                    int(np.isfinite(votes).sum()),
                    *mean_interval(votes),
                    *reduction_interval(votes, uniform),
                    *mean_interval(cover),
                    max(r.max_weight for r in mine),
                    *share,
                    mean_interval([getattr(r, f"new_covered_{fit}") for r in mine])[0],
                    *ready,
                )
            )
    return rows


def table(rows: list[Summary], target: float) -> str:
    arrival = any(math.isfinite(r.new_share) for r in rows)
    extra_head = " votes with a newcomer (95% CI) | newcomers within target after |" if arrival else ""
    lines = [
        f"| policy | intervals | votes to ±{target:g} Elo (mean, 95% CI) | vs uniform (95% CI) | coverage (95% CI) "
        "| seeds stopped | max weight |" + extra_head,
        "|---|---|---|---|---|---|---|" + ("---|---|" if arrival else ""),
    ]
    for r in rows:
        extra = ""
        if arrival:
            ready = (
                f"{r.new_ready:,.0f} ({r.new_ready_low:,.0f}–{r.new_ready_high:,.0f})" if r.fit == "weighted" else ""
            )
            extra = f" {100 * r.new_share:.1f} % ({100 * r.new_share_low:.1f}–{100 * r.new_share_high:.1f}) | {ready} |"
        lines.append(
            f"| {r.policy} | {r.fit} | {r.votes_mean:,.0f} ({r.votes_low:,.0f}–{r.votes_high:,.0f}) "
            f"| {-100 * r.reduction:+.1f} % ({-100 * r.reduction_high:+.1f} to {-100 * r.reduction_low:+.1f} %) "
            f"| {100 * r.coverage:.1f} % ({100 * r.coverage_low:.1f}–{100 * r.coverage_high:.1f}) "
            f"| {r.stopped}/{r.seeds} | {r.max_weight:.2f} |" + extra
        )
    return "\n".join(lines)


SCENARIOS = ("cold-start", "arrival")
PLACEMENTS = ("random", "top", "middle", "bottom")


@dataclass
class Config:
    seeds: int = 40
    target: float = 25.0
    floor: float = 0.1
    refresh: int = 200
    check: int = 50
    max_votes: int = 100_000
    policies: tuple[str, ...] = POLICIES[:3]
    stretch: float = 1.0
    quick: bool = False
    scenario: str = "cold-start"
    arrivals: int = 1  # arrival: how many models arrive (the rest are the incumbents)
    newcomer: str = "random"  # arrival: which true ratings arrive (PLACEMENTS)
    established: float = 1.0  # arrival: the incumbents' history, in multiples of the votes that reach the target


QUICK = {"seeds": 4, "target": 60.0, "refresh": 100, "check": 25, "max_votes": 20_000}


def run(config: Config, arena: Arena | None = None, *, log: bool = False) -> tuple[list[Run], list[Summary], dict]:
    if config.scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}")
    if config.scenario == "cold-start" and "burn-in" in config.policies:
        raise ValueError("burn-in needs newcomers: scenario arrival")
    arena = arena or make_arena(llmfao_ratings(), stretch=config.stretch)
    runs: list[Run] = []
    history: list[int] = []
    started = time.perf_counter()
    for seed in range(config.seeds):
        start = None
        if config.scenario == "arrival":
            new = arriving(arena, seed, config.arrivals, config.newcomer)
            start = establish(arena, new, seed, target=config.target, check=config.check,
                              established=config.established, max_votes=config.max_votes)  # fmt: skip
            history.append(start.votes)
        for policy in config.policies:
            runs.append(simulate(policy, arena, seed, target=config.target, floor=config.floor,
                                 refresh=config.refresh, check=config.check, max_votes=config.max_votes,
                                 start=start))  # fmt: skip
        if log:
            print(f"seed {seed + 1}/{config.seeds} done, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    meta = {
        "weighted_fit": "core: leaderboard.fit.fit_ratings on weighted PairCounts (weighted sandwich)",
        "models": len(arena.names),
        "true_ratings": dict(zip(arena.names, np.round(arena.true, 1).tolist(), strict=True)),
        "tie_share_uniform": float((arena.outcome[:, 1]).mean()),
        "seconds": round(time.perf_counter() - started, 1),
        "config": asdict(config),
    }  # fmt: skip
    if history:
        meta["history_votes_mean"] = float(np.mean(history))
    return runs, summarise(runs), meta


def write(path: Path, runs: list[Run], rows: list[Summary], meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
            writer.writeheader()
            writer.writerows(asdict(r) for r in rows)
        return
    path.write_text(json.dumps({"meta": meta, "summary": [asdict(r) for r in rows], "runs": [asdict(r) for r in runs]},
                               indent=1, allow_nan=True))  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    quick = ", ".join(f"{k}={v}" for k, v in QUICK.items())
    parser.add_argument("--quick", action="store_true", help=f"CI size: {quick}")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--target", type=float, help="half-width of the 95%% interval, Elo points (default 25)")
    parser.add_argument("--floor", type=float, help="uniform floor mixed into every policy (default 0.1)")
    parser.add_argument("--refresh", type=int, help="votes between recomputations of the policy (default 200)")
    parser.add_argument("--check", type=int, help="votes between stopping checks (default 50; divides --refresh)")
    parser.add_argument("--max-votes", type=int)
    parser.add_argument("--stretch", type=float, help="scale the true ratings' spread (default 1: LLMFAO's)")
    parser.add_argument("--policies", nargs="+", choices=POLICIES)
    parser.add_argument("--scenario", choices=SCENARIOS, default="cold-start",
                        help="cold-start: all models start with no votes (default); arrival: models join an "
                             "established arena")  # fmt: skip
    parser.add_argument("--arrivals", type=int, help="arrival: how many models arrive (default 1)")
    parser.add_argument("--newcomer", choices=PLACEMENTS,
                        help="arrival: the arriving models' true ranks, drawn per seed (default) or fixed")  # fmt: skip
    parser.add_argument("--established", type=float,
                        help="arrival: the incumbents' votes before the arrival, in multiples of the votes that "
                             "bring them to the target (default 1)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the figures: .csv (summary) or .json (summary, runs, setup)")
    args = parser.parse_args(argv)
    settings: dict = dict(QUICK) if args.quick else {}
    keys = ("seeds", "target", "floor", "refresh", "check", "max_votes", "policies", "stretch", "arrivals",
            "newcomer", "established")  # fmt: skip
    for key in keys:
        if getattr(args, key) is not None:
            settings[key] = tuple(args.policies) if key == "policies" else getattr(args, key)
    if args.scenario == "arrival":
        settings.setdefault("policies", POLICIES)
    elif "burn-in" in settings.get("policies", ()):
        parser.error("the burn-in policy needs newcomers: --scenario arrival")
    elif any(key in settings for key in ("arrivals", "newcomer", "established")):
        parser.error("--arrivals, --newcomer and --established need --scenario arrival")
    config = Config(quick=args.quick, scenario=args.scenario, **settings)
    if config.refresh % config.check:
        parser.error("--check must divide --refresh")
    if "uniform" not in config.policies:
        config.policies = ("uniform", *config.policies)
    runs, rows, meta = run(config, log=True)
    setup = ""
    if config.scenario == "arrival":
        history = meta["history_votes_mean"]
        setup = (f"arrival of {config.arrivals} model(s) ({config.newcomer} ranks) after {history:,.0f} "
                 f"incumbent votes on average (x{config.established:g}); ")  # fmt: skip
    print(f"{meta['models']} models, {setup}ties {100 * meta['tie_share_uniform']:.1f} % of uniform votes, "
          f"floor {config.floor:g}, refresh every {config.refresh} votes, check every {config.check}, "
          f"{config.seeds} seeds; weighted fit: {meta['weighted_fit']}; {meta['seconds']} s")  # fmt: skip
    print(table(rows, config.target))
    if args.out:
        write(args.out, runs, rows, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
