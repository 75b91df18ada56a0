"""Specification of store.votes, the one votes reader: votes in the arena database become clean-battle rows
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, event

from facts.categories import classify_prompt
from facts.schema import COLUMNS
from facts.style import style_features
from store import BattleView, NewTurn, Store

ANSWER_A1 = "# Plan\n\n- one\n- two\n\n**Done**."
ANSWER_B1 = "Sure: 1. first, then 2. second."
ANSWER_A2 = "1. Step\n2. Step\n\n```python\n# not a header\n- not a list\n```"
ANSWER_B2 = "__Short__ answer."


def battle(storage: Store, *, mode: str = "anonymous", model_a: str = "alpha", model_b: str | None = "beta") -> str:
    created = storage.battles.create(
        mode=mode,
        model_a=model_a,
        model_b=model_b,
        swapped=False,
        params_a={},
        params_b={},
        session_id="session",
        voter_id="voter-of-battle",
    )
    return created.id


def turn(storage: Store, battle_id: str, message: str, answer_a: str, answer_b: str, **flags: Any) -> BattleView:
    return storage.battles.add_turn(
        battle_id, NewTurn(user_message=message, answer_a=answer_a, answer_b=answer_b), **flags
    )


def two_turn_battle(storage: Store) -> str:
    """Turn 2 was regenerated once: the first attempt's answers must count nowhere."""
    battle_id = battle(storage)
    turn(storage, battle_id, "Write a haiku about autumn.", ANSWER_A1, ANSWER_B1)
    turn(storage, battle_id, "Now shorter, please.", "## Superseded\n- x\n- y\n- z", "**gone** **gone**")
    storage.battles.add_turn(
        battle_id, NewTurn(user_message="Now shorter, please.", answer_a=ANSWER_A2, answer_b=ANSWER_B2), regenerate=True
    )
    return battle_id


def test_one_row_per_vote_with_the_battle_and_the_vote(storage: Store) -> None:
    battle_id = two_turn_battle(storage)
    judged = storage.battles.record_vote(
        battle_id=battle_id, turn=1, winner="tie", voter_id="judge-run-7", source="judge:gpt-4"
    )
    voted = storage.battles.record_vote(
        battle_id=battle_id, turn=2, winner="model_b", voter_id="hash-123", strength="clearly"
    )

    battles = storage.votes.read(texts=True)

    assert list(battles.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert len(battles) == 2
    judge, human = battles.iloc[0], battles.iloc[1]  # oldest vote first
    assert (judge["source"], judge["judge"], judge["winner"], judge["turn"]) == ("judge:gpt-4", "gpt-4", "tie", 1)
    assert (human["source"], human["judge"], human["winner"], human["turn"]) == ("human", "hash-123", "model_b", 2)
    assert human["strength"] == "clearly" and human["vote_id"] == voted.id
    for row, vote in ((judge, judged), (human, voted)):
        assert (row["model_a"], row["model_b"], row["battle_id"]) == ("alpha", "beta", battle_id)
        assert bool(row["anony"]) is True
        assert pd.isna(row["excluded_reason"])
        assert row["tstamp"] == pytest.approx(vote.created_at.timestamp(), abs=1e-3)


def test_prompt_is_the_first_message_and_answers_are_the_voted_turns(storage: Store) -> None:
    battle_id = two_turn_battle(storage)
    storage.battles.record_vote(battle_id=battle_id, turn=2, winner="model_a", voter_id="v")

    row = storage.votes.read(texts=True).iloc[0]

    assert row["prompt"] == "Write a haiku about autumn."
    assert row["category"] == classify_prompt("Write a haiku about autumn.") == "creative_writing"
    assert (row["answer_a"], row["answer_b"]) == (ANSWER_A2, ANSWER_B2)


def test_the_narrow_read_carries_the_stored_facts_and_no_text(storage: Store) -> None:
    battle_id = two_turn_battle(storage)
    storage.battles.record_vote(battle_id=battle_id, turn=2, winner="model_a", voter_id="v")

    row = storage.votes.read().iloc[0]

    assert row["category"] == "creative_writing" and row["len_a"] > 0
    assert pd.isna(row["prompt"]) and pd.isna(row["answer_a"]), "the narrow read touches no answer text"


def test_style_is_summed_over_current_answers_up_to_the_voted_turn(storage: Store) -> None:
    battle_id = two_turn_battle(storage)
    storage.battles.record_vote(battle_id=battle_id, turn=1, winner="model_a", voter_id="v", source="judge:gpt-4")
    storage.battles.record_vote(battle_id=battle_id, turn=2, winner="model_a", voter_id="v")

    battles = storage.votes.read(texts=True).set_index("turn")

    expected = {
        1: {**style_features(ANSWER_A1).columns("a"), **style_features(ANSWER_B1).columns("b")},
        2: {
            **(style_features(ANSWER_A1) + style_features(ANSWER_A2)).columns("a"),
            **(style_features(ANSWER_B1) + style_features(ANSWER_B2)).columns("b"),
        },
    }
    for turn_index, columns in expected.items():
        assert battles.loc[turn_index, list(columns)].to_dict() == columns
    # The superseded attempt of turn 2 had one more header and two more bold spans: they must not count.
    assert battles.loc[2, "header_a"] == 1 and battles.loc[2, "list_a"] == 4 and battles.loc[2, "bold_b"] == 1


def test_non_anonymous_votes_flags_and_exclusions_come_along(storage: Store) -> None:
    side_by_side = battle(storage, mode="side_by_side", model_a="gamma", model_b="alpha")
    turn(storage, side_by_side, "Hi", "Hello!", "Hey.")
    storage.battles.record_vote(battle_id=side_by_side, turn=1, winner="model_a", voter_id="v")
    leaky = battle(storage)
    turn(storage, leaky, "Who made you?", "I am alpha by Acme.", "A model.", identity_leak=True)
    storage.battles.record_vote(battle_id=leaky, turn=1, winner="model_b", voter_id="v")

    battles = storage.votes.read(texts=True).set_index("battle_id")

    assert bool(battles.loc[side_by_side, "anony"]) is False
    assert battles.loc[side_by_side, "excluded_reason"] == "the models were not anonymous"
    assert battles.loc[side_by_side, "mode"] == "side_by_side"
    assert bool(battles.loc[leaky, "anony"]) is True
    assert bool(battles.loc[leaky, "flag_identity_leak"]) is True
    assert battles.loc[leaky, "excluded_reason"] == "a model or vendor was named in the conversation"


def test_direct_chat_and_unvoted_battles_give_no_rows(storage: Store) -> None:
    direct = battle(storage, mode="direct", model_b=None)
    storage.battles.add_turn(direct, NewTurn(user_message="Hi", answer_a="Hello"))
    storage.battles.record_vote(battle_id=direct, turn=1, winner="model_a", voter_id="v")
    turn(storage, battle(storage), "Hi", "Hello", "Hey")  # never voted

    assert storage.votes.read(texts=True).empty


def test_an_empty_database_gives_an_empty_frame_with_the_schema(storage: Store) -> None:
    battles = storage.votes.read(texts=True)
    assert battles.empty
    assert list(battles.columns[: len(COLUMNS)]) == list(COLUMNS)


def test_a_url_is_opened_and_read(storage: Store, db_url: str) -> None:
    battle_id = battle(storage)
    turn(storage, battle_id, "Hi", "Hello", "Hey")
    storage.battles.record_vote(battle_id=battle_id, turn=1, winner="tie (bothbad)", voter_id="v")

    opened = Store.open_existing(db_url)
    try:
        battles = opened.votes.read(texts=True)
    finally:
        opened.dispose()

    assert battles[["battle_id", "winner"]].values.tolist() == [[battle_id, "tie (bothbad)"]]


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_number_of_queries_does_not_grow_with_the_votes(storage: Store) -> None:
    def add_battles(count: int) -> None:
        for number in range(count):
            battle_id = battle(storage, model_a=f"m{number}", model_b="base")
            turn(storage, battle_id, f"Question {number}?", "A", "B")
            turn(storage, battle_id, "More?", "A2", "B2")
            storage.battles.record_vote(battle_id=battle_id, turn=2, winner="model_a", voter_id="v")

    add_battles(2)
    with counting_statements(storage.engine) as few:
        assert len(storage.votes.read(texts=True)) == 2
    add_battles(20)
    with counting_statements(storage.engine) as many:
        assert len(storage.votes.read(texts=True)) == 22

    assert len(many) == len(few) <= 4


def test_labels_are_held_in_a_byte_per_vote_and_read_the_same_whatever_the_row_bound(storage: Store) -> None:
    """The reader fills buffers sized by a bound on the rows (the watermark's last id): a bound below the real
    count grows them, one far above is given back; the frame is the same either way."""
    import numpy as np

    from store.columnar import cursor_batches
    from store.votes import _battles_frame, _query

    for number in range(5):
        battle_id = battle(storage, model_a=f"m{number}", model_b="base")
        turn(storage, battle_id, f"Question {number}?", "A", "B")
        storage.battles.record_vote(battle_id=battle_id, turn=1, winner="model_b", voter_id=f"v{number}")

    frames = []
    for bound in (None, 1, 5, 10_000):
        with storage.engine.connect() as connection:
            frames.append(_battles_frame(cursor_batches(connection, _query(False)), texts=False, rows=bound))
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0])
    read = storage.votes.read()
    pd.testing.assert_frame_equal(read, frames[0])
    for label in ("model_a", "model_b", "winner", "source", "category", "excluded_reason"):
        assert read[label].cat.codes.dtype == np.int8, label
    assert list(read["model_a"].cat.categories) == sorted(read["model_a"].cat.categories)


def test_prefetched_batches_come_in_order_raise_the_readers_error_and_stop_when_abandoned() -> None:
    import threading

    import pyarrow as pa

    from store.columnar import _prefetched

    batches = [pa.record_batch({"x": [number]}) for number in range(5)]
    assert [batch["x"][0].as_py() for batch in _prefetched(iter(batches))] == [0, 1, 2, 3, 4]

    def failing() -> Iterator[pa.RecordBatch]:
        yield batches[0]
        raise RuntimeError("the connection dropped")

    with pytest.raises(RuntimeError, match="the connection dropped"):
        list(_prefetched(failing()))

    abandoned = _prefetched(iter(batches * 100), depth=1)
    next(abandoned)
    abandoned.close()
    assert not [thread for thread in threading.enumerate() if thread.name == "arrow-prefetch"]
