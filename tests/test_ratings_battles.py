"""Specification: the votes of one battle are one unit of evidence for the intervals.

A person voting on two turns of one conversation, a judge's two orders kept as two rows, a person and a judge on
the same answers: each pair of votes read the same two answers, so the second vote is not a fresh draw. The sandwich
intervals count battles (leaderboard.outcomes.BattleSums, leaderboard.intervals); the bootstrap, which resamples
votes, says that it does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from facts.schema import normalize_battles
from leaderboard.composite import COMPOSITE, compute_composite_leaderboard
from leaderboard.intervals import sandwich_covariance
from leaderboard.outcomes import battle_codes, count_outcomes
from leaderboard.page import build_page_payload, view_key
from leaderboard.style_control import StyleFit, fit_style_control
from leaderboard.synthetic import simulate_battles
from leaderboard.table import Leaderboard, compute_leaderboard
from store import Store
from store.votes import Votes, _battle_hashes
from tests import arena_rows

RATINGS = {"alpha": 1100.0, "beta": 1040.0, "gamma": 1000.0, "delta": 930.0}


def widths(board: Leaderboard) -> dict[str, float]:
    return {row.model: row.upper - row.lower for row in board.rows}


def battles(n: int, seed: int = 0) -> pd.DataFrame:
    frame = simulate_battles(RATINGS, n, seed=seed, tie_share=0.2)
    frame["battle_id"] = [f"b{seed}-{i}" for i in range(n)]
    return frame


def test_counting_every_vote_of_a_battle_twice_leaves_the_intervals_where_they_were() -> None:
    once = battles(3000)
    twice = pd.concat([once, once], ignore_index=True)
    alone, doubled = widths(compute_leaderboard(once)), widths(compute_leaderboard(twice))
    assert doubled == pytest.approx(alone, rel=1e-9)
    # The same votes without their battles are taken as independent draws: sqrt(2) narrower.
    naive = widths(compute_leaderboard(twice.drop(columns="battle_id")))
    assert {m: naive[m] / alone[m] for m in alone} == pytest.approx({m: 2**-0.5 for m in alone}, rel=1e-6)


def test_battles_of_one_vote_give_exactly_the_per_vote_intervals() -> None:
    votes = battles(2000)
    counts = count_outcomes(votes)
    assert counts.battles is None  # nothing to account for: the per-vote sandwich, bit for bit
    with_ids, without = compute_leaderboard(votes), compute_leaderboard(votes.drop(columns="battle_id"))
    assert [(r.model, r.lower, r.upper) for r in with_ids.rows] == [(r.model, r.lower, r.upper) for r in without.rows]


def test_the_battle_sandwich_equals_a_direct_computation_over_battles() -> None:
    rng = np.random.default_rng(7)
    votes = battles(900, seed=3)
    extra = votes.sample(n=600, replace=True, random_state=1)  # second and third votes on some battles...
    extra["winner"] = rng.choice(["model_a", "model_b", "tie"], size=len(extra))  # ...not always agreeing
    swapped = extra.sample(frac=0.5, random_state=2).index  # a judge's other order: the sides named the other way
    extra.loc[swapped, ["model_a", "model_b"]] = extra.loc[swapped, ["model_b", "model_a"]].to_numpy()
    extra.loc[swapped, "winner"] = extra.loc[swapped, "winner"].map(
        {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}
    )
    votes = pd.concat([votes, extra], ignore_index=True)
    weights = rng.uniform(0.5, 2.0, size=len(votes))
    counts = count_outcomes(votes, weights)
    assert counts.battles is not None and counts.battles.n_battles == 900
    theta = np.array([0.3, -0.1, 0.05, -0.25])
    models = list(counts.models)
    # Brute force: a score vector per vote, summed per battle, outer products summed.
    n = len(models)
    meat = np.zeros((n, n))
    bread = np.zeros((n, n))
    index_a = votes["model_a"].map(models.index).to_numpy()
    index_b = votes["model_b"].map(models.index).to_numpy()
    y = votes["winner"].map({"model_a": 1.0, "model_b": 0.0, "tie": 0.5}).to_numpy()
    p = 1.0 / (1.0 + np.exp(theta[index_b] - theta[index_a]))
    per_battle: dict[str, np.ndarray] = {}
    for i, battle in enumerate(votes["battle_id"]):
        x = np.zeros(n)
        x[index_a[i]], x[index_b[i]] = 1.0, -1.0
        per_battle[battle] = per_battle.get(battle, np.zeros(n)) + weights[i] * (y[i] - p[i]) * x
        bread += weights[i] * p[i] * (1 - p[i]) * np.outer(x, x)
    for score in per_battle.values():
        meat += np.outer(score, score)
    bread += np.ones((n, n)) / n  # the mean-zero gauge, as bradley_terry.normal_matrix adds it
    expected = np.linalg.inv(bread) @ meat @ np.linalg.inv(bread)
    np.testing.assert_allclose(sandwich_covariance(counts, theta), expected, rtol=1e-9, atol=1e-12)


def test_a_battle_id_reused_across_pairs_counts_as_one_battle_per_pair() -> None:
    votes = battles(400)
    votes["battle_id"] = "imported-0"  # a malformed import: one id for every battle
    counts = count_outcomes(votes)
    assert counts.battles is not None
    assert counts.battles.n_battles == counts.n_pairs  # split by pair: never a battle spanning two pairs


def test_battle_codes_come_from_the_store_key_else_the_battle_id_and_a_vote_without_either_stands_alone() -> None:
    frame = pd.DataFrame({"battle_id": ["x", None, "x", "y", None]})
    codes = battle_codes(frame)
    assert codes is not None
    assert codes[0] == codes[2] and len({codes[0], codes[1], codes[3], codes[4]}) == 4
    assert battle_codes(pd.DataFrame({"battle_id": [None, None]})) is None
    assert battle_codes(pd.DataFrame({"model_a": ["a"]})) is None
    both = {"battle_key": np.array([5, 9, 5], dtype=np.int32), "battle_id": ["p", "q", "r"]}
    keyed = battle_codes(pd.DataFrame(both))
    assert keyed is not None and keyed[0] == keyed[2] != keyed[1]  # the key wins over the id
    sparse = battle_codes(pd.DataFrame({"battle_key": np.array([2**40, -3, 2**40])}))
    assert sparse is not None and list(sparse) == [0, 1, 0]


def test_the_bootstrap_resamples_battles_so_doubled_votes_leave_its_intervals_where_they_were() -> None:
    once = battles(1500)
    twice = pd.concat([once, once], ignore_index=True)
    alone = widths(compute_leaderboard(once, ci="bootstrap", rounds=600, seed=4))
    doubled = compute_leaderboard(twice, ci="bootstrap", rounds=600, seed=5)
    assert not any("battles hold" in w for w in doubled.warnings)
    # Monte Carlo error of a width from 600 rounds is a few percent; resampling votes would give 0.71.
    assert widths(doubled) == pytest.approx(alone, rel=0.12)
    naive = widths(compute_leaderboard(twice.drop(columns="battle_id"), ci="bootstrap", rounds=600, seed=5))
    assert np.mean([naive[m] / alone[m] for m in alone]) == pytest.approx(2**-0.5, rel=0.12)


def test_battle_units_group_battles_with_the_same_votes_and_keep_every_vote_and_weight() -> None:
    votes = battles(300)
    extra = votes.iloc[:100].copy()  # a second vote on the first hundred battles
    votes = pd.concat([votes, extra], ignore_index=True)
    weights = np.where(np.arange(len(votes)) % 2 == 0, 1.0, 2.5)
    counts = count_outcomes(votes, weights, cells=True)
    units = counts.units
    assert units is not None and units.count.sum() == 300  # every battle once
    assert np.bincount(units.unit, minlength=len(units)) @ units.count == len(votes)  # every vote once
    per_column = np.bincount(units.column, units.weight * units.count[units.unit], minlength=3 * counts.n_pairs)
    np.testing.assert_allclose(per_column, np.concatenate([counts.wins, counts.ties, counts.losses]))
    assert count_outcomes(votes, weights).units is None  # only when the bootstrap asks


def test_intervals_cover_the_true_ratings_when_a_judge_votes_twice_on_every_battle() -> None:
    """A judge's two orders kept as two rows, giving each battle the same verdict: 95% intervals that count battles
    cover the true ratings 96.5% of the time here; counting votes, 85% (sqrt(2) too narrow: 83% expected)."""
    truth = np.array(list(RATINGS.values()))
    truth = dict(zip(RATINGS, truth - truth.mean() + 1000.0, strict=True))
    covered = {"battles": [], "votes": []}
    for seed in range(150):
        once = battles(400, seed=seed)
        swapped = once.rename(columns={"model_a": "model_b", "model_b": "model_a"})
        swapped["winner"] = once["winner"].map({"model_a": "model_b", "model_b": "model_a"}).fillna(once["winner"])
        twice = pd.concat([once, swapped], ignore_index=True)
        for way, frame in (("battles", twice), ("votes", twice.drop(columns="battle_id"))):
            for row in compute_leaderboard(frame, with_online_elo=False).rows:
                covered[way].append(row.lower <= truth[row.model] <= row.upper)
    by_battle, by_vote = np.mean(covered["battles"]), np.mean(covered["votes"])
    assert 0.92 <= by_battle <= 0.985, by_battle
    assert by_vote <= 0.88, by_vote


def test_a_judge_agreeing_with_every_person_adds_no_certainty_to_the_composite(storage: Store) -> None:
    """Read from the store: a person's vote and a judge's identical verdict on each battle, weighted alike, are one
    battle's evidence counted twice; the composite's intervals are the people's own."""
    rng = np.random.default_rng(3)
    pairs = [("alpha", "beta"), ("beta", "gamma"), ("alpha", "gamma")]
    for n in range(90):
        model_a, model_b = pairs[n % 3]
        winner = str(rng.choice(["model_a", "model_b", "tie"], p=[0.5, 0.35, 0.15]))
        battle = arena_rows.voted_battle(storage, winner, model_a=model_a, model_b=model_b, voter_id=f"p{n}")
        storage.battles.record_vote(battle_id=battle, turn=1, winner=winner, voter_id="j", source="judge:mirror")
    votes = Votes(storage.db).read()
    assert votes["battle_key"].dtype == np.int32 and votes["battle_key"].nunique() == 90
    people = widths(compute_leaderboard(votes, weighting="none"))
    both = widths(compute_composite_leaderboard(votes, {"human": 1.0, "judge:*": 1.0}, weighting="none"))
    assert both == pytest.approx(people, rel=1e-9)


def styled(n: int, seed: int = 0) -> pd.DataFrame:
    frame = battles(n, seed)
    rng = np.random.default_rng(seed)
    for column in ("len_a", "len_b"):
        frame[column] = rng.integers(50, 800, size=n)
    for column in ("header_a", "header_b", "list_a", "list_b", "bold_a", "bold_b"):
        frame[column] = rng.integers(0, 5, size=n)
    return frame


def style_widths(board: Leaderboard) -> dict[str, float]:
    return {row.model: row.style_upper - row.style_lower for row in board.rows}


def test_style_controlled_intervals_count_battles_too() -> None:
    once = styled(2500)
    twice = pd.concat([once, once], ignore_index=True)
    alone = compute_leaderboard(once, style_control=True)
    doubled = compute_leaderboard(twice, style_control=True)
    assert style_widths(doubled) == pytest.approx(style_widths(alone), rel=1e-6)
    for single, double in zip(alone.style_coefficients, doubled.style_coefficients, strict=True):
        assert double.upper - double.lower == pytest.approx(single.upper - single.lower, rel=1e-6)
    naive = style_widths(compute_leaderboard(twice.drop(columns="battle_id"), style_control=True))
    assert {m: naive[m] / w for m, w in style_widths(alone).items()} == pytest.approx(
        dict.fromkeys(RATINGS, 2**-0.5), rel=1e-4
    )


def test_the_style_controlled_bootstrap_resamples_battles() -> None:
    once = styled(800)
    twice = pd.concat([once, once], ignore_index=True)
    alone = style_widths(compute_leaderboard(once, style_control=True, ci="bootstrap", rounds=300, seed=1))
    doubled = style_widths(compute_leaderboard(twice, style_control=True, ci="bootstrap", rounds=300, seed=2))
    assert doubled == pytest.approx(alone, rel=0.15)


def test_one_battle_id_hashes_alike_whatever_else_is_in_its_batch() -> None:
    uuid_like = "0f8fad5b-d9cb-469f-a165-70867728950e"
    alone = _battle_hashes(pa.array([uuid_like, uuid_like.upper()]))
    mixed = _battle_hashes(pa.array(["imported-1", uuid_like, "x" * 70, uuid_like.upper()]))
    assert alone[0] == mixed[1] and alone[1] == mixed[3] and alone[0] != alone[1]
    assert len(set(mixed)) == 4
    sliced = _battle_hashes(pa.array(["a", "imported-1", uuid_like]).slice(1))
    assert sliced[1] == alone[0] and sliced[0] == mixed[0]


def test_battle_keys_with_gaps_or_missing_values_still_group_battles() -> None:
    floats = battle_codes(pd.DataFrame({"battle_key": [3.0, np.nan, 3.0, 7.0]}))
    assert floats is not None and floats[0] == floats[2] and len({*floats}) == 3
    nullable = battle_codes(pd.DataFrame({"battle_key": pd.array([1, None, 1], dtype="Int64")}))
    assert nullable is not None and nullable[0] == nullable[2] != nullable[1]
    many = pd.Categorical(["b1", "b1"], categories=[f"b{i}" for i in range(100_000)])
    codes = battle_codes(pd.DataFrame({"battle_id": many}))
    assert codes is not None and list(codes) == [0, 0]  # numbered over this frame, not over the categories


def test_the_page_counts_battles_in_its_composite_view() -> None:
    people = battles(1500)
    judge = people.assign(source="judge:mirror", judge="judge")
    votes = pd.concat([people, judge], ignore_index=True)
    votes["battle_key"] = np.concatenate([np.arange(1500), np.arange(1500)]).astype(np.int32)
    votes = votes.drop(columns="battle_id")
    payload = build_page_payload(votes, {}, len(votes), composite_weights={"human": 1.0, "judge:*": 1.0})
    composite = payload["views"][view_key(COMPOSITE, None, False)]
    human = payload["views"][view_key("human", None, False)]
    width = {row["model"]: row["upper"] - row["lower"] for row in composite["rows"]}
    assert width == pytest.approx({row["model"]: row["upper"] - row["lower"] for row in human["rows"]}, rel=1e-9)


def test_the_benchmarks_agreement_study_at_ci_size() -> None:
    """benchmarks/bench_battle_intervals.py's simulation, small: a judge that repeats people widens the composite's
    intervals once battles are counted, and one that votes on its own does not."""
    from benchmarks.bench_battle_intervals import agreement_study

    repeating = agreement_study(0.66, seeds=6, battles=1500)
    independent = agreement_study(0.0, seeds=6, battles=1500)
    assert repeating["width_ratio"] == pytest.approx(1.23, abs=0.06)
    assert independent["width_ratio"] == pytest.approx(1.0, abs=0.03)
    assert repeating["coverage_battles"] >= repeating["coverage_votes"]


def test_weighted_style_control_equals_repeating_each_vote_its_weight_in_times_within_its_battle() -> None:
    """Integer weights as repeated votes: a vote of weight 3 is the same evidence as three copies of it in one
    battle. Ratings, intervals and style coefficients agree."""
    votes = styled(1200, seed=4)
    weights = np.random.default_rng(4).integers(1, 4, size=len(votes)).astype(float)
    repeated = votes.loc[votes.index.repeat(weights.astype(int))].reset_index(drop=True)
    weighted = compute_leaderboard(votes.drop(columns="battle_id"), style_control=True, weighting="none")
    weighted_fit = fit_style_control_directly(votes.drop(columns="battle_id"), weighted, weights)
    copies_board = compute_leaderboard(repeated, style_control=True, weighting="none")
    copies_fit = fit_style_control_directly(repeated, copies_board, None)
    np.testing.assert_allclose(weighted_fit.rating, copies_fit.rating, atol=1e-6)
    np.testing.assert_allclose(weighted_fit.upper - weighted_fit.lower, copies_fit.upper - copies_fit.lower, rtol=1e-6)
    for ours, theirs in zip(weighted_fit.coefficients, copies_fit.coefficients, strict=True):
        assert ours.estimate == pytest.approx(theirs.estimate, abs=1e-7)
        assert ours.upper - ours.lower == pytest.approx(theirs.upper - theirs.lower, rel=1e-6)


def fit_style_control_directly(frame: pd.DataFrame, board: Leaderboard, weights: np.ndarray | None) -> StyleFit:
    models = tuple(sorted(row.model for row in board.rows))
    parts = np.zeros(len(models), dtype=np.int64)
    return fit_style_control(normalize_battles(frame), models, parts, weights=weights)


def test_style_controlled_views_are_weighted_like_the_plain_ones() -> None:
    votes = styled(1500, seed=5)
    votes["pair_probability"], votes["pool_size"] = 1 / 6, 4.0  # uniform over the 6 pairs of 4 models: weight 1
    plain = compute_leaderboard(votes, style_control=True)
    skewed = votes.copy()
    skewed["pair_probability"] = np.where(skewed["model_a"].astype(str) == "alpha", 0.3, 0.1)
    weighted = compute_leaderboard(skewed, style_control=True)
    assert not any("unweighted votes" in note for note in weighted.warnings)
    assert any("Pairs were not drawn uniformly" in note for note in weighted.warnings)
    assert [r.style_rating for r in weighted.rows] != pytest.approx([r.style_rating for r in plain.rows], abs=1e-3)
    constant = compute_leaderboard(votes, style_control=True, weighting="none")
    assert [r.style_rating for r in plain.rows] == pytest.approx([r.style_rating for r in constant.rows], abs=1e-9)


def test_too_many_kinds_of_battle_fall_back_to_resampling_votes_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import leaderboard.outcomes as outcomes

    monkeypatch.setattr(outcomes, "MAX_CELLS", 10)  # continuous weights make nearly every battle a kind of its own
    once = battles(300)
    twice = pd.concat([once, once], ignore_index=True)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, size=len(twice))
    assert count_outcomes(twice, weights, cells=True).units is None
    assert count_outcomes(twice, weights, cells=True).battles is not None  # the sandwich still counts battles
    board = compute_leaderboard(twice, ci="bootstrap", rounds=20, weighting="none")
    assert any("too many kinds of battle to resample" in w for w in board.warnings)


def test_a_long_imported_battle_id_is_hashed_on_its_own_and_alike_in_any_batch() -> None:
    long_id = "imported/" + "x" * 5000
    alone = _battle_hashes(pa.array([long_id]))
    mixed = _battle_hashes(pa.array(["0f8fad5b-d9cb-469f-a165-70867728950e", long_id, "short", long_id]))
    assert mixed[1] == mixed[3] == alone[0]
    assert len(set(mixed)) == 3
