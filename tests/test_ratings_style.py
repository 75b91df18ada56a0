"""Style control: a planted length bias is recovered, and the joint fit is the exact maximum likelihood."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from leaderboard.ratings import compute_leaderboard
from leaderboard.style_control import style_covariates
from leaderboard.synthetic import simulate_battles

TRUE = {f"m{i}": 1000.0 + 40.0 * i for i in range(6)}
VERBOSE, TERSE = "m0", "m3"
LENGTH_EFFECT = 1.5  # log-odds per unit of (len_a - len_b) / (len_a + len_b + 1)


def biased_battles(length_effect: float = LENGTH_EFFECT, n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    return simulate_battles(
        TRUE, n, seed=seed, tie_share=0.3, length_effect=length_effect, verbosity={VERBOSE: 900, TERSE: 150}
    )


def truth() -> pd.Series:
    series = pd.Series(TRUE)
    return series - series.mean() + 1000.0


def test_style_control_recovers_a_planted_length_effect_and_the_true_ratings() -> None:
    battles = biased_battles()
    board = compute_leaderboard(battles, style_control=True)
    frame = board.to_frame().set_index("model")
    length = board.style_coefficients[0]
    assert length.feature == "len" and length.lower < length.estimate < length.upper
    # coefficients are per standard deviation of the z-normalised covariate
    sd = style_covariates(battles).sd[0]
    assert length.lower / sd < LENGTH_EFFECT < length.upper / sd
    for other in board.style_coefficients[1:]:
        assert other.lower < 0.0 < other.upper  # header, list and bold do not matter here
    expected = truth().reindex(frame.index)
    assert (frame["style_rating"] - expected).abs().max() < 12.0
    assert frame.loc[VERBOSE, "rating"] - expected[VERBOSE] > 60.0  # the plain fit rewards verbosity
    assert expected[TERSE] - frame.loc[TERSE, "rating"] > 40.0
    covered = (frame["style_lower"] < expected) & (expected < frame["style_upper"])
    assert covered.sum() >= 5  # 95% intervals: one miss in six is ordinary
    assert list(frame["style_rank_ub"]) != list(frame["rank_ub"])  # a second ranking


def test_without_a_style_effect_style_control_changes_little() -> None:
    board = compute_leaderboard(biased_battles(length_effect=0.0), style_control=True)
    frame = board.to_frame()
    assert board.style_coefficients[0].lower < 0.0 < board.style_coefficients[0].upper
    assert (frame["style_rating"] - frame["rating"]).abs().max() < 10.0


def test_the_joint_fit_is_the_exact_maximum_likelihood() -> None:
    battles = biased_battles(n=3000, seed=4)
    board = compute_leaderboard(battles, style_control=True, ci="none")
    models = sorted(TRUE)
    index = {m: i for i, m in enumerate(models)}
    rows = np.arange(len(battles))
    teams = np.zeros((len(battles), len(models)))
    teams[rows, battles["model_a"].map(index)] = 1.0
    teams[rows, battles["model_b"].map(index)] = -1.0
    raw = np.column_stack(
        [
            (battles[f"{f}_a"] - battles[f"{f}_b"]) / (battles[f"{f}_a"] + battles[f"{f}_b"] + 1.0)
            for f in ("len", "header", "list", "bold")
        ]
    )
    design = np.column_stack([teams[:, 1:], (raw - raw.mean(0)) / raw.std(0)])  # first model pinned
    y = battles["winner"].map({"model_a": 1.0, "model_b": 0.0, "tie": 0.5}).to_numpy()
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-design @ beta))
        step = np.linalg.solve(design.T @ (design * (p * (1 - p))[:, None]), design.T @ (y - p))
        beta += step
        if np.abs(step).max() < 1e-13:
            break
    elo = np.concatenate([[0.0], beta[: len(models) - 1]]) * 400 / math.log(10)
    expected = pd.Series(elo - elo.mean() + 1000.0, index=models)
    ours = board.to_frame().set_index("model")["style_rating"]
    assert (ours - expected.reindex(ours.index)).abs().max() < 1e-6
    coefficients = [c.estimate for c in board.style_coefficients]
    assert coefficients == pytest.approx(beta[len(models) - 1 :], abs=1e-9)


def test_a_feature_that_never_varies_is_left_out_with_a_warning() -> None:
    battles = biased_battles(n=2000)
    battles[["bold_a", "bold_b"]] = 0
    board = compute_leaderboard(battles, style_control=True)
    assert [c.feature for c in board.style_coefficients] == ["len", "header", "list"]
    assert any("leaves out bold" in w for w in board.warnings)


def test_a_feature_that_copies_another_is_left_out_with_a_warning_instead_of_a_singular_fit() -> None:
    battles = biased_battles(n=2000)
    battles["bold_a"], battles["bold_b"] = battles["header_a"], battles["header_b"]  # as in LLMFAO brainstorming
    board = compute_leaderboard(battles, style_control=True)
    assert [c.feature for c in board.style_coefficients] == ["len", "header", "list"]
    assert any("leaves out bold" in w and "linear combination" in w for w in board.warnings)
    assert all(math.isfinite(row.style_rating or math.nan) for row in board.rows)


def test_style_bootstrap_intervals_agree_with_the_sandwich() -> None:
    battles = biased_battles(n=3000, seed=2)
    sandwich = compute_leaderboard(battles, style_control=True)
    bootstrap = compute_leaderboard(battles, style_control=True, ci="bootstrap", rounds=150)
    width = [c.upper - c.lower for c in sandwich.style_coefficients]
    boot_width = [c.upper - c.lower for c in bootstrap.style_coefficients]
    assert np.all((np.array(boot_width) / width > 0.75) & (np.array(boot_width) / width < 1.33))
    rows = bootstrap.to_frame()
    assert ((rows["style_lower"] < rows["style_rating"]) & (rows["style_rating"] < rows["style_upper"])).all()


def test_ratings_do_not_depend_on_the_block_size_of_the_per_vote_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts and the style fit's objective are summed in blocks of votes to bound memory; the blocks' size
    changes no number."""
    from leaderboard import elo, outcomes, style_control

    battles = biased_battles(n=3000)
    whole = compute_leaderboard(battles, style_control=True).to_dict()
    for module in (outcomes, style_control, elo):
        monkeypatch.setattr(module, "_BLOCK" if module is not elo else "_CHUNK", 17)
    blocked = compute_leaderboard(battles, style_control=True).to_dict()
    left, right = pd.DataFrame(blocked["rows"]), pd.DataFrame(whole["rows"])
    numbers = left.select_dtypes("number").columns
    assert (left[numbers] - right[numbers]).abs().max().max() < 1e-9
    assert left.drop(columns=numbers).equals(right.drop(columns=numbers))
