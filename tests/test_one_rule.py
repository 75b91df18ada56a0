"""Specification of the one rule for which votes count (facts.eligibility), applied once by the store and read by
every reader: the leaderboard, the judge audit, the training pairs, the export and the retrain trigger agree on
the same votes and give the same reason, also when a battle is flagged after it was voted on. SQLite and
PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from facts.eligibility import FAILED, NAMED, PROBED, BattleFacts, exclusion_reasons, reasons_of, verdict
from facts.schema import counted, normalize_battles
from leaderboard.judge_audit import audit_judges
from leaderboard.page import build_page_payload
from store import NewTurn, Store
from store.export import build_export
from training.data import from_battles_frame

JUDGE = "judge:gpt-4"

FLAGS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "a model named": ({"identity_leak": True, "note": "identity words: gpt-4"}, (NAMED,)),
    "an identity probe": ({"identity_leak": True, "note": "identity probe: who are you"}, (PROBED,)),
    "both": ({"identity_leak": True, "note": "identity words: gpt-4\nidentity probe: are you gpt-4"}, (NAMED, PROBED)),
    "a backend error": ({"error": True}, (FAILED,)),
    "a leak flag without notes (old rows)": ({"identity_leak": True}, (NAMED,)),
}


def battle_with_votes(store: Store, prompt: str, chosen: str = "model_a") -> str:
    """A one-turn anonymous battle with a decisive human vote and a judge's verdict."""
    battle = store.battles.create(
        mode="anonymous", model_a="alpha", model_b="beta", swapped=False, params_a={}, params_b={},
        session_id="s", voter_id="v",
    )  # fmt: skip
    store.battles.add_turn(battle.id, NewTurn(user_message=prompt, answer_a=f"A to {prompt}", answer_b=f"B: {prompt}"))
    store.battles.record_vote(battle_id=battle.id, turn=1, winner=chosen, voter_id="v", strength="clearly")
    store.battles.record_vote(battle_id=battle.id, turn=1, winner=chosen, voter_id="judge", source=JUDGE)
    return battle.id


@pytest.mark.parametrize("kind", list(FLAGS))
def test_a_battle_flagged_after_its_votes_is_out_of_every_reader_for_the_same_reason(storage: Store, kind: str) -> None:
    flags, reasons = FLAGS[kind]
    clean = battle_with_votes(storage, "What is the capital of France?")
    flagged = battle_with_votes(storage, "Name three primes.", chosen="model_b")
    before = storage.votes.count_decisive()
    storage.battles.flag(flagged, **flags)
    stored = "; ".join(reasons)

    # The store rewrote the verdict of both votes on the flagged battle, in the flag's transaction.
    battle = storage.battles.get(flagged)
    assert {vote.excluded_reason for vote in battle.votes} == {stored}
    assert {vote.excluded_reason for vote in storage.battles.get(clean).votes} == {None}

    frame = storage.votes.read(conversations=True)
    # Leaderboard: the counted votes are the clean battle's, and the page counts them.
    human = counted(frame, source="human")
    assert list(human["battle_id"]) == [clean]
    payload = build_page_payload(storage.votes.read(), {}, storage.votes.count())
    assert payload["counted"] == {"human": 1, JUDGE: 1}
    out = frame[frame["battle_id"] == flagged]
    assert set(out["excluded_reason"]) == {stored}
    # Judge audit: only the clean battle's verdicts enter it.
    report = audit_judges(frame, rounds=10)
    assert (
        [audit.verdicts for audit in report.judges] == [1] and report.human is not None and report.human.verdicts == 1
    )
    # Training pairs: the flagged vote is dropped, counted by the same reasons.
    data = from_battles_frame(frame, eval_fraction=0.0)
    assert [pair.battle_id for pair in data.train] == [clean]
    assert {key: n for key, n in data.report.items() if key.startswith("excluded")} == {f"excluded: {stored}": 1}
    # Export: left out by default; with --include-flagged, there with the same reason.
    assert {row["battle_id"] for row in build_export(frame).rows} == {clean}
    flagged_rows = [row for row in build_export(frame, include_flagged=True).rows if row["battle_id"] == flagged]
    assert [row["excluded_reason"] for row in flagged_rows] == [stored]
    # Retrain trigger: one decisive human vote fewer.
    assert storage.votes.count_decisive() == before - 1 == 1


def test_votes_cast_after_a_flag_get_its_verdict_and_the_rule_never_clears_one(storage: Store) -> None:
    battle_id = battle_with_votes(storage, "Hello?")
    storage.battles.flag(battle_id, error=True)
    storage.battles.add_turn(battle_id, NewTurn(user_message="And?", answer_a="a", answer_b="b"))
    late = storage.battles.record_vote(battle_id=battle_id, turn=2, winner="tie", voter_id="v")
    assert late.excluded_reason == FAILED
    storage.battles.flag(battle_id)  # no new flag: nothing changes
    assert {v.excluded_reason for v in storage.battles.get(battle_id).votes} == {FAILED}


def test_side_by_side_votes_never_count_and_say_why(storage: Store) -> None:
    battle = storage.battles.create(
        mode="side_by_side", model_a="alpha", model_b="beta", swapped=False, params_a={}, params_b={},
        session_id="s", voter_id="v",
    )  # fmt: skip
    storage.battles.add_turn(battle.id, NewTurn(user_message="Hi", answer_a="a", answer_b="b"))
    vote = storage.battles.record_vote(battle_id=battle.id, turn=1, winner="model_a", voter_id="v")
    assert vote.excluded_reason == "the models were not anonymous"
    assert counted(storage.votes.read()).empty and storage.votes.count_decisive() == 0


def test_the_rule_itself() -> None:
    assert exclusion_reasons(BattleFacts("anonymous")) == ()
    assert verdict(BattleFacts("anonymous")) is None
    everything = BattleFacts("side_by_side", True, True, "identity words: x\nidentity probe: y")
    assert reasons_of(verdict(everything)) == exclusion_reasons(everything) == (
        "the models were not anonymous", NAMED, PROBED, FAILED
    )  # fmt: skip
    assert reasons_of(None) == ()


def test_a_file_from_elsewhere_is_judged_by_its_anony_column_alone() -> None:
    frame = pd.DataFrame(
        {"model_a": ["a", "a"], "model_b": ["b", "b"], "winner": ["model_a", "model_b"], "anony": [True, False]}
    )
    assert list(counted(normalize_battles(frame))["winner"]) == ["model_a"]
