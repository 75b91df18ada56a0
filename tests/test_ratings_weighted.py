"""Weighted ratings: inverse-propensity weights under non-uniform pair sampling, and composite (multi-source) ratings.

Independent checks: scipy.optimize on the per-vote weighted log-likelihood, and the weighted sandwich built vote by
vote (A = sum w p (1-p) x x^T, B = sum w^2 (y-p)^2 x x^T), against the pair-count core. (The `arena-rank` package was
also compared by hand; it pins numpy 2.3.3, so it cannot be a dev dependency here: see the notes in
/work/notes/issue20-ratings.md.)
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from facts.propensity import inverse_propensity_weights
from leaderboard.__main__ import hide_models, main
from leaderboard.bradley_terry import fit_strengths
from leaderboard.composite import (
    COMPOSITE,
    composite_label,
    compute_composite_leaderboard,
    parse_source_weights,
    resolve_source_weights,
)
from leaderboard.fit import fit_ratings
from leaderboard.intervals import Z95
from leaderboard.outcomes import count_outcomes
from leaderboard.page import build_criteria_payload, view_key, visible_rows
from leaderboard.ratings import compute_leaderboard
from leaderboard.scale import ELO_PER_NAT
from leaderboard.weights import propensity_weights
from ui.leaderboard import render, source_choices

K = 6
NAMES = np.array([f"m{i}" for i in range(K)])


def skewed_world(seed: int = 0, n_votes: int = 40_000, tie: float = 0.1) -> tuple[pd.DataFrame, dict[str, float]]:
    """Votes from a preference matrix that is NOT Bradley-Terry, with pairs drawn far from uniformly.

    m5 is a specialist: it beats the two best models (m0, m1) and loses to the two weakest (m3, m4), against what
    its strength says. The truth is the Bradley-Terry projection under uniform pair sampling (every pair weighted
    equally): the ratings a uniform arena converges to. The sampling shows m5 mostly against m0 and m1 (6x the
    uniform rate) and rarely against m3 and m4 (0.3x), and stores each battle's pair probability and pool size.
    """
    strength = np.array([0.8, 0.4, 0.2, 0.0, -0.2, 0.0])
    first, second = np.triu_indices(K, 1)
    logit = strength[first] - strength[second]
    for j, value in ((0, -1.5), (1, -1.5), (3, 1.5), (4, 1.5)):
        logit[(first == j) & (second == 5)] = value
    first_wins = (1 - tie) / (1 + np.exp(-logit))
    truth = fit_strengths(K, first, second, np.ones(len(first)), first_wins + 0.5 * tie)
    chance = np.ones(len(first))
    chance[(second == 5) & (first < 2)] = 6.0
    chance[(second == 5) & ((first == 3) | (first == 4))] = 0.3
    chance /= chance.sum()
    rng = np.random.default_rng(seed)
    pair = rng.choice(len(first), size=n_votes, p=chance)
    draw = rng.random(n_votes)
    outcome = np.where(draw < first_wins[pair], 0, np.where(draw < first_wins[pair] + tie, 1, 2))
    flip = rng.random(n_votes) < 0.5
    side_a = np.where(flip, second[pair], first[pair])
    side_b = np.where(flip, first[pair], second[pair])
    winner = np.where(outcome == 1, "tie", np.where((outcome == 0) ^ flip, "model_a", "model_b"))
    battles = pd.DataFrame(
        {
            "model_a": NAMES[side_a],
            "model_b": NAMES[side_b],
            "winner": winner,
            "pair_probability": chance[pair],
            "pool_size": K,
        }
    )
    return battles, dict(zip(NAMES, truth * ELO_PER_NAT + 1000.0, strict=True))


def z_scores(board, truth: dict[str, float]) -> np.ndarray:
    return np.array([(row.rating - truth[row.model]) / ((row.upper - row.lower) / (2 * Z95)) for row in board.rows])


def test_inverse_propensity_weights_recover_the_uniform_arena_where_the_plain_fit_is_biased() -> None:
    """Why a misspecified truth: under a correctly specified Bradley-Terry model every pair's votes estimate the same
    strengths, so drawing some pairs more often than others does not bias the maximum-likelihood fit at all. Real
    preferences are not exactly Bradley-Terry; then the fit is the Bradley-Terry projection of the preferences
    weighted by how often each pair was shown, and it moves with the sampling policy. The target is the projection
    under uniform sampling (what the uniform arena converges to). Weighting each vote by uniform / pair probability
    recovers it (every model within its 95% sandwich interval, give or take); the unweighted fit is off by many
    times its interval, m5 most of all (it is shown mostly where it wins)."""
    battles, truth = skewed_world()
    weighted = compute_leaderboard(battles, with_online_elo=False)  # weighting="auto"
    plain = compute_leaderboard(battles, weighting="none", with_online_elo=False)
    assert weighted.weighting == "propensity" and plain.weighting == "none"
    assert "inverse of its pair's sampling propensity" in weighted.warnings[0]
    assert "NOT weighted" in plain.warnings[0]
    assert np.abs(z_scores(weighted, truth)).max() < 3.0
    assert np.abs(z_scores(plain, truth)).max() > 20.0
    m5 = {row.model: row for row in plain.rows}["m5"]
    assert m5.rating - truth["m5"] > 100.0  # shown against the models it beats: overrated by the plain fit
    # the rows still show votes, not sums of weights
    assert sum(row.votes for row in weighted.rows) == 2 * len(battles)
    assert weighted.n_battles == len(battles)


def test_weighted_fit_and_sandwich_match_an_independent_per_vote_computation() -> None:
    battles, _ = skewed_world(seed=3, n_votes=6_000)
    rng = np.random.default_rng(1)
    battles["pair_probability"] *= rng.uniform(0.8, 1.25, len(battles))  # continuous propensities
    weights = propensity_weights(battles)
    board = compute_leaderboard(battles, with_online_elo=False)
    side_a = pd.Series(battles["model_a"]).str[1:].astype(int).to_numpy()
    side_b = pd.Series(battles["model_b"]).str[1:].astype(int).to_numpy()
    y = battles["winner"].map({"model_a": 1.0, "model_b": 0.0, "tie": 0.5}).to_numpy()
    x = np.zeros((len(battles), K))
    x[np.arange(len(battles)), side_a] = 1.0
    x[np.arange(len(battles)), side_b] -= 1.0

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = x @ theta
        p = 1 / (1 + np.exp(-d))
        value = -(weights * (y * d - np.logaddexp(0.0, d))).sum()
        return value, -x.T @ (weights * (y - p))

    theta = minimize(loss, np.zeros(K), jac=True, method="BFGS", options={"gtol": 1e-10}).x
    theta -= theta.mean()
    p = 1 / (1 + np.exp(-(x @ theta)))
    bread = (x * (weights * p * (1 - p))[:, None]).T @ x + np.ones((K, K)) / K
    meat = (x * (weights**2 * (y - p) ** 2)[:, None]).T @ x
    inverse = np.linalg.inv(bread)
    sd = np.sqrt(np.diag(inverse @ meat @ inverse)) * ELO_PER_NAT
    rows = {row.model: row for row in board.rows}
    for i, name in enumerate(NAMES):
        assert rows[name].rating == pytest.approx(1000 + theta[i] * ELO_PER_NAT, abs=1e-4)
        assert (rows[name].upper - rows[name].lower) / (2 * Z95) == pytest.approx(sd[i], rel=1e-6)


def test_weighted_bootstrap_resamples_votes_with_their_weights_and_agrees_with_the_sandwich() -> None:
    battles, _ = skewed_world(seed=2, n_votes=8_000)
    sandwich = {r.model: r for r in compute_leaderboard(battles, with_online_elo=False).rows}
    boot = compute_leaderboard(battles, ci="bootstrap", rounds=400, seed=0, with_online_elo=False)
    assert boot.ci == "bootstrap" and boot.weighting == "propensity"
    again = compute_leaderboard(battles, ci="bootstrap", rounds=400, seed=0, with_online_elo=False)
    assert [r.lower for r in boot.rows] == [r.lower for r in again.rows]  # seeded
    for row in boot.rows:
        width, expected = row.upper - row.lower, sandwich[row.model].upper - sandwich[row.model].lower
        assert width == pytest.approx(expected, rel=0.2)


def test_continuous_weights_are_grouped_on_a_fine_grid_and_unresampleable_counts_fall_back_to_the_sandwich() -> None:
    battles, _ = skewed_world(seed=4, n_votes=6_000)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(battles))  # 6,000 distinct weights
    counts = count_outcomes(battles, weights, cells=True)
    assert counts.cells is not None and counts.cells.rounded
    assert int(counts.cells.count.sum()) == len(battles)
    exact = np.bincount(counts.cells.column, counts.cells.weight * counts.cells.count, 3 * counts.n_pairs)
    assert exact == pytest.approx(np.concatenate([counts.wins, counts.ties, counts.losses]), rel=1e-3)
    fallback = fit_ratings(count_outcomes(battles, weights), ci="bootstrap", rounds=50)
    assert fallback.ci == "sandwich" and "not the bootstrap's" in fallback.warnings[-1]
    with pytest.raises(ValueError, match="finite and positive"):
        count_outcomes(battles, np.zeros(len(battles)))


def test_uniform_sampling_gives_exactly_the_unweighted_fit() -> None:
    battles, _ = skewed_world(seed=5, n_votes=3_000)
    battles["pair_probability"] = 2 / (K * (K - 1))  # every pair at the uniform rate: weight 1 each
    for ci in ("sandwich", "bootstrap"):
        auto = compute_leaderboard(battles, ci=ci, rounds=100, with_online_elo=False)
        none = compute_leaderboard(battles, ci=ci, rounds=100, weighting="none", with_online_elo=False)
        assert auto.weighting == "none" and not auto.counts.weighted
        assert auto.to_dict()["rows"] == none.to_dict()["rows"]
    assert inverse_propensity_weights(np.array([np.nan]), np.array([K]))[0] == 1.0


def with_judge(battles: pd.DataFrame) -> pd.DataFrame:
    """People's votes, and a judge voting on the same battles who prefers the lower-numbered model a bit more."""
    judge = battles.copy()
    rng = np.random.default_rng(9)
    swap = rng.random(len(judge)) < 0.3
    judge.loc[swap, "winner"] = np.where(judge.loc[swap, "model_a"] < judge.loc[swap, "model_b"], "model_a", "model_b")
    return pd.concat([battles.assign(source="human"), judge.assign(source="judge:gpt-4o")], ignore_index=True)


@pytest.mark.parametrize("ci", ["sandwich", "bootstrap"])
def test_a_composite_with_all_the_weight_on_one_source_is_that_sources_leaderboard(ci: str) -> None:
    battles, _ = skewed_world(seed=6, n_votes=5_000)
    both = with_judge(battles)
    options = {"ci": ci, "rounds": 200, "seed": 1, "with_online_elo": False}
    for source, weights in (
        ("human", {"human": 1.0, "judge:*": 0.0}),
        ("judge:gpt-4o", {"human": 0.0, "judge:*": 1.0}),
    ):
        separate = compute_leaderboard(both, source=source, **options).to_dict()["rows"]
        alone = compute_composite_leaderboard(both, weights, **options)
        assert alone.weighting == "composite"
        assert alone.to_dict()["rows"] == separate  # weight 1: exactly the same fit
        if ci == "sandwich":  # weight 3: the same ratings and intervals (only relative weights matter)
            tripled = compute_composite_leaderboard(both, {source: 3.0}, **options).to_dict()["rows"]
            for got, want in zip(tripled, separate, strict=True):
                for key in ("rating", "lower", "upper"):
                    assert got[key] == pytest.approx(want[key], abs=1e-6)
    mixed = compute_composite_leaderboard(both, parse_source_weights("human=1,judge:*=0.5"), with_online_elo=False)
    assert mixed.source_weights == {"human": 1.0, "judge:gpt-4o": 0.5}
    assert mixed.n_battles == len(both)


def test_source_weights_parse_resolve_and_label() -> None:
    weights = parse_source_weights("human=1, judge:*=0.5,judge:bad=0")
    assert weights == {"human": 1.0, "judge:*": 0.5, "judge:bad": 0.0}
    assert resolve_source_weights(weights, ["judge:a", "human", "judge:bad"]) == {
        "human": 1.0,
        "judge:a": 0.5,
        "judge:bad": 0.0,
    }
    assert composite_label({"human": 1.0, "judge:a": 0.5, "judge:bad": 0.0}) == "Composite (human ×1, judge:a ×0.5)"
    for bad in ("human", "people=1", "human=-1", "human=x", "human=0", "human=1,human=2"):
        with pytest.raises(ValueError):
            parse_source_weights(bad)


def test_the_page_has_a_composite_view_and_hides_deprecated_models_unless_asked() -> None:
    battles, _ = skewed_world(seed=7, n_votes=4_000)
    both = with_judge(battles)
    payload = build_criteria_payload(
        both, {}, len(both), composite_weights=parse_source_weights("human=1,judge:*=0.5"), deprecated=["m0"]
    )
    assert payload["deprecated"] == ["m0"]
    assert payload["composite"]["label"] == "Composite (human ×1, judge:gpt-4o ×0.5)"
    view = payload["views"][view_key(COMPOSITE, None, False)]
    assert view["weighting"] == "composite" and len(view["rows"]) == K
    assert view_key("human", None, False) in payload["views"]  # beside the separate views, never replacing them
    assert payload["views"][view_key("human", None, False)]["weighting"] == "propensity"
    assert source_choices(payload)[-1] == ("Composite (human ×1, judge:gpt-4o ×0.5)", COMPOSITE)

    header, table = render(payload, COMPOSITE, "all", False)[:2]
    assert "Composite (human ×1" in header and "m0" not in set(table["Model"]) and len(table) == K - 1
    assert "1 deprecated model(s) hidden" in header
    assert sorted(table["Rank (UB)"])[0] == 1
    shown = render(payload, "human", "all", False, "helpfulness", True)[1]
    assert "m0" in set(shown["Model"]) and len(shown) == K

    rows = payload["views"][view_key("human", None, False)]["rows"]
    kept = visible_rows(rows, ["m0"])
    assert [r["model"] for r in kept] == [r["model"] for r in rows if r["model"] != "m0"]
    assert [r["rating"] for r in kept] == [r["rating"] for r in rows if r["model"] != "m0"]  # not refitted
    listed = visible_rows(rows, ["m0"], show_hidden=True)
    assert [r["model"] for r in listed] == [r["model"] for r in rows]  # every model, ranks as fitted
    assert [r["rank_ub"] for r in listed] == [r["rank_ub"] for r in rows]
    assert [("deprecated" in (r.get("flags") or [])) for r in listed] == [r["model"] == "m0" for r in rows]
    assert re.search(r"\(([^()]*, )?deprecated\)$", shown.loc[shown["Model"] == "m0", "Description"].item())


def test_the_command_line_offers_weighting_composite_and_hides_deprecated(tmp_path, capsys) -> None:
    battles, _ = skewed_world(seed=8, n_votes=3_000)
    path = tmp_path / "battles.parquet"
    with_judge(battles).to_parquet(path)
    assert main(["--battles", str(path), "--composite", "human=1,judge:*=0.5"]) == 0
    out = capsys.readouterr().out
    assert "composite (human ×1, judge:gpt-4o ×0.5)" in out and "weighting: composite" in out
    assert main(["--battles", str(path), "--weighting", "none"]) == 0
    assert "NOT weighted" in capsys.readouterr().out
    board = compute_leaderboard(with_judge(battles), with_online_elo=False)
    hidden_board, hidden = hide_models(board, ["m0", "unknown"])
    assert hidden == ["m0"] and [r.model for r in hidden_board.rows] == [r.model for r in board.rows if r.model != "m0"]
    assert min(r.rank_ub for r in hidden_board.rows) == 1
    with pytest.raises(SystemExit):
        main(["--battles", str(path), "--composite", "human"])
