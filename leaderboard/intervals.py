"""95% confidence intervals for Bradley-Terry ratings, and the rank they support.

    sandwich_covariance(n, first, second, wins, ties, losses, theta, prior=0.0) -> (n, n), natural scale
    rating_covariance(covariance, gauge) -> (n, n) covariance of the Elo ratings in that gauge
    bootstrap_start(pairs, theta, prior) -> BootstrapStart     once per part: the fit the rounds start from
    bootstrap_strengths(start, draws) -> (rounds, n) strengths refitted on resampled counts, used_prior
    percentile_bounds(samples) -> (lower, upper): the 2.5 % and 97.5 % quantiles per column
    rank_upper_bound(lower, upper) -> 1 + number of models whose lower bound is above this model's upper bound
    weighted_draws(cells, draws, n_columns) -> (rounds, n_columns): resampled votes per cell -> weighted counts
    battle_draws(units, draws, n_columns) -> (rounds, n_columns): resampled battles per unit -> weighted counts

Sandwich (Huber-White): Cov = A^-1 B A^-1 with A the negative Hessian (sum over votes of p (1 - p) x x^T) and B
the sum over votes of the squared score (y - p)^2 x x^T, x = e_i - e_j and y = 1, 1/2, 0 for a win, tie or
loss of i. It stays right when the model is wrong (ties are less random than the binomial the plain inverse
Hessian assumes), which is why the Chatbot Arena paper (arXiv 2403.04132) prefers it to the bootstrap.
Intervals are the rating +- 1.96 standard deviations.
Weighted votes (vote i weighs w_i: inverse sampling propensity, a source's weight): the estimate solves the weighted
score equation sum w (y - p) x = 0, so A = sum w p (1 - p) x x^T (the weighted counts' totals) and
B = sum w^2 (y - p)^2 x x^T (PairCounts.squared(): the sums of squared weights per pair and outcome), the
M-estimator's sandwich with fixed, known weights (a pair's sampling probability is known when the vote is cast).
Votes of one battle (several turns, a person and a judge on the same answers) are correlated:
when some battle holds several votes, B sums the squared score of each battle instead of each vote,
B = sum over battles of (sum of its votes' w (y - p))^2 x x^T (the cluster-robust sandwich, clusters = battles;
outcomes.BattleSums), so a battle's second vote adds only the information it really carries: counting every vote of
a battle twice leaves the intervals where they were, where the per-vote sandwich would narrow them by sqrt(2).

Bootstrap: the votes are resampled with replacement (multinomial over the pair x outcome counts, see
multinomial.py), every round is refitted (bradley_terry.fit_strengths_batch), and the interval is the
percentile interval of the rounds' ratings. Weighted votes are resampled with their weights: the multinomial
runs over the (pair, outcome, weight) cells of outcomes.WeightCells, each vote keeping its weight, and every
round is the weighted fit of the resampled votes (weighted_draws) -- the same nonparametric bootstrap, since
votes of one pair, outcome and weight are interchangeable. When battles hold several votes it resamples battles
instead, each bringing all its votes (battle_draws over outcomes.BattleUnits: the cluster bootstrap).

Both describe a rating in its gauge: with an anchor model, the anchor's own interval has zero width and the
others carry the anchor's uncertainty; with the mean gauge, intervals are for the distance to the mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leaderboard.bradley_terry import PRIOR_PRECISION, chord_inverse, fit_strengths_batch, laplacian, normal_matrix
from leaderboard.graph import rounds_with_finite_mle
from leaderboard.outcomes import BattleUnits, PairCounts, WeightCells
from leaderboard.scale import ELO_PER_NAT, Gauge

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def _probabilities(theta: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(theta[second] - theta[first]))


def sandwich_covariance(pairs: PairCounts, theta: np.ndarray, prior: float = 0.0) -> np.ndarray:
    """Robust covariance of the strengths (natural scale, mean-zero gauge, or the prior's when prior > 0)."""
    p = _probabilities(theta, pairs.first, pairs.second)
    bread = normal_matrix(pairs.n_models, pairs.first, pairs.second, pairs.totals * p * (1.0 - p), prior)
    if pairs.battles is not None:  # some battle holds several votes: the battle is the independent unit
        sums = pairs.battles
        squared_scores = np.maximum(sums.score_sq - 2.0 * p * sums.score_weight + p * p * sums.weight_sq, 0.0)
    else:
        wins, ties, losses = pairs.squared()  # weighted votes: sums of squared weights (the counts when unweighted)
        squared_scores = wins * (1.0 - p) ** 2 + ties * (0.5 - p) ** 2 + losses * p**2
    meat = laplacian(pairs.n_models, pairs.first, pairs.second, squared_scores)
    inverse = np.linalg.inv(bread)
    # the J/n added to the bread meets meat only along the all-ones vector, which the meat annihilates
    return inverse @ meat @ inverse


def rating_covariance(covariance: np.ndarray, where: Gauge) -> np.ndarray:
    """Covariance of the Elo ratings r = theta * ELO_PER_NAT shifted so that weights . r = target."""
    n = len(covariance)
    projection = np.eye(n) - np.outer(np.ones(n), where.weights)
    return ELO_PER_NAT**2 * projection @ covariance @ projection.T


@dataclass(frozen=True, eq=False)
class BootstrapStart:
    """What every bootstrap round of one part starts from: the full fit and the chord matrices' inverses."""

    pairs: PairCounts
    theta: np.ndarray
    prior: float  # the full fit's prior (0: exact maximum likelihood)
    inverse: np.ndarray  # for rounds fitted with `prior`
    prior_inverse: np.ndarray  # for rounds without a finite maximum, fitted with PRIOR_PRECISION


def bootstrap_start(pairs: PairCounts, theta: np.ndarray, prior: float) -> BootstrapStart:
    def inverse(penalty: float) -> np.ndarray:
        return chord_inverse(pairs.n_models, pairs.first, pairs.second, pairs.totals, theta, penalty)

    return BootstrapStart(pairs, theta, prior, inverse(prior), inverse(PRIOR_PRECISION))


def bootstrap_strengths(start: BootstrapStart, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refit every round of `draws` (rounds, 3 * pairs: wins, ties, losses); returns (strengths, used_prior).

    Rounds whose resampled votes have no finite maximum (a model lost or won every resampled vote) are
    fitted with the prior (bradley_terry.PRIOR_PRECISION) and marked in used_prior.
    """
    pairs = start.pairs
    count = pairs.n_pairs
    wins, ties, losses = draws[:, :count], draws[:, count : 2 * count], draws[:, 2 * count :]
    totals = (wins + ties + losses).astype(float)
    scores = wins + 0.5 * ties
    if start.prior > 0:
        finite = np.zeros(len(draws), dtype=bool)
    else:
        finite = rounds_with_finite_mle(pairs.n_models, pairs.first, pairs.second, wins + ties, losses + ties)
    strengths = np.empty((len(draws), pairs.n_models))
    for rows, penalty, inverse in (
        (np.flatnonzero(finite), 0.0, start.inverse),
        (np.flatnonzero(~finite), PRIOR_PRECISION, start.prior_inverse),
    ):
        if len(rows) == 0:
            continue
        strengths[rows] = fit_strengths_batch(
            pairs.n_models,
            pairs.first,
            pairs.second,
            totals[rows],
            scores[rows],
            start=start.theta,
            start_inverse=inverse,
            prior=penalty,
        )
    return strengths, ~finite


def weighted_draws(cells: WeightCells, draws: np.ndarray, n_columns: int) -> np.ndarray:
    """Each round's resampled votes per cell (rounds, cells) as weighted counts per (outcome, pair) column."""
    rounds = len(draws)
    offsets = (np.arange(rounds)[:, None] * n_columns + cells.column).ravel()
    values = (draws * cells.weight).ravel()
    return np.bincount(offsets, values, rounds * n_columns).reshape(rounds, n_columns)


def battle_draws(units: BattleUnits, draws: np.ndarray, n_columns: int) -> np.ndarray:
    """Each round's resampled battles per unit (rounds, units) as weighted vote counts per (outcome, pair) column:
    every drawn battle brings all its votes."""
    rounds = len(draws)
    offsets = (np.arange(rounds)[:, None] * n_columns + units.column).ravel()
    values = (draws[:, units.unit] * units.weight).ravel()
    return np.bincount(offsets, values, rounds * n_columns).reshape(rounds, n_columns)


def percentile_bounds(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5 % and 97.5 % quantiles of each column (linear interpolation, as pandas and FastChat)."""
    lower, upper = np.quantile(samples, [0.025, 0.975], axis=0)
    return lower, upper


def rank_upper_bound(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """1 + the number of models whose lower bound is above this model's upper bound (Chatbot Arena's rank)."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    return 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
