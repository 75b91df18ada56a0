"""Specification of leaderboard.anomaly: anomalous voters found by Fisher's method, and excluded from ratings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from facts.schema import counted
from leaderboard.anomaly import (
    EXCLUDED_REASON,
    AnomalyReport,
    chi2_logsf_even,
    chi2_sf_even,
    detect_anomalous_voters,
    exclude_anomalous,
)
from leaderboard.ratings import compute_leaderboard
from leaderboard.synthetic import simulate_battles

TRUTH = {f"m{i}": 900.0 + 50.0 * i for i in range(10)}
FAVOURITE = "m1"  # a weak model that a fan pushes
SEEDS = range(5)


def honest_votes(seed: int, n_votes: int = 20_000, n_voters: int = 300, tie_share: float = 0.2) -> pd.DataFrame:
    """Honest people voting by the true strengths; a few vote a lot, most a little (Pareto-distributed)."""
    rng = np.random.default_rng(seed)
    votes = simulate_battles(TRUTH, n_votes, seed=seed, tie_share=tie_share).assign(source="human")
    weights = rng.pareto(1.2, n_voters) + 1.0
    votes["judge"] = [f"honest-{v:04d}" for v in rng.choice(n_voters, n_votes, p=weights / weights.sum())]
    return votes


def fan_votes(seed: int, n_votes: int, name: str = "fan", favourite: str = FAVOURITE) -> pd.DataFrame:
    """Someone who only votes when their favourite model is in the battle, and always for it."""
    battles = simulate_battles(TRUTH, 20 * n_votes, seed=10_000 + seed)
    battles = battles[(battles["model_a"] == favourite) | (battles["model_b"] == favourite)].head(n_votes)
    winner = np.where(battles["model_a"] == favourite, "model_a", "model_b")
    return _spread(battles.assign(winner=winner, judge=name), seed)


def contrarian_votes(seed: int, n_votes: int, name: str = "contrarian") -> pd.DataFrame:
    """Someone who always votes for the weaker model, against what most people say."""
    battles = simulate_battles(TRUTH, n_votes, seed=20_000 + seed)
    weaker_a = battles["model_a"].map(TRUTH) < battles["model_b"].map(TRUTH)
    return _spread(battles.assign(winner=np.where(weaker_a, "model_a", "model_b"), judge=name), seed)


def _spread(votes: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Interleave the votes in time with the honest ones."""
    rng = np.random.default_rng(30_000 + seed)
    return votes.assign(tstamp=rng.uniform(0.0, 20_000.0, len(votes)), source="human")


def blatant_votes(n_votes: int, name: str = "blatant") -> pd.DataFrame:
    """Someone who picks the worst model against the best, every time: each vote alone is a surprise."""
    worst, best = min(TRUTH, key=TRUTH.__getitem__), max(TRUTH, key=TRUTH.__getitem__)
    return _spread(
        pd.DataFrame({"model_a": worst, "model_b": best, "winner": "model_a", "judge": name}, index=range(n_votes)),
        n_votes,
    )


def attacked(seed: int) -> pd.DataFrame:
    return pd.concat([honest_votes(seed), fan_votes(seed, 300), contrarian_votes(seed, 150)], ignore_index=True).sample(
        frac=1.0, random_state=seed
    )  # row order must not matter: time order is tstamp


def honest(voter: str) -> bool:
    return voter.startswith("honest-")


def test_the_chi_square_survival_function_is_exact_for_even_degrees_of_freedom() -> None:
    # (x, df, sf, log sf) from scipy.stats.chi2
    known = [
        (1.0, 2, 0.6065306597126334, -0.4999999999999999),
        (10.0, 4, 0.04042768199451279, -3.2082405307719455),
        (50.0, 10, 2.669083424904495e-07, -15.136360524035101),
        (30.0, 40, 0.8752187849674751, -0.13328138391647565),
        (100.0, 20, 1.2596084591660847e-12, -27.400220189950502),
        (3000.0, 2000, 2.204698611389594e-43, -98.22056818336435),
        (600.0, 200, 1.4110215102111738e-41, -94.0616748953443),
    ]
    x, df, sf, log_sf = (np.array(column) for column in zip(*known, strict=True))
    assert chi2_sf_even(x, df) == pytest.approx(sf, rel=1e-9)
    assert chi2_logsf_even(x, df) == pytest.approx(log_sf, rel=1e-9)
    assert chi2_sf_even(0.0, 6) == 1.0
    # Far in the tail scipy's float sf underflows to 0; the log stays exact: sf(x; 2) = exp(-x/2).
    assert chi2_logsf_even(1e5, 2) == pytest.approx(-5e4)
    with pytest.raises(ValueError):
        chi2_sf_even(1.0, 3)


def test_the_chi_square_survival_function_agrees_with_scipy_across_its_range() -> None:
    stats = pytest.importorskip("scipy.stats")  # scipy is a dev dependency: a cross-check, never a runtime need
    rng = np.random.default_rng(0)
    df = 2 * rng.integers(1, 3000, 5000)
    x = rng.uniform(0.0, 2.5, 5000) * df
    reference = stats.chi2.logsf(x, df)
    finite = np.isfinite(reference)
    assert finite.sum() > 4000
    # abs: where sf is near 1 its log is a difference of large numbers; 1e-10 there is sf to 1e-10 relative
    assert chi2_logsf_even(x, df)[finite] == pytest.approx(reference[finite], rel=1e-8, abs=1e-10)


def test_adversaries_are_flagged_and_honest_voters_are_not() -> None:
    honest_tested = honest_flagged = 0
    for seed in SEEDS:
        report = detect_anomalous_voters(attacked(seed))
        flagged = {v.voter: v for v in report.voters}
        assert {"fan", "contrarian"} <= set(flagged), f"seed {seed}: flagged {sorted(flagged)}"
        assert flagged["contrarian"].disagreement > 0.9  # it always voted against the others
        assert flagged["fan"].flagged_at <= 300 and flagged["fan"].p_value < report.alpha / 291
        honest_flagged += sum(honest(v) for v in flagged)
        honest_tested += report.voters_tested - 2
    assert honest_tested > 1000
    assert honest_flagged == 0, f"{honest_flagged} of {honest_tested} honest voters flagged"


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_the_share_of_honest_voters_flagged_stays_below_alpha(alpha: float) -> None:
    flagged = tested = 0
    for seed in SEEDS:
        report = detect_anomalous_voters(honest_votes(seed), alpha=alpha)
        flagged += len(report.voters)
        tested += report.voters_tested
    rate = flagged / tested
    print(f"alpha {alpha}: {flagged} of {tested} honest voters flagged ({rate:.2%})")
    assert tested > 1000 and rate <= alpha / 4  # Bonferroni over the looks, and mid-p sums are conservative


def test_a_voter_with_few_votes_is_never_flagged() -> None:
    votes = honest_votes(0)
    report = detect_anomalous_voters(pd.concat([votes, blatant_votes(9)]), min_votes=10)
    assert "blatant" not in report.flagged and report.voters_tested < votes["judge"].nunique()
    # Nine such votes are damning as soon as they may be judged: with a tenth, or with the bar at nine.
    (judged,) = detect_anomalous_voters(pd.concat([votes, blatant_votes(10)]), min_votes=10).voters
    assert judged.voter == "blatant" and judged.flagged_at == 10  # three such votes would do, but none is looked at
    assert "blatant" in detect_anomalous_voters(pd.concat([votes, blatant_votes(9)]), min_votes=9).flagged


def test_the_test_is_sequential_in_time_order() -> None:
    votes = honest_votes(1)
    sizes = votes["judge"].value_counts()
    name = str(sizes[sizes.between(30, 60)].index[0])
    before = int(sizes[name])
    turned = blatant_votes(40, name=name).assign(tstamp=lambda f: f["tstamp"] + 30_000)
    report = detect_anomalous_voters(pd.concat([turned, votes]))  # the late votes come first in row order
    (voter,) = report.voters
    assert voter.voter == name and voter.votes == before + 40
    assert before < voter.flagged_at <= voter.votes  # it turned after all its honest votes
    assert voter.p_value_at_flag < voter.threshold == pytest.approx(0.01 / (voter.votes - 9))


def test_judges_and_unattributed_votes_are_not_tested() -> None:
    votes = honest_votes(2)
    judge = contrarian_votes(2, 300, name="gpt-4").assign(source="judge:gpt-4")
    nameless = contrarian_votes(3, 300, name="")
    report = detect_anomalous_voters(pd.concat([votes, judge, nameless]))
    assert report.voters == ()
    assert report.unattributed == 300 and report.human_votes == len(votes) + 300


def test_excluding_anomalous_voters_moves_the_ratings_back_toward_the_truth() -> None:
    votes = pd.concat(
        [honest_votes(3), *(fan_votes(3 + i, 600, name=f"fan-{i}", favourite=m) for i, m in enumerate(["m1", "m2"]))]
    )
    report = detect_anomalous_voters(votes)
    assert {"fan-0", "fan-1"} <= report.flagged

    def error(battles: pd.DataFrame) -> dict[str, float]:
        board = compute_leaderboard(battles, ci="none")
        rating = {row.model: row.rating for row in board.rows}
        shift = np.mean([rating[m] - TRUTH[m] for m in TRUTH])  # the scale is fixed only up to a constant
        return {m: rating[m] - TRUTH[m] - shift for m in TRUTH}

    before, after = error(votes), error(exclude_anomalous(votes, report))
    assert before["m1"] > 40 and before["m2"] > 40, before  # the fans pushed their models up
    assert abs(after["m1"]) < 15 and abs(after["m2"]) < 15, after
    assert np.sqrt(np.mean(np.square(list(after.values())))) < np.sqrt(np.mean(np.square(list(before.values())))) / 2


def test_exclusion_marks_the_flagged_voters_human_votes_and_keeps_every_row() -> None:
    votes = pd.concat([honest_votes(4), contrarian_votes(4, 150)], ignore_index=True)
    same_name_judge = contrarian_votes(5, 20).assign(source="judge:contrarian")
    earlier_reason = contrarian_votes(6, 5).assign(excluded_reason="identity leak")
    battles = pd.concat([votes, same_name_judge, earlier_reason], ignore_index=True)
    report = detect_anomalous_voters(battles)
    assert report.flagged == {"contrarian"} and report.votes_flagged == 150

    excluded = exclude_anomalous(battles, report)

    assert len(excluded) == len(battles)
    reasons = excluded.groupby(["source", "judge"])["excluded_reason"].agg(lambda r: set(r.fillna("counts")))
    assert reasons[("human", "contrarian")] == {EXCLUDED_REASON, "identity leak"}
    assert reasons[("judge:contrarian", "contrarian")] == {"counts"}
    assert len(counted(excluded)) == len(votes) - 150
    assert exclude_anomalous(battles, detect_anomalous_voters(honest_votes(4)))["excluded_reason"].isna().sum() == (
        len(battles) - 5
    )


def test_the_report_shows_a_short_prefix_of_each_voter_never_the_full_id() -> None:
    secret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    report = detect_anomalous_voters(pd.concat([honest_votes(0), contrarian_votes(0, 150, name=secret)]))
    assert report.flagged == {secret}
    shown = json.dumps(report.to_dict()) + "\n".join(report.lines())
    assert secret not in shown and secret[:8] in shown
    assert report.to_dict()["voters"][0]["voter"] == secret[:8] + "…"
    assert "1 of" in report.summary() and "excluded" in report.summary()
    assert "still count" in report.summary(excluded=False)


def test_no_votes_no_voters() -> None:
    report = detect_anomalous_voters(pd.DataFrame(columns=["model_a", "model_b", "winner"]))
    assert isinstance(report, AnomalyReport) and report.voters == () and report.human_votes == 0
    assert "No anomalous voters" in report.summary()
    with pytest.raises(ValueError, match="prior"):
        detect_anomalous_voters(honest_votes(0), prior=0.0)


def test_the_report_does_not_depend_on_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-vote evidence and the sequential screen run in blocks of votes to bound memory: the blocks' size
    changes nothing."""
    from leaderboard import anomaly

    battles = attacked(3)
    in_time_order = battles.sort_values("tstamp", kind="stable")
    whole = detect_anomalous_voters(battles)
    monkeypatch.setattr(anomaly, "_BLOCK", 7)
    assert detect_anomalous_voters(battles) == whole and whole.voters
    assert detect_anomalous_voters(in_time_order) == whole, "rows in time order take the sort-free path"
