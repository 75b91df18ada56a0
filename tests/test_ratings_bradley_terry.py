"""Bradley-Terry point estimates: exact maximum likelihood, the tie and scale conventions, the anchor."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from leaderboard.fit import fit_ratings
from leaderboard.outcomes import count_outcomes
from leaderboard.ratings import Anchor, compute_leaderboard
from leaderboard.synthetic import simulate_battles

TRUE = {f"model-{i}": 1000.0 + 60.0 * (i - 4) for i in range(9)}


def reference_newton(battles: pd.DataFrame) -> pd.Series:
    """Textbook Newton-Raphson on the per-vote log-likelihood with the first model pinned: no shared code.

    Returns Elo ratings with mean 1000. Every row is one vote: y = 1 (model_a wins), 1/2 (tie), 0.
    """
    models = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    index = {m: i for i, m in enumerate(models)}
    rows = np.arange(len(battles))
    design = np.zeros((len(battles), len(models)))
    design[rows, battles["model_a"].map(index).to_numpy()] = 1.0
    design[rows, battles["model_b"].map(index).to_numpy()] = -1.0
    design = design[:, 1:]
    y = battles["winner"].map({"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}).to_numpy()
    beta = np.zeros(len(models) - 1)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-design @ beta))
        step = np.linalg.solve(design.T @ (design * (p * (1 - p))[:, None]), design.T @ (y - p))
        beta += step
        if np.abs(step).max() < 1e-13:
            break
    ratings = np.concatenate([[0.0], beta]) * 400.0 / math.log(10.0)
    return pd.Series(ratings - ratings.mean() + 1000.0, index=models)


def ratings_of(battles: pd.DataFrame, **options: object) -> pd.Series:
    board = compute_leaderboard(battles, ci="none", **options)
    return pd.Series({row.model: row.rating for row in board.rows})


def test_the_fit_is_the_exact_maximum_likelihood_within_1e6_elo_of_an_independent_newton_solution() -> None:
    battles = simulate_battles(TRUE, 3000, seed=3, tie_share=0.4)
    ours = ratings_of(battles)
    reference = reference_newton(battles)
    assert (ours - reference.reindex(ours.index)).abs().max() < 1e-6


def test_ratings_of_the_true_model_are_recovered_from_many_votes() -> None:
    battles = simulate_battles(TRUE, 200_000, seed=1, tie_share=0.3)
    ours = ratings_of(battles)
    truth = pd.Series(TRUE)
    truth = truth - truth.mean() + 1000.0
    assert (ours - truth.reindex(ours.index)).abs().max() < 10.0  # sd is about 2.5 Elo here


def test_400_points_mean_10_to_1_odds_and_a_tie_counts_half_a_win_each_way() -> None:
    decisive = pd.DataFrame({"model_a": ["a"] * 11, "model_b": ["b"] * 11, "winner": ["model_a"] * 10 + ["model_b"]})
    # 9 wins and 2 ties out of 11 is a score of 10 out of 11 as well
    with_ties = pd.DataFrame(
        {"model_a": ["a"] * 11, "model_b": ["b"] * 11, "winner": ["model_a"] * 9 + ["tie", "tie (bothbad)"]}
    )
    for battles in (decisive, with_ties):
        ratings = ratings_of(battles)
        assert ratings["a"] - ratings["b"] == pytest.approx(400.0, abs=1e-8)
        assert ratings.mean() == pytest.approx(1000.0, abs=1e-9)


def test_both_tie_labels_are_the_same_outcome() -> None:
    battles = simulate_battles(TRUE, 2000, seed=5, tie_share=0.5)
    relabelled = battles.copy()
    relabelled.loc[relabelled["winner"] == "tie", "winner"] = "tie (bothbad)"
    assert (ratings_of(battles) - ratings_of(relabelled)).abs().max() < 1e-9


def test_the_fit_sees_only_counts_per_pair_not_rows_their_order_or_sides() -> None:
    battles = simulate_battles(TRUE, 2000, seed=7, tie_share=0.3)
    counts = count_outcomes(battles)
    assert counts.n_pairs <= 9 * 8 // 2 and counts.n_votes == 2000
    mirrored = battles.rename(columns={"model_a": "model_b", "model_b": "model_a"})
    mirrored["winner"] = mirrored["winner"].replace({"model_a": "model_b", "model_b": "model_a"})
    shuffled = mirrored.sample(frac=1.0, random_state=0)
    assert (ratings_of(battles) - ratings_of(shuffled)).abs().max() < 1e-9


def test_an_explicit_anchor_pins_its_model_and_keeps_the_differences() -> None:
    battles = simulate_battles(TRUE, 3000, seed=11, tie_share=0.2)
    free = ratings_of(battles)
    anchored = ratings_of(battles, anchor=Anchor("model-2", 1250.0))
    assert anchored["model-2"] == pytest.approx(1250.0, abs=1e-9)
    assert ((anchored - anchored["model-2"]) - (free - free["model-2"])).abs().max() < 1e-9
    as_pair = ratings_of(battles, anchor=("model-2", 1250.0))
    assert (as_pair - anchored).abs().max() == 0.0


def test_fit_ratings_works_on_counts_alone() -> None:
    counts = count_outcomes(simulate_battles(TRUE, 3000, seed=13, tie_share=0.2))
    fit = fit_ratings(counts, ci="none")
    assert fit.models == tuple(sorted(TRUE))
    assert np.isfinite(fit.rating).all() and not fit.prior.any() and fit.warnings == ()
    assert np.all(np.isnan(fit.lower)) and sorted(fit.rank_ub) == list(range(1, 10))
