"""Specification of the reward-model leaderboard (leaderboard.reward_board): stored evaluations in, one table out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leaderboard.reward_board import MISSING, reward_model_table

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def evaluation(
    model: str,
    eval_set: str,
    accuracy: float,
    *,
    pairs: int = 40,
    low: float | None = None,
    high: float | None = None,
    baselines: list[dict[str, Any]] | None = None,
    minutes: int = 0,
) -> dict[str, Any]:
    """One stored evaluation as the page reads it (dataclasses.asdict of a store.RewardEvaluationView)."""
    return {
        "reward_model": model,
        "eval_set": eval_set,
        "pairs": pairs,
        "accuracy": accuracy,
        "low": accuracy - 0.1 if low is None else low,
        "high": accuracy + 0.1 if high is None else high,
        "report": {"baselines": baselines if baselines is not None else []},
        "created_at": T0 + timedelta(minutes=minutes),
    }


def test_no_evaluation_gives_an_empty_table_with_a_note_saying_how_to_make_one() -> None:
    board = reward_model_table([])
    assert board.rows == ()
    assert board.columns == ("Reward model", "Score")
    assert board.note.startswith("No reward model evaluated yet")
    assert "python -m training.evaluate reward-model" in board.note


def test_a_column_per_set_and_each_cell_shows_accuracy_interval_and_pairs() -> None:
    board = reward_model_table(
        [
            evaluation("rm", "hh-rlhf-harmless", 0.6, low=0.55, high=0.65, pairs=2312),
            evaluation("rm", "arena", 0.7, low=0.5, high=0.85, pairs=30),
        ]
    )
    assert board.columns == ("Reward model", "Score", "arena", "hh-rlhf-harmless")  # sets in name order
    assert board.rows == (("rm", "0.650", "0.700 [0.500, 0.850] (n=30)", "0.600 [0.550, 0.650] (n=2312)"),)


def test_the_score_is_the_unweighted_mean_over_sets_whatever_their_size() -> None:
    board = reward_model_table([evaluation("rm", "big", 0.5, pairs=10_000), evaluation("rm", "small", 0.9, pairs=10)])
    assert board.rows[0][1] == "0.700"


def test_models_are_sorted_by_score_best_first() -> None:
    board = reward_model_table(
        [
            evaluation("middle", "a", 0.6),
            evaluation("middle", "b", 0.6),
            evaluation("worst", "a", 0.5),
            evaluation("worst", "b", 0.5),
            evaluation("best", "a", 0.9),
            evaluation("best", "b", 0.7),
        ]
    )
    assert [(row[0], row[1]) for row in board.rows] == [("best", "0.800"), ("middle", "0.600"), ("worst", "0.500")]


def test_a_model_missing_a_set_has_no_score_and_comes_after_the_complete_ones() -> None:
    board = reward_model_table(
        [
            evaluation("partial", "a", 0.99),  # best on the one set it has, but not scored on "b"
            evaluation("complete", "a", 0.55),
            evaluation("complete", "b", 0.55),
        ]
    )
    assert [row[0] for row in board.rows] == ["complete", "partial"]
    partial = board.rows[1]
    assert partial[1] == MISSING == "—"
    assert partial[2].startswith("0.990 [")
    assert partial[3] == MISSING


def test_baseline_rows_come_from_the_newest_evaluation_of_each_set() -> None:
    old = [
        {"name": "longer answer wins", "pairs": 20, "accuracy": 0.9},
        {"name": "random scorer", "pairs": 20, "accuracy": 0.5},
    ]
    new = [
        {"name": "longer answer wins", "pairs": 25, "accuracy": 0.6},
        {"name": "random scorer", "pairs": 25, "accuracy": 0.5},
    ]
    other = [{"name": "higher-rated model wins", "pairs": 7, "accuracy": 0.75}]
    board = reward_model_table(
        [
            evaluation("new-rm", "arena", 0.7, baselines=new, minutes=10),
            evaluation("old-rm", "arena", 0.6, baselines=old, minutes=0),
            evaluation("old-rm", "file", 0.6, baselines=other, minutes=0),
        ]
    )
    assert board.columns == ("Reward model", "Score", "arena", "file")
    models = [row for row in board.rows if not row[0].startswith("baseline: ")]
    assert [row[0] for row in models] == ["old-rm", "new-rm"]  # new-rm has no "file": no score
    baselines = {row[0]: row[1:] for row in board.rows if row[0].startswith("baseline: ")}
    assert baselines == {
        "baseline: higher-rated model wins": (MISSING, MISSING, "0.750 (n=7)"),
        "baseline: longer answer wins": (MISSING, "0.600 (n=25)", MISSING),
        "baseline: random scorer": (MISSING, "0.500 (n=25)", MISSING),
    }
    assert board.rows[-3:] == tuple((name, *cells) for name, cells in sorted(baselines.items()))  # after the models


def test_a_model_scored_on_other_pairs_is_marked_and_gets_no_score() -> None:
    """A --limit sample, or the arena before it grew: not the pairs the set's newest evaluation scored."""
    board = reward_model_table(
        [
            evaluation("full", "hh", 0.6, pairs=2312, minutes=2) | {"fingerprint": "all"},
            evaluation("sampled", "hh", 0.9, pairs=40, minutes=1) | {"fingerprint": "sample"},
        ]
    )
    rows = {row[0]: row for row in board.rows}
    assert rows["full"][1:] == ("0.600", "0.600 [0.500, 0.700] (n=2312)")
    assert rows["sampled"][1:] == (MISSING, "0.900 [0.800, 1.000] (n=40, other pairs)")
    assert [row[0] for row in board.rows[:2]] == ["full", "sampled"]  # the comparable score first
