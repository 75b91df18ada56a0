"""Specification of the stuffing screen (leaderboard.stuffing): votes grouped by address and by /24 network, so
that one client opening session after session to push (or sink) one model is found below anomaly.py's 10 votes
per voter, while honest traffic, crowded addresses included, is left alone.

Honest votes are simulated from a Bradley-Terry model over eight contenders with ties, on pairs drawn uniformly
(what arena/sampling.py does), by many addresses with one or two sessions each and a few crowded ones (a
classroom behind one NAT opening 25 sessions within minutes).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from leaderboard.stuffing import EXCLUDED_REASON, StuffingReport, screen_stuffing, stuffed_votes

MODELS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "weak")
STRENGTH = dict(zip(MODELS, (1250, 1200, 1150, 1100, 1050, 1000, 950, 850), strict=True))
WEEK = 7 * 24 * 3600.0


def battle(rng: np.random.Generator, only: str | None = None) -> tuple[str, str]:
    """A pair drawn uniformly, sides random; with `only`, a pair that has that model (what a stuffer keeps)."""
    while True:
        a, b = rng.choice(len(MODELS), size=2, replace=False)
        pair = (MODELS[a], MODELS[b])
        if only is None or only in pair:
            return pair


def honest_winner(rng: np.random.Generator, a: str, b: str, tie_rate: float = 0.15) -> str:
    if rng.random() < tie_rate:
        return "tie" if rng.random() < 0.7 else "tie (bothbad)"
    p_a = 1.0 / (1.0 + 10 ** ((STRENGTH[b] - STRENGTH[a]) / 400.0))
    return "model_a" if rng.random() < p_a else "model_b"


def honest_votes(
    seed: int, *, addresses: int = 1_500, crowded: int = 4, crowd_sessions: int = 25, prefix: str = "h"
) -> pd.DataFrame:
    """Each address has one or two sessions of 1-8 votes (a few share a /24); `crowded` addresses are classrooms:
    `crowd_sessions` sessions opened within ten minutes, a few votes each."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(addresses + crowded):
        client = f"{prefix}-client-{i}"
        network = f"{prefix}-net-{i // 3 if i % 7 == 0 else i}"  # some neighbours share a /24
        crowd = i >= addresses
        sessions = crowd_sessions if crowd else int(rng.integers(1, 3))
        start = rng.uniform(0, WEEK - 3600)
        for s in range(sessions):
            opened = start + (rng.uniform(0, 600) if crowd else rng.uniform(0, 3 * 86400))
            for v in range(int(rng.integers(1, 4 if crowd else 9))):
                a, b = battle(rng)
                rows.append(
                    {
                        "model_a": a,
                        "model_b": b,
                        "winner": honest_winner(rng, a, b),
                        "voter": f"{client}/{s}",
                        "client": client,
                        "network": network,
                        "tstamp": opened + 60.0 * v,
                    }
                )
    return pd.DataFrame(rows)


def stuffer_votes(
    *,
    target: str = "weak",
    votes: int = 9,
    sessions: int = 20,
    addresses: int = 1,
    direction: str = "for",
    network: str = "attacker-net",
    start: float = WEEK / 2,
) -> pd.DataFrame:
    """An attacker who only votes in battles of `target` (identified before the vote) and always for it (or
    against it), one vote per new session, rotating over `addresses` addresses in one network."""
    rng = np.random.default_rng(99)
    rows = []
    for v in range(votes):
        a, b = battle(rng, only=target)
        won = (a == target) == (direction == "for")
        client = f"attacker-{v % addresses}"
        rows.append(
            {
                "model_a": a,
                "model_b": b,
                "winner": "model_a" if won else "model_b",
                "voter": f"{client}/{v % sessions}",
                "client": client,
                "network": network,
                "tstamp": start + 30.0 * v,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def honest() -> pd.DataFrame:
    return honest_votes(seed=1)


def test_the_simulated_honest_traffic_is_realistic(honest: pd.DataFrame) -> None:
    sessions = honest.groupby("client")["voter"].nunique()
    assert len(honest) > 5_000
    assert (sessions >= 25).sum() == 4  # the classrooms
    assert honest["winner"].str.startswith("tie").mean() == pytest.approx(0.15, abs=0.02)


# ---- honest traffic is left alone ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(1, 9))
def test_honest_traffic_is_never_flagged_classrooms_included(seed: int) -> None:
    report = screen_stuffing(honest_votes(seed))
    assert report.flagged == ()
    assert report.sources_tested >= 4  # the classrooms were tested, not skipped
    assert report.bursts >= 4
    assert report.summary().startswith("No vote stuffing found")


def test_a_fan_voting_nine_times_in_one_session_for_a_favourite_is_not_this_screens_business(
    honest: pd.DataFrame,
) -> None:
    fan = stuffer_votes(sessions=1)
    report = screen_stuffing(pd.concat([honest, fan], ignore_index=True))
    # One session is one voter: anomaly.py tests voters from their 10th vote. Below that, a fan is as likely as
    # a fraud, and a wrongly lost vote is the bigger harm.
    assert report.flagged == ()


# ---- stuffing is found -------------------------------------------------------------------------------------------


def test_one_address_with_twenty_sessions_pushing_a_weak_model_nine_times_is_flagged(honest: pd.DataFrame) -> None:
    votes = pd.concat([honest, stuffer_votes()], ignore_index=True)
    report = screen_stuffing(votes)
    assert [(f.kind, f.key, f.model, f.direction) for f in report.flagged] == [("address", "attacker-0", "weak", "for")]
    found = report.flagged[0]
    assert (found.votes, found.wins, found.sessions, found.addresses) == (9, 9, 9, 1)
    assert found.busiest == 9  # all opened within the burst window
    assert found.p_value < found.threshold
    assert found.expected < 3  # the weak model wins few of the votes others cast
    hit = stuffed_votes(votes, report)
    assert hit.sum() == report.votes_flagged == 9
    assert set(votes.loc[hit, "client"]) == {"attacker-0"}


def test_pushing_one_model_is_one_finding_not_one_per_beaten_opponent(honest: pd.DataFrame) -> None:
    # Every push also makes the target's opponents lose: those are the same votes, reported once.
    votes = pd.concat([honest, stuffer_votes(votes=30, sessions=30)], ignore_index=True)
    report = screen_stuffing(votes)
    assert [(f.model, f.direction) for f in report.flagged] == [("weak", "for")]


def test_sinking_a_rival_is_stuffing_too(honest: pd.DataFrame) -> None:
    votes = pd.concat([honest, stuffer_votes(target="m1", direction="against", votes=12, sessions=12)])
    report = screen_stuffing(votes.reset_index(drop=True))
    assert [(f.kind, f.model, f.direction) for f in report.flagged] == [("address", "m1", "against")]


def test_a_network_of_ten_addresses_three_votes_each_is_flagged_as_one_source(honest: pd.DataFrame) -> None:
    # Rotating addresses within one /24: each address alone has too few sessions to be tested.
    attack = stuffer_votes(votes=30, sessions=30, addresses=10)
    report = screen_stuffing(pd.concat([honest, attack], ignore_index=True))
    assert [(f.kind, f.key, f.model, f.addresses) for f in report.flagged] == [("network", "attacker-net", "weak", 10)]
    assert report.votes_flagged == 30
    assert "10 addresses" in report.flagged[0].evidence


def test_many_addresses_in_many_networks_churning_sessions_are_found_together_and_named(
    honest: pd.DataFrame,
) -> None:
    # 40 addresses, each in its own network, each opening 4 throw-away sessions of one vote: too thin per
    # address to pass the multiple-testing bar, one strong finding when churning addresses are pooled.
    attack = stuffer_votes(votes=160, sessions=160, addresses=40)
    attack["network"] = attack["client"] + "-net"
    votes = pd.concat([honest, attack], ignore_index=True)
    report = screen_stuffing(votes)
    churn = [f for f in report.flagged if f.kind == "churn"]
    assert [(f.model, f.direction) for f in churn] == [("weak", "for")]
    assert set(churn[0].members) == {f"attacker-{i}" for i in range(40)}  # the classrooms in the pool are not
    assert {kind for f in report.flagged for kind, _ in f.sources()} == {"address"}
    hit = stuffed_votes(votes, report)
    assert set(votes.loc[hit, "client"]) == set(attack["client"])
    assert hit.sum() == 160
    assert "Session churn (" in churn[0].evidence and "40 of the addresses" in churn[0].evidence


def test_addresses_in_different_networks_with_one_session_each_are_beyond_any_vote_screen(
    honest: pd.DataFrame,
) -> None:
    # Nothing in the votes ties them together: this is the limit the daily cap and the probes filter cannot
    # lift either, written down so that nobody believes otherwise (RELIABILITY.md, vote rigging).
    attack = stuffer_votes(votes=30, sessions=30, addresses=30)
    attack["network"] = attack["client"] + "-net"
    assert screen_stuffing(pd.concat([honest, attack], ignore_index=True)).flagged == ()


def test_the_attacker_is_not_their_own_evidence(honest: pd.DataFrame) -> None:
    # A prolific attacker moves the pair's overall rate; the reference leaves the source out.
    attack = stuffer_votes(votes=400, sessions=40)
    report = screen_stuffing(pd.concat([honest, attack], ignore_index=True))
    assert [(f.key, f.model) for f in report.flagged] == [("attacker-0", "weak")]
    assert report.flagged[0].expected < 0.5 * report.flagged[0].votes


# ---- the report ------------------------------------------------------------------------------------------------


def test_the_report_shows_only_a_prefix_of_a_hash_and_is_plain_json(honest: pd.DataFrame) -> None:
    attack = stuffer_votes()
    secret = "f" * 64
    attack["client"] = secret
    report = screen_stuffing(pd.concat([honest, attack], ignore_index=True))
    payload = report.to_dict()
    text = json.dumps(payload)
    assert secret not in text and secret[:8] in text
    assert payload["sources_flagged"] == 1 and payload["votes_flagged"] == 9
    assert "sessions" in report.markdown() and str(report.alpha) in report.rule()
    assert EXCLUDED_REASON == "vote stuffing"


def test_the_verdict_does_not_depend_on_row_order(honest: pd.DataFrame) -> None:
    votes = pd.concat([honest, stuffer_votes()], ignore_index=True)
    shuffled = votes.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert screen_stuffing(shuffled).flagged == screen_stuffing(votes).flagged


# ---- hostile and degenerate input ------------------------------------------------------------------------------


def test_votes_without_an_address_are_reference_only() -> None:
    attack = stuffer_votes()
    attack["client"] = None
    report = screen_stuffing(attack)
    assert report == screen_stuffing(attack.drop(columns=["client", "network"]))
    assert (report.screened_votes, report.flagged) == (0, ())


def test_no_votes_give_an_empty_report() -> None:
    empty = pd.DataFrame(columns=["model_a", "model_b", "winner", "voter", "client", "network", "tstamp"])
    report = screen_stuffing(empty)
    assert isinstance(report, StuffingReport)
    assert (report.votes, report.tests, report.flagged) == (0, 0, ())
    assert not stuffed_votes(empty, report).any()


def test_missing_times_sessions_and_networks_do_not_break_the_screen(honest: pd.DataFrame) -> None:
    votes = pd.concat([honest, stuffer_votes()], ignore_index=True)
    votes.loc[::5, "tstamp"] = None
    votes.loc[::7, "network"] = ""
    votes.loc[::11, "voter"] = None
    report = screen_stuffing(votes)
    assert report.votes == len(votes)


@pytest.mark.parametrize(
    ("option", "value"),
    [("alpha", 0.0), ("alpha", 1.0), ("min_sessions", 0), ("burst_window", 0.0), ("burst_weight", 0.5)],
)
def test_settings_out_of_range_are_refused(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        screen_stuffing(stuffer_votes(), **{option: value})


def test_votes_without_the_model_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="winner"):
        screen_stuffing(pd.DataFrame({"model_a": ["x"], "model_b": ["y"]}))
