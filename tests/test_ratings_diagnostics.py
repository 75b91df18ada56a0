"""Online Elo, the pairwise matrices and predictive validity: the leaderboard's diagnostics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from leaderboard.elo import online_elo
from leaderboard.outcomes import count_outcomes
from leaderboard.ratings import compute_leaderboard, validate
from leaderboard.synthetic import simulate_battles
from leaderboard.validation import BRADLEY_TERRY, COIN, ONLINE_ELO, STYLE_CONTROLLED

TRUE = {"a": 1200.0, "b": 1100.0, "c": 1000.0, "d": 900.0, "e": 800.0}


def test_online_elo_moves_by_k_4_times_the_surprise_in_time_order() -> None:
    one = pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "winner": ["model_a"], "tstamp": [1.0]})
    assert online_elo(one).as_dict() == {"x": 1002.0, "y": 998.0}  # expected score 1/2, K = 4
    tie = one.assign(winner="tie")
    assert online_elo(tie).as_dict() == {"x": 1000.0, "y": 1000.0}
    later_loss = pd.DataFrame(
        {"model_a": ["x", "x"], "model_b": ["y", "y"], "winner": ["model_b", "model_a"], "tstamp": [2.0, 1.0]}
    )
    # replayed by tstamp: the win (t=1) first, then the loss at 1002 vs 998
    expected_loss = 4.0 / (1.0 + 10 ** (-4.0 / 400.0))
    assert online_elo(later_loss).as_dict()["x"] == pytest.approx(1002.0 - expected_loss)


def test_online_elo_is_a_column_of_the_leaderboard() -> None:
    battles = simulate_battles(TRUE, 3000, seed=1)
    rows = {row.model: row for row in compute_leaderboard(battles).rows}
    assert rows["a"].online_elo > rows["e"].online_elo
    assert rows["a"].online_elo == pytest.approx(online_elo(battles).as_dict()["a"])


def test_matrices_count_battles_win_fractions_with_half_ties_and_predictions() -> None:
    battles = pd.DataFrame(
        {
            "model_a": ["a", "a", "b", "a", "c"],
            "model_b": ["b", "b", "a", "c", "b"],
            "winner": ["model_a", "tie", "model_a", "model_b", "tie (bothbad)"],
        }
    )
    board = compute_leaderboard(battles)
    matrices = board.matrices()
    count, win = matrices.frame("battles"), matrices.frame("win_fraction")
    assert count.loc["a", "b"] == count.loc["b", "a"] == 3 and count.loc["a", "c"] == 1
    assert win.loc["a", "b"] == pytest.approx(1.5 / 3) and win.loc["b", "a"] == pytest.approx(1.5 / 3)
    assert win.loc["c", "a"] == 1.0 and win.loc["b", "c"] == 0.5 and math.isnan(win.loc["a", "a"])
    assert matrices.average_win_rate[0] == pytest.approx((0.5 + 0.0) / 2)  # a: half against b, lost to c
    ratings = {row.model: row.rating for row in board.rows}
    predicted = matrices.frame("predicted")
    assert predicted.loc["c", "b"] == pytest.approx(1 / (1 + 10 ** ((ratings["b"] - ratings["c"]) / 400)))
    assert predicted.loc["c", "b"] + predicted.loc["b", "c"] == pytest.approx(1.0)
    rows = {row.model: row for row in board.rows}
    assert rows["a"].win_rate == pytest.approx(1.5 / 4)  # one win and one tie in four votes
    assert rows["a"].average_win_rate == pytest.approx(0.25)


def test_validation_beats_a_coin_when_ratings_are_real_and_scores_ties_as_half() -> None:
    battles = simulate_battles(TRUE, 4000, seed=2, tie_share=0.3).sample(frac=1.0, random_state=1)
    report = validate(battles)
    scores = {s.method: s for s in report.scores}
    assert set(scores) == {COIN, BRADLEY_TERRY, ONLINE_ELO, STYLE_CONTROLLED}
    assert report.n_train == 3200 and report.n_test == 800 and report.split_tstamp == 3200.0  # latest 20% test
    assert scores[COIN].log_loss == pytest.approx(math.log(2)) and scores[COIN].accuracy == 0.5
    assert scores[BRADLEY_TERRY].log_loss < math.log(2) - 0.05 and scores[BRADLEY_TERRY].accuracy > 0.6
    assert scores[BRADLEY_TERRY].n_decisive < report.n_test  # accuracy leaves the ties out
    assert report.better_than_coin and report.verdict.startswith("The leaderboard predicts better than a coin")
    assert list(report.to_frame().columns) == ["method", "log_loss", "accuracy", "n_votes", "n_decisive"]


def test_validation_says_so_when_the_leaderboard_predicts_no_better_than_a_coin() -> None:
    equal = {name: 1000.0 for name in TRUE}
    report = validate(simulate_battles(equal, 3000, seed=3, tie_share=0.2))
    assert not report.better_than_coin
    assert "predicts no better than a coin flip" in report.verdict


def test_validation_trains_on_earlier_votes_and_tests_on_later_ones() -> None:
    # a improves: it lost to b for the first 800 votes and wins from then on; shuffled rows, timestamps tell
    early = pd.DataFrame({"model_a": "a", "model_b": "b", "winner": "model_b", "tstamp": np.arange(800.0)})
    late = pd.DataFrame({"model_a": "a", "model_b": "b", "winner": "model_a", "tstamp": 800.0 + np.arange(200)})
    early.loc[::4, "winner"] = "model_a"  # b wins 75% early on
    report = validate(pd.concat([late, early]).sample(frac=1.0, random_state=0))
    scores = {s.method: s for s in report.scores}
    assert scores[BRADLEY_TERRY].accuracy == 0.0 and scores[BRADLEY_TERRY].log_loss > math.log(2)
    assert not report.better_than_coin


def test_a_tie_costs_at_least_ln_2_whatever_the_prediction() -> None:
    ties = pd.DataFrame({"model_a": ["a", "b"] * 50, "model_b": ["b", "a"] * 50, "winner": "model_a"})
    ties.loc[80:, "winner"] = "tie"  # the test votes are all ties
    report = validate(ties)
    scores = {s.method: s for s in report.scores}
    assert scores[BRADLEY_TERRY].log_loss >= math.log(2) and scores[BRADLEY_TERRY].n_decisive == 0
    assert math.isnan(scores[BRADLEY_TERRY].accuracy)


def test_validation_leaves_out_votes_it_cannot_predict_and_handles_tiny_tables() -> None:
    battles = simulate_battles(TRUE, 1000, seed=5)
    newcomer = pd.DataFrame({"model_a": ["new"] * 10, "model_b": ["a"] * 10, "winner": "model_a"})
    newcomer["tstamp"] = 5000.0
    report = validate(pd.concat([battles, newcomer]))
    assert report.n_skipped == 10 and any("unseen in training" in note for note in report.notes)
    tiny = validate(battles.head(1))
    assert tiny.scores == () and "Not enough votes" in tiny.verdict
    assert count_outcomes(battles).n_votes == 1000
