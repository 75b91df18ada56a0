"""Pair sampling policies: which two contenders meet in the next anonymous battle.

A policy is any function `(names, rng) -> (first, second)`; the battle service randomises left/right
afterwards, so a policy need not care about sides. Uniform first; weighted and active sampling later.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

PairSampler = Callable[[Sequence[str], random.Random], tuple[str, str]]


class NotEnoughModels(RuntimeError):
    """Fewer than two contenders may appear in anonymous battles."""


def uniform_pair(names: Sequence[str], rng: random.Random) -> tuple[str, str]:
    """Every unordered pair of distinct contenders is equally likely."""
    unique = sorted(set(names))
    if len(unique) < 2:
        raise NotEnoughModels(
            f"anonymous battles need at least two enabled anonymous models; the registry has {len(unique)}"
        )
    first, second = rng.sample(unique, 2)
    return first, second


def assign_sides(pair: tuple[str, str], rng: random.Random) -> tuple[str, str, bool]:
    """Randomise left/right: returns (left, right, swapped)."""
    swapped = rng.random() < 0.5
    left, right = (pair[1], pair[0]) if swapped else pair
    return left, right, swapped
