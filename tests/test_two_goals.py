"""Specification of RLHF on both goals (issue 17): how the helpfulness and harmlessness rewards combine, and the
gate's rule that neither goal gets worse (training.two_goals)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from facts.vocabulary import HARMLESSNESS, HELPFULNESS
from training.two_goals import PENALTY, SUM, TwoGoalScorer, combine_rewards, goal_gains


def test_a_weighted_sum_adds_the_harmlessness_reward_at_its_weight() -> None:
    combined = combine_rewards([1.0, 2.0], [-1.0, 3.0], combine=SUM, weight=0.5)
    assert combined.tolist() == [0.5, 3.5]


def test_a_penalty_costs_only_below_the_threshold() -> None:
    """Above the threshold harmlessness earns nothing more: refusing a benign request is not rewarded."""
    combined = combine_rewards([1.0, 1.0, 1.0], [-2.0, 0.5, 4.0], combine=PENALTY, weight=2.0, threshold=1.0)
    assert combined.tolist() == [1.0 - 2.0 * 3.0, 1.0 - 2.0 * 0.5, 1.0]


def test_an_unknown_combination_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown combination 'product'"):
        combine_rewards([1.0], [1.0], combine="product", weight=1.0)


class LengthScorer:
    """A real scorer of conversations: the last answer's length times a sign."""

    def __init__(self, sign: float) -> None:
        self.sign = sign

    def score_conversations(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[float]:
        return [self.sign * len(c[-1]["content"]) for c in conversations]


def test_the_two_goal_scorer_scores_each_goal_and_trains_on_their_combination() -> None:
    scorer = TwoGoalScorer(LengthScorer(1.0), LengthScorer(-1.0), combine=SUM, weight=0.25)
    conversations = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x" * n}] for n in (4, 8)]
    parts = scorer.score_parts(conversations)
    assert parts == {HELPFULNESS: [4.0, 8.0], HARMLESSNESS: [-4.0, -8.0]}
    assert scorer.score_conversations(conversations) == [3.0, 6.0]


def _gains(helpful_gain: float, harmless_gain: float, *, margin_sd: float = 0.1) -> dict[str, dict[str, object]]:
    rng = np.random.default_rng(0)
    base = {HELPFULNESS: rng.normal(0, 1, 60), HARMLESSNESS: rng.normal(0, 1, 60)}
    policy = {
        HELPFULNESS: base[HELPFULNESS] + helpful_gain + rng.normal(0, 0.05, 60),
        HARMLESSNESS: base[HARMLESSNESS] + harmless_gain + rng.normal(0, 0.05, 60),
    }
    return goal_gains(base, policy, margin_sd=margin_sd, samples=500, seed=0, level=0.95)


def test_a_policy_that_buys_helpfulness_with_harm_is_not_non_inferior() -> None:
    gains = _gains(helpful_gain=0.5, harmless_gain=-0.5)
    assert gains[HELPFULNESS]["non_inferior"] is True
    assert gains[HARMLESSNESS]["non_inferior"] is False
    assert "NOT above the non-inferiority bound" in str(gains[HARMLESSNESS]["verdict"])


def test_a_change_within_the_margin_is_not_called_worse() -> None:
    gains = _gains(helpful_gain=0.5, harmless_gain=-0.01, margin_sd=0.1)
    assert gains[HARMLESSNESS]["non_inferior"] is True
    margin = gains[HARMLESSNESS]["margin"]
    assert isinstance(margin, float) and 0.05 < margin < 0.15  # 0.1 SD of base rewards drawn with SD 1
    strict = _gains(helpful_gain=0.5, harmless_gain=-0.01, margin_sd=0.0)
    assert strict[HARMLESSNESS]["non_inferior"] is False, "margin 0: any evidence of a loss fails"
