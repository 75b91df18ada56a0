"""How much a vote weighs when its pair was not drawn uniformly: the one home of inverse-propensity weights.

A battle stores the probability its unordered pair had when it was drawn (`pair_probability`, under the sampling
policy in force, burn-in and the uniform floor included) and how many contenders it was drawn from
(`pool_size`). The ratings' target is the arena everyone knows: every pair of the contenders present equally
likely. A vote is weighted by how much more (or less) often uniform sampling would have drawn its pair:

    weight = uniform probability / pair probability,   uniform probability = 2 / (pool_size * (pool_size - 1))

so a vote from uniform sampling weighs exactly 1, and a pair drawn twice as often as uniform counts half per vote.
A vote with no stored probability (cast before propensities were stored, a judge's vote on a stored battle, an
imported battle) weighs 1: it is treated as drawn uniformly, which is what the arena did before.
"""

from __future__ import annotations

import numpy as np

# Weights are clipped to this range: a pair the floor keeps at, say, 1/20 of its uniform probability would otherwise
# give one vote the weight of twenty, and the interval's variance grows with the square of the weights.
MAX_WEIGHT = 20.0
MIN_WEIGHT = 1.0 / MAX_WEIGHT


def uniform_pair_probability(pool_size: np.ndarray | float) -> np.ndarray:
    """2 / (K (K - 1)): the probability of one unordered pair among K contenders drawn uniformly; NaN for K < 2."""
    k = np.asarray(pool_size, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(k >= 2, 2.0 / (k * (k - 1.0)), np.nan)


def inverse_propensity_weights(pair_probability: np.ndarray, pool_size: np.ndarray) -> np.ndarray:
    """Per-vote weights (see the module docstring); 1 where either stored value is missing or not usable."""
    p = np.asarray(pair_probability, dtype=np.float64)
    uniform = uniform_pair_probability(pool_size)
    usable = np.isfinite(p) & (p > 0) & (p <= 1) & np.isfinite(uniform)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(usable, uniform / np.where(usable, p, 1.0), 1.0)
    return np.clip(weights, MIN_WEIGHT, MAX_WEIGHT)


def is_uniform(weights: np.ndarray, tolerance: float = 1e-9) -> bool:
    """Whether every vote weighs 1 (uniform sampling throughout): then weighting changes nothing."""
    w = np.asarray(weights, dtype=np.float64)
    return bool(np.all(np.abs(w - 1.0) <= tolerance))
