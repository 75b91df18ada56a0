"""Active pair sampling (issue 20): the rule's properties (arena.active_sampling) and a tiny benchmark run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from arena.active_sampling import pair_probabilities
from benchmarks import active_sampling as bench
from leaderboard.fit import fit_ratings
from leaderboard.outcomes import count_outcomes

NAN = math.nan
NAMES = ["d", "a", "c", "b", "e"]
STANDINGS = {
    "a": (400, 1040.0, 1080.0),
    "b": (380, 1000.0, 1044.0),
    "c": (350, 960.0, 1010.0),
    "d": (300, 900.0, 980.0),
    "e": (120, 950.0, 1110.0),
}
VOTES = {("a", "b"): 90, ("a", "c"): 80, ("a", "d"): 70, ("a", "e"): 10, ("b", "c"): 85, ("b", "d"): 60}


def _both(**kwargs):
    return [
        pair_probabilities(NAMES, STANDINGS, rule="ours", **kwargs),
        pair_probabilities(NAMES, STANDINGS, rule="paper", pair_votes=VOTES, **kwargs),
    ]


@pytest.mark.parametrize("floor", [0.0, 0.1, 0.5, 1.0])
def test_every_sorted_pair_sums_to_one_and_keeps_the_floor(floor):
    pairs = [(a, b) for i, a in enumerate("abcde") for b in "abcde"[i + 1 :]]
    for probabilities in _both(floor=floor):
        assert list(probabilities) == pairs
        values = np.array(list(probabilities.values()))
        assert np.all(np.isfinite(values))
        assert values.sum() == pytest.approx(1.0, abs=1e-12)
        assert values.min() >= floor / len(pairs) - 1e-15
    if floor == 1.0:
        assert all(v == pytest.approx(0.1) for v in _both(floor=1.0)[0].values())


def test_deterministic_and_independent_of_name_order():
    first = _both(floor=0.1)
    again = pair_probabilities([*reversed(NAMES), "a"], STANDINGS, floor=0.1)
    assert first == _both(floor=0.1)
    assert again == first[0]


@pytest.mark.parametrize("missing", [None, (0, NAN, NAN), (10, NAN, 1000.0)])
def test_a_model_without_an_interval_is_favoured(missing):
    standings = dict(STANDINGS)
    if missing is None:
        del standings["e"]
    else:
        standings["e"] = missing
    ours = pair_probabilities(NAMES, standings, floor=0.1)
    with_e = [q for pair, q in ours.items() if "e" in pair]
    assert min(with_e) > max(q for pair, q in ours.items() if "e" not in pair)
    assert sum(with_e) > 0.8
    # the paper's rule sees pair counts, not intervals: a new model (no votes on its pairs) is favoured
    paper = pair_probabilities(NAMES, standings, floor=0.1, rule="paper", pair_votes={**VOTES, ("c", "d"): 40})
    assert sum(q for pair, q in paper.items() if "e" in pair and pair != ("a", "e")) > 0.8


def test_ours_favours_the_widest_model_and_stays_near_uniform():
    probabilities = pair_probabilities(NAMES, STANDINGS, floor=0.1)
    widest = sum(q for pair, q in probabilities.items() if "e" in pair)
    narrowest = sum(q for pair, q in probabilities.items() if "a" in pair)
    assert widest > narrowest
    # equal intervals and equal ratings: uniform
    flat = pair_probabilities(NAMES, dict.fromkeys(NAMES, (100, 980.0, 1020.0)), floor=0.0)
    assert np.allclose(list(flat.values()), 0.1)
    # no standings at all: every model equally unknown, uniform
    assert np.allclose(list(pair_probabilities(NAMES, {}, floor=0.0).values()), 0.1)


def test_paper_rule_prefers_pairs_with_fewer_votes():
    names = ["a", "b", "c"]
    standings = dict.fromkeys(names, (100, 980.0, 1020.0))  # equal ratings: S_a equal, only the counts differ
    probabilities = pair_probabilities(
        names, standings, floor=0.1, rule="paper", pair_votes={("a", "b"): 50, ("a", "c"): 5, ("c", "b"): 20}
    )
    assert probabilities[("a", "c")] > probabilities[("b", "c")] > probabilities[("a", "b")]
    # a pair never voted on takes the whole non-floor share
    unseen = pair_probabilities(names, standings, floor=0.1, rule="paper", pair_votes={("a", "b"): 1, ("a", "c"): 1})
    assert unseen[("b", "c")] == pytest.approx(0.1 / 3 + 0.9)


@pytest.mark.parametrize(
    ("names", "kwargs", "message"),
    [
        (["a"], {"floor": 0.1}, "at least 2"),
        (["a", "a"], {"floor": 0.1}, "at least 2"),
        ([], {"floor": 0.1}, "at least 2"),
        (["a", "b"], {"floor": -0.1}, "floor"),
        (["a", "b"], {"floor": 1.5}, "floor"),
        (["a", "b"], {"floor": NAN}, "floor"),
        (["a", "b"], {"floor": 0.1, "rule": "greedy"}, "rule"),
        (["a", "b"], {"floor": 0.1, "rule": "paper"}, "pair_votes"),
    ],
)
def test_bad_input(names, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pair_probabilities(names, {}, **kwargs)


def test_benchmark_weighted_fit_is_the_cores_count_outcomes():
    arena = bench.make_arena({f"m{k}": 900.0 + 20 * k for k in range(6)})
    rng = np.random.default_rng(3)
    tally = bench.Tally.empty(arena.n_pairs)
    history = []
    for _ in range(4):
        q = rng.dirichlet(np.ones(arena.n_pairs))
        weight = bench.inverse_propensity_weights(q, np.full(arena.n_pairs, 6))
        counts = rng.multinomial(rng.multinomial(300, q), arena.outcome).astype(float)
        tally.add(counts, weight)
        history.append((counts, weight))
    ours = bench.weighted_fit(arena, tally)
    battles, weights = bench.weighted_battles(arena, history)
    core = fit_ratings(count_outcomes(battles, weights=weights))
    assert ours is not None and ours.models == core.models
    np.testing.assert_allclose(ours.rating, core.rating, atol=1e-8)
    np.testing.assert_allclose(ours.upper - ours.lower, core.upper - core.lower, rtol=1e-8)


def test_quick_benchmark_runs_and_ours_is_not_worse_than_uniform():
    arena = bench.make_arena({f"m{k:02d}": 850.0 + 25 * k for k in range(10)})
    config = bench.Config(seeds=3, target=80.0, refresh=100, check=50, max_votes=20_000)
    runs, rows, meta = bench.run(config, arena)
    assert len(runs) == 9 and meta["models"] == 10
    by = {(r.policy, r.fit): r for r in rows}
    for key, row in by.items():
        assert row.stopped == row.seeds, key
        assert 0.5 <= row.coverage <= 1.0, key
    assert by[("ours", "weighted")].votes_mean <= 1.15 * by[("uniform", "weighted")].votes_mean
    assert "| ours | weighted |" in bench.table(rows, config.target)


def test_arrival_history_is_shared_and_ours_serves_the_newcomer():
    """Arrival: one model joins 9 incumbents with an established history (uniform among them, twice the votes that
    bring them to the target); the history is the same for every policy of a seed."""
    arena = bench.make_arena({f"m{k:02d}": 850.0 + 25 * k for k in range(10)})
    config = bench.Config(seeds=3, target=50.0, refresh=100, check=25, max_votes=20_000, scenario="arrival",
                          policies=("uniform", "ours", "burn-in"), established=2.0)  # fmt: skip
    runs, rows, meta = bench.run(config, arena)
    assert len(runs) == 9 and meta["history_votes_mean"] > 0
    for seed in range(3):
        mine = [r for r in runs if r.seed == seed]
        assert len({(r.newcomers, r.newcomer_ranks, r.history_votes) for r in mine}) == 1
        assert mine[0].newcomers.count(",") == 0
    by = {(r.policy, r.fit): r for r in rows}
    for key, row in by.items():
        assert row.stopped == row.seeds, key
        assert 0.5 <= row.coverage <= 1.0, key
    for fit in ("weighted", "unweighted"):
        assert by[("ours", fit)].new_share > by[("uniform", fit)].new_share
        assert by[("burn-in", fit)].new_share > by[("uniform", fit)].new_share
        assert by[("ours", fit)].votes_mean <= by[("uniform", fit)].votes_mean
    assert by[("uniform", "weighted")].new_share == pytest.approx(9 / 45, abs=0.06)  # uniform: 9 of 45 pairs
    assert "votes with a newcomer" in bench.table(rows, config.target)


def test_arrival_placement_and_the_incumbents_history():
    arena = bench.make_arena({f"m{k:02d}": 850.0 + 25 * k for k in range(10)})  # m09 the best, m00 the worst
    ranks = bench.true_ranks(arena)
    assert [arena.names[k] for k in np.flatnonzero(bench.arriving(arena, 0, 1, "top"))] == ["m09"]
    assert [arena.names[k] for k in np.flatnonzero(bench.arriving(arena, 0, 1, "bottom"))] == ["m00"]
    assert sorted(ranks[bench.arriving(arena, 0, 3, "middle")].tolist()) == [4, 5, 6]
    drawn = bench.arriving(arena, 5, 3, "random")
    assert drawn.sum() == 3 and np.array_equal(drawn, bench.arriving(arena, 5, 3, "random"))
    with pytest.raises(ValueError, match="arrivals"):
        bench.arriving(arena, 0, 9, "random")
    new = bench.arriving(arena, 0, 2, "top")
    history = bench.establish(arena, new, 0, target=60.0, check=25, established=1.0, max_votes=20_000)
    touched = history.tally.votes.sum(axis=1) > 0
    new_pairs = new[arena.first] | new[arena.second]
    assert not touched[new_pairs].any() and history.votes == history.tally.votes.sum()
    assert history.snapshot.models == tuple(n for n, k in zip(arena.names, new, strict=True) if not k)
    assert bench.reached(history.snapshot, 60.0)
    np.testing.assert_allclose(history.tally.weights, history.tally.votes)  # uniform among the incumbents: weight 1
    # the sampler's first standings lack the newcomers: ours gives their pairs the non-floor share
    q = bench.policy_probabilities("ours", arena, history.snapshot, history.tally, 0.1, 60.0, new)
    assert q[new_pairs].sum() > 0.9
    # burn-in: a quarter of the battles feature an unsettled newcomer (against any other model), the rest uniform
    burn = bench.policy_probabilities("burn-in", arena, history.snapshot, history.tally, 0.1, 60.0, new)
    assert burn.sum() == pytest.approx(1.0)
    assert burn[new_pairs].sum() == pytest.approx(0.25 + 0.75 * new_pairs.mean())
    settled = {m: (1000, 990.0, 1010.0) for m in arena.names}
    assert np.allclose(bench.burn_in_probabilities(arena, settled, new), 1.0 / arena.n_pairs)
