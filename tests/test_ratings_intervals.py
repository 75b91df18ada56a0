"""95% intervals: the sandwich and the bootstrap cover the truth 95% of the time; Rank (UB) as Chatbot Arena."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from leaderboard import bradley_terry
from leaderboard.bradley_terry import chord_inverse, fit_strengths, fit_strengths_batch
from leaderboard.fit import fit_ratings
from leaderboard.graph import rounds_with_finite_mle
from leaderboard.intervals import rank_upper_bound
from leaderboard.multinomial import multinomial_rounds
from leaderboard.outcomes import count_outcomes
from leaderboard.ratings import compute_leaderboard
from leaderboard.synthetic import simulate_battles

TRUE = {"a": 1150.0, "b": 1080.0, "c": 1000.0, "d": 990.0, "e": 930.0, "f": 850.0}


def centred(values: dict[str, float]) -> pd.Series:
    series = pd.Series(values)
    return series - series.mean() + 1000.0


def coverage(ci: str, seeds: range, n_battles: int, **options: object) -> float:
    """Share of (seed, model) intervals containing the true rating (mean gauge on both sides)."""
    truth = centred(TRUE)
    hits = total = 0
    for seed in seeds:
        counts = count_outcomes(simulate_battles(TRUE, n_battles, seed=seed, tie_share=0.4))
        fit = fit_ratings(counts, ci=ci, seed=seed, **options)
        expected = truth.reindex(list(fit.models)).to_numpy()
        hits += int(((fit.lower <= expected) & (expected <= fit.upper)).sum())
        total += len(expected)
    return hits / total


def test_sandwich_intervals_cover_the_true_ratings_95_percent_of_the_time() -> None:
    # 200 data sets x 6 models; 2 x the binomial sd of 1,200 intervals is 0.013
    assert 0.93 <= coverage("sandwich", range(200), 600) <= 0.97


def test_bootstrap_intervals_cover_the_true_ratings_95_percent_of_the_time() -> None:
    assert 0.92 <= coverage("bootstrap", range(60), 600, rounds=200) <= 0.98


def test_sandwich_matches_an_independent_per_vote_computation() -> None:
    battles = simulate_battles(TRUE, 1500, seed=4, tie_share=0.4)
    models = sorted(TRUE)
    index = {m: i for i, m in enumerate(models)}
    # per-vote scores and Hessian, model "a" pinned: the covariance of each rating minus a's
    design = np.zeros((len(battles), len(models)))
    rows = np.arange(len(battles))
    design[rows, battles["model_a"].map(index)] = 1.0
    design[rows, battles["model_b"].map(index)] = -1.0
    design = design[:, 1:]
    y = battles["winner"].map({"model_a": 1.0, "model_b": 0.0, "tie": 0.5}).to_numpy()
    fit = fit_ratings(count_outcomes(battles), anchor=("a", 1000.0), ci="sandwich")
    beta = (fit.rating[1:] - 1000.0) * math.log(10) / 400
    p = 1 / (1 + np.exp(-design @ beta))
    bread = np.linalg.inv(design.T @ (design * (p * (1 - p))[:, None]))
    meat = design.T @ (design * ((y - p) ** 2)[:, None])
    sd = np.sqrt(np.diag(bread @ meat @ bread)) * 400 / math.log(10)
    half_width = (fit.upper - fit.lower)[1:] / 2
    assert half_width == pytest.approx(1.959963984540054 * sd, rel=1e-8)
    assert fit.upper[0] == fit.lower[0] == pytest.approx(1000.0)  # the anchor carries no uncertainty of its own


def test_sandwich_and_bootstrap_agree_on_plentiful_well_behaved_votes() -> None:
    counts = count_outcomes(simulate_battles(TRUE, 30_000, seed=8, tie_share=0.3))
    sandwich = fit_ratings(counts, ci="sandwich")
    bootstrap = fit_ratings(counts, ci="bootstrap", rounds=400)
    ratio = (bootstrap.upper - bootstrap.lower) / (sandwich.upper - sandwich.lower)
    assert np.all((ratio > 0.85) & (ratio < 1.15))


def test_the_bootstrap_is_seeded_and_reproducible() -> None:
    counts = count_outcomes(simulate_battles(TRUE, 800, seed=2, tie_share=0.3))
    first = fit_ratings(counts, ci="bootstrap", rounds=300, seed=5)
    again = fit_ratings(counts, ci="bootstrap", rounds=300, seed=5)
    other = fit_ratings(counts, ci="bootstrap", rounds=300, seed=6)
    assert np.array_equal(first.lower, again.lower) and np.array_equal(first.upper, again.upper)
    assert not np.array_equal(first.lower, other.lower)


def test_resampling_draws_exact_multinomial_counts() -> None:
    counts = np.array([5, 0, 3, 12, 1, 40])
    draws = multinomial_rounds(counts, 40_000, seed=1)
    total = counts.sum()
    p = counts / total
    assert np.all(draws.sum(axis=1) == total) and np.all(draws[:, 1] == 0)
    assert draws.mean(axis=0) == pytest.approx(total * p, abs=0.05)
    assert np.cov(draws.T) == pytest.approx(total * (np.diag(p) - np.outer(p, p)), abs=0.15)
    # the whole law of one cell, against numpy's own multinomial
    reference = np.random.default_rng(0).multinomial(total, p, size=40_000)
    ours = np.bincount(draws[:, 3], minlength=30)[:30] / 40_000
    theirs = np.bincount(reference[:, 3], minlength=30)[:30] / 40_000
    assert np.abs(ours - theirs).max() < 0.01


@pytest.mark.parametrize("n_battles", [3000, 80])
def test_every_bootstrap_round_is_refitted_to_its_own_maximum(n_battles: int, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = count_outcomes(simulate_battles(TRUE, n_battles, seed=9, tie_share=0.3))
    n, first, second = counts.n_models, counts.first, counts.second
    theta = fit_strengths(n, first, second, counts.totals, counts.scores)
    draws = multinomial_rounds(np.concatenate([counts.wins, counts.ties, counts.losses]), 60, seed=0)
    wins, ties, losses = np.split(draws, 3, axis=1)
    finite = rounds_with_finite_mle(n, first, second, wins + ties, losses + ties)
    totals, scores = (wins + ties + losses)[finite].astype(float), (wins + 0.5 * ties)[finite]
    newton_rounds: list[int] = []
    newton = bradley_terry._newton_batch

    def counting_newton(pairs: object, theta: np.ndarray, *args: object) -> np.ndarray:
        newton_rounds.append(len(theta))
        return newton(pairs, theta, *args)

    monkeypatch.setattr(bradley_terry, "_newton_batch", counting_newton)
    inverse = chord_inverse(n, first, second, counts.totals, theta, 0.0)
    batch = fit_strengths_batch(n, first, second, totals, scores, start=theta, start_inverse=inverse)
    one_by_one = np.array([fit_strengths(n, first, second, t, s) for t, s in zip(totals, scores, strict=True)])
    assert np.abs(batch - one_by_one).max() * 400 / math.log(10) < 1e-3
    # plentiful votes: chord steps alone; a few votes: some rounds need the Newton fallback
    assert (sum(newton_rounds) == 0) == (n_battles == 3000)


def test_rank_ub_counts_models_whose_lower_bound_is_above_the_upper_bound() -> None:
    lower = np.array([1100.0, 1050.0, 1040.0, 900.0])
    upper = np.array([1200.0, 1120.0, 1090.0, 1060.0])
    # b: no lower bound above 1120; c: a's 1100 is above 1090; d: a's 1100 is above 1060, b's 1050 is not
    assert list(rank_upper_bound(lower, upper)) == [1, 1, 2, 2]


def test_leaderboard_rows_carry_intervals_and_rank_ub() -> None:
    battles = simulate_battles(TRUE, 4000, seed=3, tie_share=0.3)
    for ci in ("sandwich", "bootstrap"):
        board = compute_leaderboard(battles, ci=ci, rounds=200)
        frame = board.to_frame()
        assert board.ci == ci
        assert (frame["lower"] < frame["rating"]).all() and (frame["rating"] < frame["upper"]).all()
        expected = rank_upper_bound(frame["lower"].to_numpy(), frame["upper"].to_numpy())
        assert list(frame["rank_ub"]) == list(expected)
    with pytest.raises(ValueError, match="ci must be one of"):
        compute_leaderboard(battles, ci="jackknife")
