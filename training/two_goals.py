"""RLHF with both of the seed's goals: a helpfulness and a harmlessness reward model, combined into the reward the
policy is trained on, and a gate that asks that neither goal gets worse.

Combination (the recipe's policy.combine, in each reward model's own units):
- "sum": r = r_helpful + w * r_harmless. Simple, and the usual choice when both models are on similar scales.
- "penalty": r = r_helpful - w * max(0, threshold - r_harmless). Harmlessness costs only below the threshold, so
  above it the policy is free to be as helpful as it can (refusing a benign request earns nothing); below it every
  unit of harm costs w.
Scales are not normalised: a reward model's scale is whatever its training left, so `w` and `threshold` are read
against the harmlessness model's rewards on base answers, which the report gives (mean and standard deviation).

The gate (training.checkpoints.compare_to_base): the combined reward gains over the base with confidence (its
interval's lower bound above zero) AND each goal is non-inferior: the lower bound of its gain is above minus a
margin, `non_inferiority_margin` standard deviations of that goal's rewards on the base answers. A policy that buys
helpfulness with harm, or harmlessness with evasive refusals, fails one of the two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from facts.vocabulary import HARMLESSNESS, HELPFULNESS
from training.evidence import mean_interval

SUM, PENALTY = "sum", "penalty"
COMBINATIONS = (SUM, PENALTY)
GOALS = (HELPFULNESS, HARMLESSNESS)


class ConversationScorer(Protocol):
    def score_conversations(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[float]: ...


def combine_rewards(
    helpful: Sequence[float] | np.ndarray,
    harmless: Sequence[float] | np.ndarray,
    *,
    combine: str,
    weight: float,
    threshold: float = 0.0,
) -> np.ndarray:
    helpful, harmless = np.asarray(helpful, dtype=float), np.asarray(harmless, dtype=float)
    if combine == SUM:
        return helpful + weight * harmless
    if combine == PENALTY:
        return helpful - weight * np.maximum(0.0, threshold - harmless)
    raise ValueError(f"unknown combination {combine!r}; use one of {', '.join(COMBINATIONS)}")


@dataclass(frozen=True)
class TwoGoalScorer:
    """Scores a conversation with both reward models; what the policy trains on is their combination."""

    helpful: ConversationScorer
    harmless: ConversationScorer
    combine: str = SUM
    weight: float = 1.0
    threshold: float = 0.0

    def score_parts(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> dict[str, list[float]]:
        return {
            HELPFULNESS: self.helpful.score_conversations(conversations),
            HARMLESSNESS: self.harmless.score_conversations(conversations),
        }

    def combined(self, parts: Mapping[str, Sequence[float]]) -> list[float]:
        return combine_rewards(
            parts[HELPFULNESS], parts[HARMLESSNESS], combine=self.combine, weight=self.weight, threshold=self.threshold
        ).tolist()

    def score_conversations(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[float]:
        return self.combined(self.score_parts(conversations))

    def describe(self) -> dict[str, Any]:
        return {"combine": self.combine, "weight": self.weight, "threshold": self.threshold}


def goal_gains(
    base: Mapping[str, Sequence[float]],
    policy: Mapping[str, Sequence[float]],
    *,
    margin_sd: float,
    samples: int,
    seed: int,
    level: float,
) -> dict[str, dict[str, Any]]:
    """Per goal: the policy's mean reward gain over the base on the same prompts, its paired bootstrap interval,
    the non-inferiority margin (margin_sd standard deviations of the base rewards) and whether the gain's lower
    bound stays above minus that margin."""
    out = {}
    for goal in GOALS:
        b, p = np.asarray(base[goal], dtype=float), np.asarray(policy[goal], dtype=float)
        gaps = p - b
        if len(gaps) == 0:
            out[goal] = {"prompts": 0, "non_inferior": False, "verdict": "no held-out prompts"}
            continue
        interval = mean_interval(gaps, samples=samples, seed=seed, level=level)
        spread = float(np.std(b, ddof=1)) if len(b) > 1 else 0.0
        margin = margin_sd * spread
        non_inferior = bool(math.isfinite(interval.low) and interval.low > -margin)
        worse = "" if non_inferior else "NOT "
        out[goal] = {
            "prompts": len(gaps),
            "base_mean_reward": float(b.mean()),
            "base_reward_sd": spread,
            "policy_mean_reward": float(p.mean()),
            "mean_reward_gain": float(gaps.mean()),
            "mean_reward_gain_ci": [interval.low, interval.high],
            "margin": margin,
            "non_inferior": non_inferior,
            "verdict": (
                f"{goal}: gain {gaps.mean():+.3f} [{interval.low:+.3f}, {interval.high:+.3f}], {worse}above the "
                f"non-inferiority bound {-margin:+.3f} ({margin_sd:g} SD of the base answers' rewards)"
            ),
        }
    return out
