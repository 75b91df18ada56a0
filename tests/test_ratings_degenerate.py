"""Degenerate votes get a defined answer, never a crash: empty, lopsided, disconnected, malformed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leaderboard.fit import fit_ratings
from leaderboard.intervals import rank_upper_bound
from leaderboard.outcomes import count_outcomes
from leaderboard.ratings import BattlesError, StyleFeaturesMissing, compute_leaderboard
from leaderboard.synthetic import simulate_battles


def votes(*triples: tuple[str, str, str], **columns: list[object]) -> pd.DataFrame:
    frame = pd.DataFrame(triples, columns=["model_a", "model_b", "winner"])
    for name, values in columns.items():
        frame[name] = values
    return frame


MIXED = [("a", "b", "model_a"), ("b", "a", "model_a"), ("a", "c", "tie"), ("c", "b", "model_b"), ("c", "a", "model_a")]


def test_no_votes_give_an_empty_leaderboard_with_a_message() -> None:
    for table in (pd.DataFrame(), pd.DataFrame(columns=["model_a", "model_b", "winner"])):
        board = compute_leaderboard(table)
        assert board.empty and board.rows == () and board.n_battles == 0
        assert "No votes yet" in board.message
        assert board.to_frame().empty and "rating" in board.to_frame().columns


def test_votes_that_do_not_count_leave_an_empty_leaderboard_saying_why() -> None:
    named = votes(*MIXED, anony=[False] * 5)
    assert "only anonymous, unflagged votes count" in compute_leaderboard(named).message
    judged = votes(*MIXED, source=["judge:gpt-4"] * 5)
    assert "from source 'human'" in compute_leaderboard(judged).message
    assert len(compute_leaderboard(judged, source="judge:gpt-4").rows) == 3


def test_one_model_with_enough_votes_has_nobody_to_be_compared_with() -> None:
    table = votes(("solo", "x", "model_a"), ("solo", "y", "model_b"), ("z", "solo", "tie"))
    board = compute_leaderboard(table, min_votes=2)
    assert board.empty
    assert "No two models with at least 2 votes" in board.message
    assert any("'x'" in w and "fewer than 2 votes" in w for w in board.warnings)


def test_two_models_that_only_tie_are_rated_equal() -> None:
    board = compute_leaderboard(votes(("a", "b", "tie"), ("b", "a", "tie (bothbad)")))
    assert [row.rating for row in board.rows] == pytest.approx([1000.0, 1000.0])
    assert all(row.flags == () for row in board.rows)


@pytest.mark.parametrize("ci", ["sandwich", "bootstrap", "none"])
def test_a_model_that_only_wins_gets_a_finite_flagged_rating(ci: str) -> None:
    table = votes(*MIXED, ("champ", "a", "model_a"), ("b", "champ", "model_b"), ("champ", "c", "model_a"))
    board = compute_leaderboard(table, ci=ci, rounds=200)
    rows = {row.model: row for row in board.rows}
    assert board.rows[0].model == "champ"
    assert np.isfinite(rows["champ"].rating) and rows["champ"].rating < 3000
    assert "only wins" in rows["champ"].flags and "L2 prior" in rows["champ"].flags
    assert "L2 prior" in rows["a"].flags  # the whole group is fitted with the prior
    assert any("No finite maximum-likelihood ratings" in w and "'champ' only won" in w for w in board.warnings)
    if ci != "none":
        assert np.isfinite(rows["champ"].lower) and np.isfinite(rows["champ"].upper)


def test_a_model_that_only_loses_gets_a_finite_flagged_rating() -> None:
    table = votes(*MIXED, ("a", "dud", "model_a"), ("dud", "b", "model_b"))
    rows = {row.model: row for row in compute_leaderboard(table).rows}
    assert rows["dud"].rating == min(row.rating for row in rows.values()) and np.isfinite(rows["dud"].rating)
    assert "only losses" in rows["dud"].flags and "L2 prior" in rows["dud"].flags


def test_a_group_beating_all_outsiders_has_no_finite_maximum_either() -> None:
    top = [("a", "b", "model_a"), ("b", "a", "model_a")]
    bottom = [("c", "d", "model_a"), ("d", "c", "model_a")]
    board = compute_leaderboard(votes(*top, *bottom, ("a", "c", "model_a"), ("d", "b", "model_b")))
    assert all("L2 prior" in row.flags for row in board.rows)
    assert any("a group of models won every vote against the others" in w for w in board.warnings)
    rows = {row.model: row.rating for row in board.rows}
    assert min(rows["a"], rows["b"]) > max(rows["c"], rows["d"])


def test_without_degenerate_data_no_prior_is_used() -> None:
    board = compute_leaderboard(votes(*MIXED))
    assert all("L2 prior" not in row.flags for row in board.rows) and board.warnings == ()


def test_disconnected_groups_are_rated_apart_warned_and_each_centred_at_1000() -> None:
    left = simulate_battles({"a": 1100, "b": 1000, "c": 900}, 300, seed=1, tie_share=0.3)
    right = simulate_battles({"x": 1300, "y": 1200}, 100, seed=2, tie_share=0.3)
    board = compute_leaderboard(pd.concat([left, right]))
    frame = board.to_frame().set_index("model")
    assert set(frame.loc[["a", "b", "c"], "part"]) == {0} and set(frame.loc[["x", "y"], "part"]) == {1}
    assert frame.loc[["a", "b", "c"], "rating"].mean() == pytest.approx(1000.0)
    assert frame.loc[["x", "y"], "rating"].mean() == pytest.approx(1000.0)
    assert "group 1" in frame.loc["x", "flags"] and frame.loc["a", "flags"] == ()
    group = frame.loc[["x", "y"]]  # rank (UB) counts within the group only
    assert list(group["rank_ub"]) == list(rank_upper_bound(group["lower"].to_numpy(), group["upper"].to_numpy()))
    assert list(frame["part"]) == sorted(frame["part"])  # rows grouped by part
    assert "split into 2 groups" in board.warnings[0] and "centred at mean 1000" in board.warnings[0]
    anchored = compute_leaderboard(pd.concat([left, right]), anchor=("x", 1500.0)).to_frame().set_index("model")
    assert anchored.loc["x", "rating"] == pytest.approx(1500.0)
    assert anchored.loc[["a", "b", "c"], "rating"].mean() == pytest.approx(1000.0)


def test_an_anchor_without_votes_falls_back_to_the_mean_with_a_warning() -> None:
    board = compute_leaderboard(votes(*MIXED), anchor=("ghost", 1200.0))
    assert board.anchor is None
    assert np.mean([row.rating for row in board.rows]) == pytest.approx(1000.0)
    assert any("'ghost' has no counted votes" in w for w in board.warnings)


def test_an_unknown_winner_label_is_a_clear_error_naming_the_row() -> None:
    with pytest.raises(BattlesError, match=r"row 2 has an unknown winner 'left'.*'c' vs 'b'"):
        compute_leaderboard(votes(("a", "b", "model_a"), ("b", "a", "tie"), ("c", "b", "left")))


def test_style_control_without_style_features_is_a_clear_error_naming_the_row() -> None:
    table = simulate_battles({"a": 1000, "b": 1100}, 20, seed=0)
    table.loc[7, "bold_b"] = np.nan
    assert compute_leaderboard(table).rows  # fine without style control
    with pytest.raises(StyleFeaturesMissing, match=r"row 7 .* lacks bold_b; 1 of 20 votes"):
        compute_leaderboard(table, style_control=True)
    with pytest.raises(StyleFeaturesMissing, match="row 0"):
        compute_leaderboard(votes(*MIXED), style_control=True)


def test_bootstrap_rounds_without_a_finite_maximum_use_the_prior_and_say_so() -> None:
    # with six votes among three models, many resamples leave a model without a win or without a loss
    fit = fit_ratings(count_outcomes(votes(*MIXED, ("a", "b", "model_a"))), ci="bootstrap", rounds=300)
    assert fit.bootstrap_prior_rounds > 0
    assert np.isfinite(fit.lower).all() and np.isfinite(fit.upper).all()
    assert any(f"{fit.bootstrap_prior_rounds} of 300 bootstrap rounds" in w for w in fit.warnings)
