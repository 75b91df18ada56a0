"""Specification of pair sampling and side assignment."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from arena.sampling import NotEnoughModels, assign_sides, uniform_pair


def test_uniform_pair_draws_two_distinct_models_with_every_pair_about_equally_often() -> None:
    rng = random.Random(0)
    names = ["a", "b", "c", "d"]
    counts = Counter(frozenset(uniform_pair(names, rng)) for _ in range(6000))
    assert len(counts) == 6 and all(len(pair) == 2 for pair in counts)
    assert all(800 < n < 1200 for n in counts.values()), counts


def test_fewer_than_two_models_is_a_clear_error() -> None:
    with pytest.raises(NotEnoughModels, match="at least two"):
        uniform_pair(["only"], random.Random(0))
    with pytest.raises(NotEnoughModels):
        uniform_pair(["same", "same"], random.Random(0))


def test_sides_are_swapped_about_half_the_time_and_swapped_says_so() -> None:
    rng = random.Random(1)
    results = [assign_sides(("x", "y"), rng) for _ in range(4000)]
    swapped = [r for r in results if r[2]]
    assert 1800 < len(swapped) < 2200
    assert all(r[:2] == ("y", "x") for r in swapped)
    assert all(r[:2] == ("x", "y") for r in results if not r[2])
