"""Reward-model scores as RewardBench reports them (pure: per-pair outcomes in, frozen dataclasses out).

    score_set(name, model, labels, baselines)  -> SetScore: accuracy with its interval, per subset, per baseline
    overall(scores)                            -> Interval of the mean of the sets' accuracies

RewardBench's rules, kept:
- accuracy is the share of pairs where the chosen answer scores higher (a tie counts half, as in training.evidence);
- a section's score weights its subsets by their size (so it equals the accuracy over all its pairs);
- the overall score is the unweighted mean of the sections: a big set does not drown a small one.
Added: every figure has a percentile bootstrap interval over pairs, or over prompts when pairs share them (sets
resampled independently for the overall score), and beside each set the baselines on the same pairs, with the
paired difference to the best of them (training.evidence), so "0.61" is read next to "shorter answer wins 0.58".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.evidence import LEVEL, SAMPLES, Evidence, Interval, _bootstrap_means, mean_interval, weigh_evidence


@dataclass(frozen=True)
class SubsetScore:
    breakdown: str  # what the subsets split by: "category", "source", ...
    subset: str
    pairs: int
    accuracy: Interval

    def to_dict(self) -> dict[str, Any]:
        return {"breakdown": self.breakdown, "subset": self.subset, "pairs": self.pairs, **_flat(self.accuracy)}


@dataclass(frozen=True)
class BaselineScore:
    name: str
    pairs: int  # pairs it can score (the rating baseline needs two rated models)
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pairs": self.pairs, "accuracy": self.accuracy}


@dataclass(frozen=True)
class SetScore:
    name: str
    pairs: int
    accuracy: Interval
    subsets: tuple[SubsetScore, ...]
    baselines: tuple[BaselineScore, ...]
    evidence: Evidence  # against every baseline, paired

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": self.name,
            "pairs": self.pairs,
            **_flat(self.accuracy),
            "subsets": [s.to_dict() for s in self.subsets],
            "baselines": [b.to_dict() for b in self.baselines],
            "evidence": self.evidence.to_dict(),
        }


def _flat(interval: Interval) -> dict[str, float]:
    return {"accuracy": interval.estimate, "low": interval.low, "high": interval.high, "level": interval.level}


def score_set(
    name: str,
    model: Sequence[float] | np.ndarray,
    labels: Mapping[str, Sequence[str]],
    baselines: Mapping[str, Sequence[float] | np.ndarray | None],
    *,
    min_pairs: int = 30,
    samples: int = SAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    groups: Sequence[str] | None = None,
    min_prompts: int = 1,
) -> SetScore:
    """`model`: per-pair outcomes (1 chosen scored higher, 0.5 equal, 0 lower); `labels`: per breakdown, each pair's
    subset; `baselines`: per baseline, outcomes on the same pairs (NaN where it cannot score one); `groups`: each
    pair's prompt, when given the intervals resample prompts (training.evidence.mean_interval)."""
    model = np.asarray(model, dtype=float)
    if len(model) == 0:
        raise ValueError(f"evaluation set {name!r} has no pairs to score")
    labels_of = None if groups is None else np.asarray(groups, dtype=object)
    subsets = []
    for breakdown, values in labels.items():
        values = np.asarray(values, dtype=object)
        if len(values) != len(model):
            raise ValueError(f"{len(values)} {breakdown} labels for {len(model)} pairs")
        for subset in sorted(set(values.tolist()), key=str):
            chosen = model[values == subset]
            members = None if labels_of is None else labels_of[values == subset]
            interval = mean_interval(chosen, samples=samples, seed=seed, level=level, groups=members)
            subsets.append(SubsetScore(breakdown, str(subset), len(chosen), interval))
    # The section score weights subsets by size: the same as the accuracy over all the set's pairs.
    accuracy = mean_interval(model, samples=samples, seed=seed, level=level, groups=labels_of)
    evidence = weigh_evidence(
        model,
        baselines,
        min_pairs=min_pairs,
        samples=samples,
        seed=seed,
        level=level,
        groups=labels_of,
        min_prompts=min_prompts,
    )
    scored = tuple(
        BaselineScore(c.baseline, c.pairs, c.baseline_accuracy) for c in evidence.comparisons
    )  # the random scorer included, best first
    return SetScore(name, len(model), accuracy, tuple(subsets), scored, evidence)


def overall(
    outcomes: Sequence[Sequence[float] | np.ndarray],
    *,
    samples: int = SAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    groups: Sequence[Sequence[str] | None] | None = None,
) -> Interval:
    """Mean of the sets' accuracies, each set resampled on its own (RewardBench's unweighted mean): its pairs, or
    with `groups` (per set, each pair's prompt) its prompts, as the set's own interval does."""
    if not outcomes:
        raise ValueError("an overall score needs at least one set")
    point = float(np.mean([np.mean(o) for o in outcomes]))
    means = np.zeros(samples)
    for number, values in enumerate(outcomes):
        values = np.asarray(values, dtype=float)
        labels = None if groups is None else groups[number]
        if labels is None:
            sums, counts = values, np.ones(len(values))
        else:
            _, codes = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
            sums, counts = np.bincount(codes, values), np.bincount(codes).astype(float)
        means += _bootstrap_means(sums, counts, samples, seed + number)
    means /= len(outcomes)
    tail = (1.0 - level) / 2.0
    return Interval(point, float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)), level)
