"""Which benchmark separates models? Pairs told apart with confidence, spread in standard errors, and the rank
correlation with people's arena ratings with a Fisher-z interval; every degenerate case says why it has no figure."""

from __future__ import annotations

import math

import pytest
from scipy.stats import spearmanr

from leaderboard.benchmark_columns import benchmark_payload, notes
from leaderboard.benchmark_separation import ARENA, Z95, Figure, separation

MODELS = ("a", "b", "c", "d", "e", "f")
ARENA_RATINGS = [Figure(m, 1000.0 + 50 * i, 1000.0 + 50 * i - 20, 1000.0 + 50 * i + 20) for i, m in enumerate(MODELS)]


def tight(scores: list[float], half: float = 0.01) -> list[Figure]:
    return [Figure(m, s, s - half, s + half) for m, s in zip(MODELS, scores, strict=True)]


def test_a_sharp_benchmark_separates_pairs_a_noisy_one_does_not() -> None:
    sharp = tight([0.1, 0.2, 0.4, 0.3, 0.5, 0.6])  # one swap against the arena's order
    noisy = tight([0.50, 0.51, 0.49, 0.52, 0.50, 0.51], half=0.2)
    result = {row.benchmark: row for row in separation({"sharp": sharp, "noisy": noisy}, ARENA_RATINGS).rows}
    assert result["sharp"].separated_pairs == result["sharp"].pairs == 15
    assert result["noisy"].separated_pairs == 0 and result["noisy"].spread < 1 < result["sharp"].spread
    assert result[ARENA].separated_pairs == 15 and result[ARENA].rank_correlation is None, "the arena is the yardstick"

    rho = result["sharp"].rank_correlation
    assert rho == pytest.approx(spearmanr([f.score for f in sharp], [f.score for f in ARENA_RATINGS]).statistic)
    half = Z95 * math.sqrt((1 + rho**2 / 2) / 3)
    assert result["sharp"].correlation_low == pytest.approx(math.tanh(math.atanh(rho) - half))
    assert result["sharp"].correlation_low < rho < result["sharp"].correlation_high < 1


def test_a_pair_counts_as_separated_only_beyond_two_standard_errors_of_the_difference() -> None:
    se = 0.05
    half = Z95 * se
    just_inside = Z95 * math.hypot(se, se) * 0.99
    figures = [Figure("a", 0.5, 0.5 - half, 0.5 + half), Figure("b", 0.5 + just_inside, 0.5, 0.5 + 2 * half)]
    (_, row) = separation({"x": figures}, ARENA_RATINGS[:2]).rows
    assert row.separated_pairs == 0
    figures[1] = Figure("b", 0.5 + just_inside / 0.98, 0.5, 0.5 + 2 * half)
    assert separation({"x": figures}, []).rows[0].separated_pairs == 1


def test_lower_is_better_benchmarks_are_turned_around_before_comparing_with_people() -> None:
    refusals = tight([0.6, 0.5, 0.4, 0.3, 0.2, 0.1])  # the best-rated refuse least
    (_, row) = separation({"over-refusal": refusals}, ARENA_RATINGS, {"over-refusal": False}).rows
    assert row.rank_correlation == pytest.approx(1.0) and row.note == "a perfect rank agreement has no z"


def test_degenerate_cases_say_why_they_have_no_figure() -> None:
    few = separation({"x": tight([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])[:2]}, ARENA_RATINGS).rows[1]
    assert few.rank_correlation is None and few.note == "fewer than 3 models with both"
    three = separation({"x": tight([0.3, 0.1, 0.2, 0.4, 0.5, 0.6])[:3]}, ARENA_RATINGS).rows[1]
    assert three.rank_correlation is not None and three.correlation_low is None
    assert three.note == "no interval below 4 models"
    same = separation({"x": tight([0.3] * 6)}, ARENA_RATINGS).rows[1]
    assert same.rank_correlation is None and same.note == "every model scored the same" and same.separated_pairs == 0
    no_interval = separation({"x": [Figure(m, 0.1 * i, None, None) for i, m in enumerate(MODELS)]}, []).rows[0]
    assert no_interval.separated_pairs == 0 and no_interval.spread is None
    assert separation({}, []).markdown() == ""


def test_the_page_payload_carries_the_table_and_its_explanation() -> None:
    runs = [
        {
            "model": m,
            "benchmark": "over-refusal",
            "score": s,
            "low": s - 0.01,
            "high": s + 0.01,
            "n": 500,
            "grader": "g",
        }
        for m, s in zip(MODELS, [0.6, 0.5, 0.4, 0.3, 0.25, 0.1], strict=True)
    ]
    people = [{"model": f.model, "rating": f.score, "lower": f.low, "upper": f.high} for f in ARENA_RATINGS]
    payload = benchmark_payload(runs, people)
    rows = {row["benchmark"]: row for row in payload["separation"]["rows"]}
    assert rows["over-refusal"]["separated_pairs"] == 15 and rows["over-refusal"]["separated_share"] == 1.0
    shown = notes(payload)
    assert "Which benchmark separates these models?" in shown and "| over-refusal | 6 | 15 of 15 |" in shown
    assert "separation" not in benchmark_payload(runs), "without people's ratings there is nothing to compare"
