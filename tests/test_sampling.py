"""Specification of pair sampling and side assignment."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from arena.sampling import (
    BurnIn,
    BurnInSampler,
    NotEnoughModels,
    assign_sides,
    burn_in_pair,
    in_burn_in,
    snapshot_standings,
    uniform_pair,
)
from store import Store


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


# --- burn-in of a newly trained contender ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Contender:
    name: str
    base: str | None = None


NAMES = ["base", "new", "c", "d", "e"]
POOL = [_Contender("base"), _Contender("new", base="base"), _Contender("c"), _Contender("d"), _Contender("e")]


def test_a_trained_contender_is_in_burn_in_until_its_rating_is_settled() -> None:
    burn_in = BurnIn(min_votes=300, max_interval=60.0)
    assert in_burn_in(POOL, {}, burn_in) == {"new": "base"}  # registered since the snapshot: no votes yet
    assert in_burn_in(POOL, {"new": (120, 900.0, 1100.0)}, burn_in) == {"new": "base"}
    assert in_burn_in(POOL, {"new": (300, 900.0, 1100.0)}, burn_in) == {}  # enough votes
    assert in_burn_in(POOL, {"new": (120, 1000.0, 1050.0)}, burn_in) == {}  # interval narrow enough
    assert in_burn_in(POOL, {"new": (10, math.nan, math.nan)}, burn_in) == {"new": "base"}  # no interval yet
    assert in_burn_in([_Contender("c"), _Contender("d")], {}, burn_in) == {}  # configured models never burn in


def test_burn_in_features_the_new_contender_often_and_mostly_against_its_base() -> None:
    rng = random.Random(7)
    burn_in = BurnIn(share=0.25, base_share=0.5)
    draws = [frozenset(burn_in_pair(NAMES, rng, {"new": "base"}, burn_in)) for _ in range(20_000)]
    featured = sum("new" in pair for pair in draws) / len(draws)
    against_base = sum(pair == {"new", "base"} for pair in draws) / len(draws)
    # Uniform alone: "new" is in 4 of 10 pairs (0.4), the base pair 1 of 10 (0.1).
    assert featured == pytest.approx(0.25 + 0.75 * 0.4, abs=0.015)
    assert against_base == pytest.approx(0.25 * 0.5 + 0.25 * 0.5 / 4 + 0.75 * 0.1, abs=0.01)
    assert all(len(pair) == 2 for pair in draws)


def test_without_burn_in_or_without_its_base_in_the_pool_sampling_stays_sane() -> None:
    rng = random.Random(3)
    burn_in = BurnIn(share=1.0, base_share=1.0)
    # The base was disabled: the new contender meets the others.
    pairs = {frozenset(burn_in_pair(["new", "c", "d"], rng, {"new": "base"}, burn_in)) for _ in range(200)}
    assert pairs == {frozenset({"new", "c"}), frozenset({"new", "d"})}
    # A contender in burn-in that was disabled is not drawn at all.
    assert all("new" not in burn_in_pair(["c", "d"], rng, {"new": "base"}, burn_in) for _ in range(50))
    with pytest.raises(NotEnoughModels):
        burn_in_pair(["new"], rng, {"new": "base"}, burn_in)


def test_the_sampler_reads_standings_once_per_ttl_and_falls_back_to_uniform_when_it_cannot() -> None:
    now = [0.0]
    reads = []

    def standings() -> dict[str, tuple[int, float, float]]:
        reads.append(now[0])
        if len(reads) == 2:
            raise RuntimeError("database down")
        return {}

    sampler = BurnInSampler(BurnIn(share=1.0, base_share=1.0), lambda: POOL, standings, ttl=60, clock=lambda: now[0])
    rng = random.Random(0)
    assert {frozenset(sampler(NAMES, rng)) for _ in range(20)} == {frozenset({"new", "base"})}
    assert reads == [0.0]  # twenty battles, one read
    now[0] = 61.0
    sampler(NAMES, rng)  # the read fails: uniform pairs until the next try, and battles go on
    assert sampler.burning() == {}
    now[0] = 122.0
    assert sampler.burning() == {"new": "base"}
    assert reads == [0.0, 61.0, 122.0]


def test_standings_come_from_the_snapshots_human_view_and_missing_bounds_are_nan() -> None:
    payload = {
        "views": {
            "human|all|plain": {"rows": [{"model": "new", "votes": 12, "lower": None, "upper": None}]},
            "judge:x|all|plain": {"rows": [{"model": "new", "votes": 999, "lower": 1.0, "upper": 2.0}]},
        }
    }
    votes, lower, upper = snapshot_standings(lambda: payload)()["new"]
    assert votes == 12 and math.isnan(lower) and math.isnan(upper)
    assert snapshot_standings(lambda: None)() == {}


def test_a_registered_checkpoint_names_its_base_and_burns_in(storage: Store) -> None:
    from datetime import UTC, datetime

    from models.registry import ModelSpec
    from store import NewTrainingRun
    from training.checkpoints import contender_spec

    storage.registry.sync([ModelSpec(name="smollm2-base"), ModelSpec(name="other")])
    (like,) = [s for s in storage.registry.models() if s.name == "smollm2-base"]
    spec = contender_spec(Path("/tmp/merged"), like=like, description="d", provenance="p", prefix="smollm2-rlhf")
    run = NewTrainingRun("rlhf", "cpu-smoke", "/tmp/run", True, {}, datetime.now(UTC), "dpo")
    storage.training_runs.record(run, spec, version_prefix="smollm2-rlhf")
    stored = storage.registry.models(enabled_only=True, anonymous_only=True)
    assert {s.name: s.base for s in stored} == {"smollm2-base": None, "other": None, "smollm2-rlhf-v1": "smollm2-base"}
    assert in_burn_in(stored, {}, BurnIn()) == {"smollm2-rlhf-v1": "smollm2-base"}
