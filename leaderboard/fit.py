"""Ratings with 95% intervals for every model of a PairCounts: parts, anchor, degenerate data, CI method.

    fit_ratings(counts, *, anchor=None, ci="sandwich", rounds=1000, seed=0) -> RatingFit

Each connected part of the comparison graph (graph.connected_parts) is fitted on its own: ratings of models
that never met, directly or through others, cannot be compared. The part holding the anchor model is anchored
to it; every other part is centred at mean INITIAL (1000). Rank (UB) counts within the part.
A part whose maximum-likelihood ratings are not finite (a model only won or only lost, or a group won every
vote against the rest; graph.has_finite_mle) is fitted with the small L2 prior of bradley_terry and its
models are marked in `prior`. Every such decision comes back as a sentence in `warnings`.
ci: "sandwich" (default; robust standard errors), "bootstrap" (`rounds` multinomial resamples of the votes,
seeded with `seed`) or "none" (lower and upper are NaN; rank_ub is then the plain rank by rating).

Weighted counts (outcomes.count_outcomes with weights: inverse sampling propensities, source weights) are fitted by
weighted maximum likelihood (the same Newton fit on the sums of weights) with the weighted sandwich (intervals.py).
Their bootstrap resamples the votes themselves, each with its weight: the multinomial runs over the counts' cells
(votes of one pair, outcome and weight, outcomes.WeightCells), and each round is refitted on the weighted sums of
its votes. That is the plain nonparametric bootstrap of the weighted estimator (votes i.i.d. with their weights);
merging votes of equal weight changes nothing, and beyond EXACT_WEIGHT_LEVELS distinct weights the cells use
weights rounded to 0.05 %, far below the bootstrap's own Monte Carlo error. Counts without cells (not asked for, or
more than outcomes.MAX_CELLS of them) cannot be resampled: the intervals are then the sandwich's, and a warning
says so (RatingFit.ci is "sandwich").

When battles hold several votes (outcomes.BattleSums), the sandwich treats each battle as the independent unit, and
the bootstrap resamples battles, each with all its votes (outcomes.BattleUnits: battles with the same votes in the
same cells are grouped, so the multinomial runs over kinds of battle, not over battles). With nearly continuous
weights almost every battle is a kind of its own: beyond MAX_CELLS kinds (or vote entries) the bootstrap resamples
votes and a warning says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leaderboard.bradley_terry import PRIOR_PRECISION, fit_strengths
from leaderboard.graph import connected_parts, has_finite_mle
from leaderboard.intervals import (
    Z95,
    BootstrapStart,
    battle_draws,
    bootstrap_start,
    bootstrap_strengths,
    percentile_bounds,
    rank_upper_bound,
    rating_covariance,
    sandwich_covariance,
    weighted_draws,
)
from leaderboard.multinomial import map_multinomial_rounds
from leaderboard.outcomes import MAX_CELLS, PairCounts
from leaderboard.scale import INITIAL, Anchor, Gauge, as_anchor, gauge, to_elo

CI_METHODS = ("sandwich", "bootstrap", "none")
PRIOR_NOTE = "an L2 prior (Gaussian, standard deviation about 550 Elo around the group's mean)"


@dataclass(frozen=True, eq=False)
class RatingFit:
    """One entry per model of the counts, in the order of counts.models."""

    models: tuple[str, ...]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank_ub: np.ndarray
    part: np.ndarray  # connected part, 0 the largest
    prior: np.ndarray  # True: rating from the L2-prior fit, its part having no finite maximum-likelihood rating
    strengths: np.ndarray  # natural scale, mean zero within each part
    ci: str
    anchor: Anchor | None  # the anchor applied; None when there was none or its model had no votes
    bootstrap_prior_rounds: int  # bootstrap rounds that needed the prior in some part
    warnings: tuple[str, ...]


def _names(models: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(m) for m in models[:limit])
    return shown + (f" and {len(models) - limit} more" if len(models) > limit else "")


def _no_mle_reason(pairs: PairCounts, names: list[str]) -> str:
    wins, ties, losses = pairs.per_model()
    only_won = [names[i] for i in np.flatnonzero(losses + ties == 0)]
    only_lost = [names[i] for i in np.flatnonzero(wins + ties == 0)]
    reasons = []
    if only_won:
        reasons.append(f"{_names(only_won)} only won")
    if only_lost:
        reasons.append(f"{_names(only_lost)} only lost")
    return "; ".join(reasons) if reasons else "a group of models won every vote against the others they met"


@dataclass(frozen=True, eq=False)
class _Part:
    members: np.ndarray  # model indices in the full counts
    columns: np.ndarray  # the part's (wins, ties, losses) cells among all cells
    pairs: PairCounts
    theta: np.ndarray
    prior: float
    where: Gauge


def _fit_part(counts: PairCounts, labels: np.ndarray, part: int, anchor: Anchor | None) -> tuple[_Part, str | None]:
    members = np.flatnonzero(labels == part)
    rows = np.flatnonzero(labels[counts.first] == part)
    pairs = counts.subset(labels == part)
    names = list(pairs.models)
    penalty, warning = 0.0, None
    if not has_finite_mle(
        pairs.n_models, pairs.first, pairs.second, pairs.wins + pairs.ties, pairs.losses + pairs.ties
    ):
        penalty = PRIOR_PRECISION
        warning = (
            f"No finite maximum-likelihood ratings exist for {_names(names)}: {_no_mle_reason(pairs, names)}. "
            f"Their ratings use {PRIOR_NOTE} and are flagged."
        )
    theta = fit_strengths(pairs.n_models, pairs.first, pairs.second, pairs.totals, pairs.scores, prior=penalty)
    columns = np.concatenate([rows, counts.n_pairs + rows, 2 * counts.n_pairs + rows])
    return _Part(members, columns, pairs, theta, penalty, gauge(names, anchor)), warning


def _bootstrap(counts: PairCounts, parts: list[_Part], rounds: int, seed: int) -> tuple[np.ndarray, int]:
    """Ratings (rounds, models) refitted on resampled votes, and how many rounds needed the prior."""
    starts: list[BootstrapStart] = [bootstrap_start(part.pairs, part.theta, part.prior) for part in parts]

    def block(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ratings = np.zeros((len(draws), counts.n_models))
        needed_prior = np.zeros(len(draws), dtype=bool)
        for part, start in zip(parts, starts, strict=True):
            part_draws = draws if len(parts) == 1 else draws[:, part.columns]
            samples, used_prior = bootstrap_strengths(start, part_draws)
            ratings[:, part.members] = to_elo(samples, part.where)
            needed_prior |= used_prior & (part.prior == 0)
        return ratings, needed_prior

    if counts.units is not None:  # battles holding several votes: resample battles, each with all its votes
        units, n_columns = counts.units, 3 * counts.n_pairs
        results = map_multinomial_rounds(
            units.count, rounds, seed, lambda draws: block(battle_draws(units, draws, n_columns))
        )
    elif counts.weighted and counts.cells is not None:
        grouped, n_columns = counts.cells, 3 * counts.n_pairs
        results = map_multinomial_rounds(
            grouped.count, rounds, seed, lambda draws: block(weighted_draws(grouped, draws, n_columns))
        )
    else:
        cells = np.concatenate([counts.wins, counts.ties, counts.losses])
        results = map_multinomial_rounds(cells, rounds, seed, block)
    return np.concatenate([r for r, _ in results]), int(sum(int(p.sum()) for _, p in results))


def _groups_warning(counts: PairCounts, labels: np.ndarray, anchor: Anchor | None) -> str:
    n_parts = int(labels.max()) + 1
    groups = "; ".join(
        f"group {part}: {_names([counts.models[i] for i in np.flatnonzero(labels == part)], 3)}"
        for part in range(min(n_parts, 4))
    )
    anchored = anchor is not None and anchor.model in counts.models
    return (
        f"The votes split into {n_parts} groups of models that never met, directly or through others ({groups}"
        f"{'; ...' if n_parts > 4 else ''}). Ratings compare only within a group: each group is fitted on its own "
        f"and centred at mean {INITIAL:g}"
        + (", except the anchor's group, anchored to it" if anchored else "")
        + "; rank (UB) counts within the group."
    )


def fit_ratings(
    counts: PairCounts,
    *,
    anchor: Anchor | tuple[str, float] | None = None,
    ci: str = "sandwich",
    rounds: int = 1000,
    seed: int = 0,
) -> RatingFit:
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {', '.join(CI_METHODS)}, not {ci!r}")
    if ci == "bootstrap" and rounds < 2:
        raise ValueError("the bootstrap needs at least 2 rounds")
    anchor = as_anchor(anchor)
    warnings: list[str] = []
    if ci == "bootstrap" and counts.weighted and counts.cells is None and counts.units is None:
        ci = "sandwich"
        warnings.append(
            "The votes are weighted and were not grouped for resampling (more than "
            f"{MAX_CELLS:,} pair x outcome x weight cells, or not asked for): the intervals are the weighted "
            "sandwich's, not the bootstrap's."
        )
    n = counts.n_models
    rating, lower, upper = np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
    rank_ub, strengths, prior = np.ones(n, dtype=np.int64), np.zeros(n), np.zeros(n, dtype=bool)
    labels = connected_parts(n, counts.first, counts.second)
    parts: list[_Part] = []
    for label in range(int(labels.max()) + 1 if n else 0):
        part, warning = _fit_part(counts, labels, label, anchor)
        parts.append(part)
        if warning:
            warnings.append(warning)
        prior[part.members] = part.prior > 0
        strengths[part.members] = part.theta
        rating[part.members] = to_elo(part.theta, part.where)
        if ci == "sandwich":
            covariance = rating_covariance(sandwich_covariance(part.pairs, part.theta, part.prior), part.where)
            spread = Z95 * np.sqrt(np.maximum(np.diag(covariance), 0.0))
            lower[part.members], upper[part.members] = rating[part.members] - spread, rating[part.members] + spread
    prior_rounds = 0
    if ci == "bootstrap" and n:
        samples, prior_rounds = _bootstrap(counts, parts, rounds, seed)
        lower, upper = percentile_bounds(samples)
        if counts.battles is not None and counts.units is None:
            warnings.append(
                f"{counts.battles.shared:,} of {counts.battles.n_battles:,} battles hold more than one counted vote "
                "(several turns, a person and a judge), too many kinds of battle to resample (or not asked for): "
                "the bootstrap resamples votes and takes them as independent, so its intervals may be too narrow; "
                "the sandwich's (ci sandwich) count battles."
            )
    for part in parts:
        members = part.members
        if ci == "none":
            rank_ub[members] = 1 + (rating[members][None, :] > rating[members][:, None]).sum(axis=1)
        else:
            rank_ub[members] = rank_upper_bound(lower[members], upper[members])
    if len(parts) > 1:
        warnings.insert(0, _groups_warning(counts, labels, anchor))
    applied = anchor if anchor is not None and anchor.model in counts.models else None
    if anchor is not None and applied is None:
        warnings.append(
            f"The anchor model {anchor.model!r} has no counted votes here; ratings are centred at mean {INITIAL:g}."
        )
    if prior_rounds:
        warnings.append(
            f"{prior_rounds} of {rounds} bootstrap rounds had no finite maximum-likelihood ratings "
            f"(a model won or lost every resampled vote); those rounds used {PRIOR_NOTE}."
        )
    return RatingFit(
        models=counts.models,
        rating=rating,
        lower=lower,
        upper=upper,
        rank_ub=rank_ub,
        part=labels,
        prior=prior,
        strengths=strengths,
        ci=ci,
        anchor=applied,
        bootstrap_prior_rounds=prior_rounds,
        warnings=tuple(warnings),
    )
