"""Votes -> preference pairs (training.data), on rows written through the arena's own Store, and on LLMFAO."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from leaderboard.llmfao import load_llmfao
from store import NewTurn, Store
from tests.arena_rows import voted_battle
from tests.shared_data import require_llmfao
from training.data import (
    Margins,
    PreferencePair,
    from_battles_frame,
    to_trl_records,
)


def _battle(storage: Store, turns: list[tuple[str, str, str]], *, mode: str = "anonymous") -> str:
    battle = storage.battles.create(
        mode=mode,
        model_a="alpha",
        model_b="beta",
        swapped=False,
        params_a={},
        params_b={},
        session_id="s",
        voter_id="v",
    )
    for user, answer_a, answer_b in turns:
        storage.battles.add_turn(battle.id, NewTurn(user_message=user, answer_a=answer_a, answer_b=answer_b))
    return battle.id


def _data(storage: Store, **options) -> object:
    return from_battles_frame(storage.votes.read(conversations=True), eval_fraction=0.0, **options)


def test_single_turn_vote_becomes_a_pair(storage: Store) -> None:
    battle_id = voted_battle(storage, "model_b", prompt="Say hi.", answer_a="yo", answer_b="Hello!")
    data = _data(storage)
    assert data.train == (
        PreferencePair(
            prompt_messages=({"role": "user", "content": "Say hi."},),
            chosen="Hello!",
            rejected="yo",
            margin=1.0,
            source="human",
            battle_id=battle_id,
            turn=1,
            category=data.train[0].category,
            chosen_model="beta",  # model_b won: the pair names both models for the rating baseline
            rejected_model="alpha",
        ),
    )
    assert data.report["pair"] == 1


def test_multi_turn_uses_the_chosen_sides_history_and_current_attempts(storage: Store) -> None:
    battle_id = _battle(storage, [("Q1", "a1", "b1"), ("Q2", "a2-old", "b2-old")])
    storage.battles.add_turn(battle_id, NewTurn(user_message="Q2", answer_a="a2", answer_b="b2"), regenerate=True)
    storage.battles.add_turn(battle_id, NewTurn(user_message="Q3", answer_a="a3", answer_b="b3"))
    storage.battles.record_vote(battle_id=battle_id, turn=3, winner="model_b", voter_id="v")
    storage.battles.record_vote(battle_id=battle_id, turn=2, winner="model_a", voter_id="v")
    pairs = {p.turn: p for p in _data(storage).train}
    assert pairs[3].prompt_messages == (
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "b1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "b2"},
        {"role": "user", "content": "Q3"},
    )
    assert (pairs[3].chosen, pairs[3].rejected) == ("b3", "a3")
    assert pairs[2].prompt_messages[-2:] == ({"role": "assistant", "content": "a1"}, {"role": "user", "content": "Q2"})
    assert (pairs[2].chosen, pairs[2].rejected) == ("a2", "b2")  # the regenerated attempt, not the old one


def test_strengths_become_margins(storage: Store) -> None:
    for strength in ("slightly", "clearly", "much", None):
        battle_id = _battle(storage, [(f"prompt {strength}", "x", "y")])
        storage.battles.record_vote(battle_id=battle_id, turn=1, winner="model_a", voter_id="v", strength=strength)
    margins = {p.prompt_messages[0]["content"]: p.margin for p in _data(storage).train}
    assert margins == {"prompt slightly": 0.5, "prompt clearly": 1.0, "prompt much": 2.0, "prompt None": 1.0}
    custom = _data(storage, margins=Margins(slightly=1, clearly=2, much=3, unrated=0.25)).train
    assert sorted(p.margin for p in custom) == [0.25, 1, 2, 3]


def test_ties_and_both_bad_go_to_evaluation_only(storage: Store) -> None:
    voted_battle(storage, "model_a", prompt="p1")
    voted_battle(storage, "tie", prompt="p2", answer_a="t1", answer_b="t2")
    voted_battle(storage, "tie (bothbad)", prompt="p3", answer_a="bad1", answer_b="bad2")
    data = _data(storage)
    assert [p.prompt_messages[0]["content"] for p in data.train] == ["p1"]
    assert sorted((t.both_bad, t.answer_a) for t in data.ties) == [(False, "t1"), (True, "bad1")]
    assert (data.report["tie"], data.report["both_bad"]) == (1, 1)


def test_flagged_votes_are_excluded_and_counted(storage: Store) -> None:
    voted_battle(storage, "model_a", prompt="good")
    voted_battle(storage, "model_a", prompt="shown names", mode="side_by_side")
    errored = _battle(storage, [("errored", "x", "y")])
    storage.battles.flag(errored, error=True)
    storage.battles.record_vote(battle_id=errored, turn=1, winner="model_a", voter_id="v")
    leaked = _battle(storage, [("leaked", "I am alpha", "y")])
    storage.battles.record_vote(battle_id=leaked, turn=1, winner="model_a", voter_id="v")
    storage.battles.flag(leaked, identity_leak=True, note="identity words: alpha")  # after the vote
    data = _data(storage)
    assert [p.prompt_messages[0]["content"] for p in data.train] == ["good"]
    assert {key: n for key, n in data.report.items() if key.startswith("excluded")} == {
        "excluded: the models were not anonymous": 1,
        "excluded: a model failed to answer": 1,
        "excluded: a model or vendor was named in the conversation": 1,
    }


def test_source_selection(storage: Store) -> None:
    battle_id = voted_battle(storage, "model_a", prompt="p", answer_a="A", answer_b="B")
    storage.battles.record_vote(battle_id=battle_id, turn=1, winner="model_b", voter_id="j", source="judge:gpt")
    other = voted_battle(storage, "model_a", prompt="q", answer_a="C", answer_b="D")
    storage.battles.record_vote(battle_id=other, turn=1, winner="model_a", voter_id="j", source="judge:gpt")

    human = _data(storage)
    assert {(p.chosen, p.source) for p in human.train} == {("A", "human"), ("C", "human")}
    assert human.report["other_source"] == 2
    judge = _data(storage, sources="judge:gpt")
    assert {(p.chosen, p.source) for p in judge.train} == {("B", "judge:gpt"), ("C", "judge:gpt")}
    # Human A>B and judge B>A on the same prompt conflict; C>D from both is one pair.
    both = _data(storage, sources=["human", "judge:gpt"])
    assert [(p.chosen, p.rejected) for p in both.train] == [("C", "D")]
    assert (both.report["conflicting"], both.report["duplicate"]) == (2, 1)
    assert _data(storage, sources="all").train == both.train
    for unknown in ("judge:nobody", "people", "judge:"):
        with pytest.raises(ValueError, match="unknown source"):
            _data(storage, sources=unknown)


def test_a_contested_pair_follows_the_majority_and_an_even_split_is_dropped(storage: Store) -> None:
    for voter, winner in (("v1", "model_a"), ("v2", "model_a"), ("v3", "model_b")):
        voted_battle(storage, winner, prompt="q", answer_a="A", answer_b="B", voter_id=voter)
    for voter, winner in (("v4", "model_a"), ("v5", "model_b")):
        voted_battle(storage, winner, prompt="r", answer_a="C", answer_b="D", voter_id=voter)
    data = _data(storage)
    assert [(p.chosen, p.rejected) for p in [*data.train, *data.eval]] == [("A", "B")]
    assert (data.report["outvoted"], data.report["conflicting"], data.report["duplicate"]) == (1, 2, 1)


def test_duplicates_merge_with_averaged_margin(storage: Store) -> None:
    for strength in ("slightly", "much"):
        battle_id = _battle(storage, [("same", "good", "bad")])
        storage.battles.record_vote(battle_id=battle_id, turn=1, winner="model_a", voter_id="v", strength=strength)
    data = _data(storage)
    assert [(p.chosen, p.rejected, p.margin) for p in data.train] == [("good", "bad", 1.25)]
    assert data.report["duplicate"] == 1


def test_clear_errors(storage: Store) -> None:
    voted_battle(storage, "tie", prompt="p")
    with pytest.raises(ValueError, match="no decisive votes"):
        _data(storage)
    with pytest.raises(ValueError, match="too few votes"):
        _data(storage, min_votes=5)
    with pytest.raises(ValueError, match="eval_fraction"):
        from_battles_frame(storage.votes.read(conversations=True), eval_fraction=1.5)


def _frame(prompts: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model_a": "x",
            "model_b": "y",
            "winner": "model_a",
            "source": "human",
            "prompt": prompts,
            "answer_a": [f"good {p}" for p in prompts],
            "answer_b": [f"bad {p}" for p in prompts],
        }
    )


def test_split_by_prompt_is_deterministic_and_disjoint() -> None:
    # Two answer pairs per prompt, so a split by pair rather than by prompt would leak prompts.
    prompts = [f"prompt {i}" for i in range(200)]
    frame = pd.concat([_frame(prompts), _frame(prompts).assign(answer_a=lambda f: f["answer_a"] + "!")])
    data = from_battles_frame(frame, eval_fraction=0.3, seed=1)
    train = {p.prompt_messages[0]["content"] for p in data.train}
    evaluation = {p.prompt_messages[0]["content"] for p in data.eval}
    assert not train & evaluation
    assert train | evaluation == set(prompts)
    assert 40 < len(evaluation) < 80
    assert from_battles_frame(frame, eval_fraction=0.3, seed=1) == data
    assert {p.prompt_messages[0]["content"] for p in from_battles_frame(frame, eval_fraction=0.3, seed=2).eval} != (
        evaluation
    )


def test_trl_records_are_conversational_preference_rows(storage: Store) -> None:
    battle_id = _battle(storage, [("Q1", "a1", "b1"), ("Q2", "a2", "b2")])
    storage.battles.record_vote(battle_id=battle_id, turn=2, winner="model_a", voter_id="v", strength="much")
    (record,) = to_trl_records(_data(storage).train)
    assert record == {
        "prompt": [
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "Q2"},
        ],
        "chosen": [{"role": "assistant", "content": "a2"}],
        "rejected": [{"role": "assistant", "content": "b2"}],
        "margin": 2.0,
        "chosen_model": "alpha",
        "rejected_model": "beta",
    }


def test_llmfao_pairs() -> None:
    frame = load_llmfao(require_llmfao(), sources=["human"])
    data = from_battles_frame(frame, eval_fraction=0.1)
    # Independent count: decisive crowd votes with both texts, oriented as (prompt, chosen, rejected),
    # settled by majority (an even split dropped), one pair per remaining distinct key.
    decisive = frame[frame["winner"].isin(["model_a", "model_b"])]
    decisive = decisive[decisive[["prompt", "answer_a", "answer_b"]].notna().all(axis=1)]
    decisive = decisive[(decisive["answer_a"].str.strip() != "") & (decisive["answer_b"].str.strip() != "")]
    a_wins = decisive["winner"] == "model_a"
    votes = Counter(
        zip(
            decisive["prompt"],
            decisive["answer_a"].where(a_wins, decisive["answer_b"]),
            decisive["answer_b"].where(a_wins, decisive["answer_a"]),
            strict=True,
        )
    )
    expected = {k for k, n in votes.items() if n > votes.get((k[0], k[2], k[1]), 0)}
    assert len(expected) > 1200, "majorities keep the clear contested LLMFAO pairs (dropping all kept 889)"
    assert len(data.train) + len(data.eval) == len(expected)
    assert data.train and data.eval
    assert data.report["pair"] == len(decisive)
    with_texts = frame[["prompt", "answer_a", "answer_b"]].notna().all(axis=1)
    with_texts &= (frame["answer_a"].fillna("").str.strip() != "") & (frame["answer_b"].fillna("").str.strip() != "")
    assert data.report["tie"] == len(data.ties) == int(((frame["winner"] == "tie") & with_texts).sum())
