"""Evidence that a model beats its baselines on the same held-out pairs (pure: arrays in, frozen dataclasses out).

    pair_outcomes(chosen, rejected)                -> per pair: 1 chosen scored higher, 0.5 equal, 0 lower
    length_outcomes(chosen_lengths, rejected_lengths) -> {"longer answer wins": ..., "shorter answer wins": ...}
    mean_interval(values, ...)                     -> Interval of the mean (percentile bootstrap over pairs)
    paired_interval(model, baseline, ...)          -> Interval of mean(model - baseline), pairs resampled together
    weigh_evidence(model, baselines, ...)          -> Evidence: against every baseline, and whether it is enough

Why paired: a reward model and a baseline are scored on the same pairs, so most of the noise of a small held-out
set is shared; resampling pairs jointly measures the difference itself. Seven held-out pairs move accuracy by 14
points each: a point estimate "strictly above" a baseline registers noise, an interval whose lower bound is above
zero does not (RewardBench reports accuracies with intervals for the same reason).

The baselines are scored on the held-out pairs themselves, and the best of them is the bar, which favours the
baselines (choosing "shorter wins" after seeing the held-out pairs is optimistic for it): the error is on the
side of not registering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

LEVEL = 0.95
SAMPLES = 2_000
MIN_PAIRS = 30  # below this many held-out pairs no interval is trusted, whatever it says
MIN_PROMPTS = 10  # nor below this many distinct prompts under them
RANDOM = "random scorer"


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float

    def to_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}

    def text(self, *, signed: bool = False) -> str:
        fmt = "+.3f" if signed else ".3f"
        return f"{self.estimate:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"


@dataclass(frozen=True)
class Comparison:
    """The model against one baseline on the pairs both can score."""

    baseline: str
    pairs: int
    baseline_accuracy: float
    difference: Interval  # model accuracy minus the baseline's, paired
    gates: bool = True  # False: it scores too few pairs to hold the model back (reported only)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "pairs": self.pairs,
            "baseline_accuracy": self.baseline_accuracy,
            "difference": self.difference.to_dict(),
            "gates": self.gates,
        }


@dataclass(frozen=True)
class Evidence:
    """Whether the model beats every baseline with confidence: each paired interval's lower bound above zero,
    on at least `min_pairs` pairs."""

    pairs: int
    min_pairs: int
    accuracy: Interval
    comparisons: tuple[Comparison, ...]  # best baseline first
    enough: bool
    verdict: str  # one line for people, with the numbers

    @property
    def best(self) -> Comparison | None:
        """The most accurate baseline among those that gate."""
        return next((c for c in self.comparisons if c.gates), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "enough": self.enough,
            "verdict": self.verdict,
            "pairs": self.pairs,
            "min_pairs": self.min_pairs,
            "accuracy": self.accuracy.to_dict(),
            "best_baseline": self.best.baseline if self.best else None,
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


def pair_outcomes(chosen: Sequence[float] | np.ndarray, rejected: Sequence[float] | np.ndarray) -> np.ndarray:
    chosen, rejected = np.asarray(chosen, dtype=float), np.asarray(rejected, dtype=float)
    if chosen.shape != rejected.shape:
        raise ValueError(f"{len(chosen)} chosen scores against {len(rejected)} rejected ones")
    return np.where(chosen > rejected, 1.0, np.where(chosen == rejected, 0.5, 0.0))


def length_outcomes(chosen_lengths: Sequence[int], rejected_lengths: Sequence[int]) -> dict[str, np.ndarray]:
    """Both directions: votes that prefer short answers beat "longer wins" trivially, not "shorter wins"."""
    longer = pair_outcomes(chosen_lengths, rejected_lengths)
    return {"longer answer wins": longer, "shorter answer wins": 1.0 - longer}


CHUNK = 100  # bootstrap resamples drawn at a time: memory grows with CHUNK x pairs, not samples x pairs


def _bootstrap_means(sums: np.ndarray, counts: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """Means of `samples` resamples (with replacement) of the units behind `sums` / `counts`: pairs (count 1
    each) or prompts (a prompt's pairs summed), drawn CHUNK resamples at a time."""
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    for start in range(0, samples, CHUNK):
        index = rng.integers(0, len(sums), size=(min(CHUNK, samples - start), len(sums)))
        means[start : start + len(index)] = sums[index].sum(axis=1) / counts[index].sum(axis=1)
    return means


def mean_interval(
    values: np.ndarray,
    *,
    samples: int = SAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> Interval:
    """Percentile bootstrap of the mean of per-pair values; with `groups` (each pair's prompt), whole groups are
    resampled (a cluster bootstrap): pairs under one prompt are not independent evidence, and 300 pairs on 3
    prompts must not look like 300 prompts. One pair per group is the pair bootstrap; a single group has no
    interval (NaN bounds, which no gate reads as a gain)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        raise ValueError("an interval needs at least one pair")
    if groups is None:
        sums, counts = values, np.ones(len(values))
    else:
        labels = np.asarray(groups, dtype=object)
        if len(labels) != len(values):
            raise ValueError(f"{len(labels)} group labels for {len(values)} pairs")
        _, codes = np.unique(labels.astype(str), return_inverse=True)
        if codes.max() == 0:  # one prompt: nothing says how another prompt would go, so no interval is claimed
            return Interval(float(values.mean()), float("nan"), float("nan"), level)
        sums, counts = np.bincount(codes, values), np.bincount(codes).astype(float)
    means = _bootstrap_means(sums, counts, samples, seed)
    tail = (1.0 - level) / 2.0
    return Interval(float(values.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)), level)


def paired_interval(
    model: np.ndarray,
    baseline: np.ndarray,
    *,
    samples: int = SAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> Interval:
    """Percentile bootstrap of mean(model - baseline) over pairs (or `groups` of pairs) resampled together."""
    model, baseline = np.asarray(model, dtype=float), np.asarray(baseline, dtype=float)
    if len(model) != len(baseline) or len(model) == 0:
        raise ValueError("a paired interval needs the same, non-empty pairs on both sides")
    return mean_interval(model - baseline, samples=samples, seed=seed, level=level, groups=groups)


def weigh_evidence(
    model: np.ndarray,
    baselines: Mapping[str, np.ndarray | None],
    *,
    min_pairs: int = MIN_PAIRS,
    samples: int = SAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    groups: Sequence[Any] | np.ndarray | None = None,
    min_prompts: int = 1,
) -> Evidence:
    """`model`: per-pair outcomes; `baselines`: per baseline, outcomes on the same pairs (NaN where it cannot
    score a pair; None when it cannot score any). A random scorer (0.5 on every pair) is always among them.
    `groups`: each pair's prompt, for intervals that resample prompts (see mean_interval); with them, at least
    `min_prompts` distinct prompts are needed too (the percentile bootstrap over two or three prompts is far too
    optimistic). A baseline usable on fewer than `min_pairs` pairs is reported but does not gate."""
    model = np.asarray(model, dtype=float)
    n = len(model)
    if n == 0:
        empty = Interval(float("nan"), float("nan"), float("nan"), level)
        return Evidence(0, min_pairs, empty, (), False, "no held-out pairs: nothing to weigh")
    labels = None if groups is None else np.asarray(groups, dtype=object)
    accuracy = mean_interval(model, samples=samples, seed=seed, level=level, groups=labels)
    comparisons = []
    for name, outcomes in {RANDOM: np.full(n, 0.5), **baselines}.items():
        if outcomes is None:
            continue
        outcomes = np.asarray(outcomes, dtype=float)
        usable = ~np.isnan(outcomes)
        if not usable.any():
            continue
        difference = paired_interval(
            model[usable],
            outcomes[usable],
            samples=samples,
            seed=seed,
            level=level,
            groups=None if labels is None else labels[usable],
        )
        comparisons.append(Comparison(name, int(usable.sum()), float(outcomes[usable].mean()), difference))
    comparisons.sort(key=lambda c: (-c.baseline_accuracy, c.baseline))
    # A baseline that can score only a few of the pairs (two rated models on a handful of them) is reported, but
    # it does not gate: its interval is noise, and it would hold back a model that beats everything else.
    comparisons = [replace(c, gates=c.pairs >= min(min_pairs, n)) for c in comparisons]
    gating = [c for c in comparisons if c.gates]
    best = gating[0]
    beaten = all(c.difference.low > 0 for c in gating)
    prompts = len(set(labels.astype(str).tolist())) if labels is not None else n
    share = f"{level:.0%}"
    if labels is not None:  # the intervals resample prompts: say how many there are
        share += f" prompt-resampled, {prompts} prompts,"
    if n < min_pairs:
        verdict = f"not enough evidence: {n} held-out pairs, fewer than the {min_pairs} the gate asks for"
    elif prompts < min_prompts:
        verdict = (
            f"not enough evidence: {n} held-out pairs under only {prompts} prompts, fewer than the {min_prompts} "
            "the gate asks for (a few prompts' intervals are too optimistic to trust)"
        )
    elif not beaten:
        weakest = min(gating, key=lambda c: c.difference.low)
        verdict = (
            f"not enough evidence: accuracy {accuracy.text()} against {weakest.baseline} "
            f"{weakest.baseline_accuracy:.3f}, difference {weakest.difference.text(signed=True)} ({share} paired "
            f"interval over {weakest.pairs} pairs) includes no gain"
        )
    else:
        verdict = (
            f"beats every baseline: accuracy {accuracy.text()}, {best.difference.text(signed=True)} over the best "
            f"({best.baseline}, {best.baseline_accuracy:.3f}; {share} paired interval over {best.pairs} pairs)"
        )
    enough = n >= min_pairs and prompts >= min_prompts and beaten
    return Evidence(n, min_pairs, accuracy, tuple(comparisons), enough, verdict)
