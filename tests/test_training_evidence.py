"""Specification of the evidence a gate weighs (training.evidence): a reward model against its baselines on the same
held-out pairs, with paired bootstrap intervals, never a point estimate "strictly above"."""

from __future__ import annotations

import numpy as np
import pytest

from training.evidence import (
    RANDOM,
    length_outcomes,
    pair_outcomes,
    paired_interval,
    weigh_evidence,
)
from training.reward import evaluate_rewards


def outcomes(right: int, n: int) -> np.ndarray:
    return np.array([1.0] * right + [0.0] * (n - right))


def test_six_of_seven_against_five_of_seven_is_not_evidence() -> None:
    # The run the issue describes: one pair moves accuracy by 14 points.
    model, baseline = outcomes(6, 7), outcomes(5, 7)
    evidence = weigh_evidence(model, {"longer answer wins": baseline}, min_pairs=0)
    assert not evidence.enough
    assert evidence.best is not None and evidence.best.difference.low <= 0 < evidence.best.difference.estimate
    assert "not enough evidence" in evidence.verdict
    too_few = weigh_evidence(model, {"longer answer wins": baseline})
    assert not too_few.enough and "fewer than the 30" in too_few.verdict


def test_a_clear_win_on_enough_pairs_is_evidence() -> None:
    rng = np.random.default_rng(0)
    n = 200
    model = (rng.random(n) < 0.85).astype(float)
    longer = (rng.random(n) < 0.5).astype(float)
    evidence = weigh_evidence(model, length_outcomes((longer * 10).astype(int), ((1 - longer) * 10).astype(int)))
    assert evidence.enough, evidence.verdict
    assert evidence.verdict.startswith("beats every baseline")
    assert all(c.difference.low > 0 for c in evidence.comparisons)
    assert {c.baseline for c in evidence.comparisons} == {RANDOM, "longer answer wins", "shorter answer wins"}


def test_a_model_that_learned_nothing_is_refused_however_many_pairs() -> None:
    rng = np.random.default_rng(1)
    shuffled = (rng.random(2_000) < 0.5).astype(float)  # a model trained on shuffled labels: a coin
    evidence = weigh_evidence(shuffled, {})
    assert not evidence.enough
    assert evidence.best is not None and evidence.best.baseline == RANDOM


def test_votes_that_prefer_short_answers_make_shorter_wins_the_bar() -> None:
    # "Longer wins" scores 0 here: beating it proves nothing; "shorter wins" scores 1 and is the bar.
    chosen_lengths, rejected_lengths = [10] * 50, [500] * 50
    baselines = length_outcomes(chosen_lengths, rejected_lengths)
    assert baselines["longer answer wins"].mean() == 0.0 and baselines["shorter answer wins"].mean() == 1.0
    evidence = weigh_evidence(outcomes(45, 50), baselines)
    assert not evidence.enough
    assert evidence.best is not None and evidence.best.baseline == "shorter answer wins"


def test_a_baseline_that_cannot_score_a_pair_is_compared_on_the_pairs_it_can() -> None:
    rated = np.array([1.0, 0.0, np.nan, np.nan, 1.0])
    evidence = weigh_evidence(outcomes(5, 5), {"higher-rated model wins": rated, "none": None}, min_pairs=0)
    compared = {c.baseline: c.pairs for c in evidence.comparisons}
    assert compared == {RANDOM: 5, "higher-rated model wins": 3}


def test_pairing_measures_the_difference_itself() -> None:
    # Model and baseline agree on most pairs: the shared noise cancels in a paired interval.
    rng = np.random.default_rng(2)
    baseline = (rng.random(100) < 0.6).astype(float)
    model = baseline.copy()
    model[np.flatnonzero(baseline == 0)[:15]] = 1.0  # right on 15 more pairs, wrong on none the baseline got
    paired = paired_interval(model, baseline)
    assert paired.low > 0
    separate = [paired_interval(x, np.zeros_like(x)) for x in (model, baseline)]
    assert separate[0].low < separate[1].high, "unpaired intervals overlap: they would see no difference"


def test_outcomes_count_ties_as_half_and_refuse_mismatched_sides() -> None:
    assert pair_outcomes([2, 1, 1], [1, 1, 3]).tolist() == [1.0, 0.5, 0.0]
    with pytest.raises(ValueError, match="3 chosen scores against 2"):
        pair_outcomes([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="non-empty"):
        paired_interval(np.array([]), np.array([]))
    nothing = weigh_evidence(np.array([]), {})
    assert not nothing.enough and "no held-out pairs" in nothing.verdict


def test_the_reward_report_carries_the_evidence_with_its_verdict() -> None:
    records = [
        {
            "prompt": [{"role": "user", "content": "q"}],
            "chosen": [{"role": "assistant", "content": "good" * (i % 3 + 1)}],
            "rejected": [{"role": "assistant", "content": "bad" * (3 - i % 3)}],
            "chosen_model": "a",
            "rejected_model": "b" if i % 2 else "unrated",
        }
        for i in range(12)
    ]
    report = evaluate_rewards(records, [1.0] * 12, [0.0] * 12, {"a": 1100.0, "b": 1000.0})
    evidence = report["evidence"]
    assert evidence["pairs"] == 12 and evidence["enough"] is False  # 12 < 30 pairs
    assert {c["baseline"]: c["pairs"] for c in evidence["comparisons"]}["higher-rated model wins"] == 6
    assert evidence["accuracy"]["estimate"] == 1.0
    assert "not enough evidence" in evidence["verdict"]


def test_pairs_under_too_few_prompts_are_not_evidence_however_clear() -> None:
    """Forty pairs, the model ahead on both of their two prompts: the bootstrap over two prompts would call it
    certain; the gate asks for prompts too."""
    model, baseline = np.ones(40), np.full(40, 0.5)
    prompts = ["q1"] * 20 + ["q2"] * 20
    two = weigh_evidence(model, {"longer answer wins": baseline}, groups=prompts, min_prompts=10)
    assert not two.enough and "under only 2 prompts, fewer than the 10" in two.verdict
    forty = weigh_evidence(model, {"longer answer wins": baseline}, groups=[f"q{i}" for i in range(40)], min_prompts=10)
    assert forty.enough and "40 prompts" in forty.verdict


def test_a_baseline_that_scores_only_a_few_pairs_is_reported_but_does_not_gate() -> None:
    model = np.ones(40)
    rated = np.full(40, np.nan)
    rated[:2] = 1.0  # two rated models met on two pairs only: right on both
    evidence = weigh_evidence(model, {"higher-rated model wins": rated}, min_pairs=30)
    rating = next(c for c in evidence.comparisons if c.baseline == "higher-rated model wins")
    assert (rating.pairs, rating.gates) == (2, False)
    assert evidence.enough and evidence.best is not None and evidence.best.baseline == RANDOM


def test_an_interval_is_the_same_whatever_chunks_its_resamples_are_drawn_in() -> None:
    """Resamples are drawn in chunks to bound memory (samples x pairs at once would need GBs at arena size)."""
    from training import evidence

    values = np.random.default_rng(0).random(50_000)
    whole = evidence.mean_interval(values, samples=300, seed=1)
    original, evidence.CHUNK = evidence.CHUNK, 300
    try:
        one_chunk = evidence.mean_interval(values, samples=300, seed=1)
    finally:
        evidence.CHUNK = original
    assert whole.low == pytest.approx(one_chunk.low, abs=2e-3) and whole.estimate == one_chunk.estimate
