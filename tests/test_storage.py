"""Specification of the store's write path and registry (store.battles, store.registry, ...), run on SQLite and
on PostgreSQL. The votes reader and the eligibility rule have their own specifications (test_store_votes.py,
test_eligibility.py)."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import store.battles
from facts.vocabulary import WINNERS
from models.registry import ModelSpec
from store import BattleView, Conflict, DuplicateVote, NewTurn, NotFound, Store, VoteView
from store.engine import make_engine
from store.tables import Battle, Turn, Vote


def spec(name: str, **fields: Any) -> ModelSpec:
    return ModelSpec(name=name, **fields)


def new_battle(storage: Store, **overrides: Any) -> BattleView:
    fields: dict[str, Any] = {
        "mode": "anonymous",
        "model_a": "left-model",
        "model_b": "right-model",
        "swapped": False,
        "params_a": {"temperature": 0.7},
        "params_b": {"temperature": 0.0},
        "session_id": "session-1",
        "voter_id": "voter-1",
    }
    fields.update(overrides)
    return storage.battles.create(**fields)


def new_turn(message: str = "Hello?", **overrides: Any) -> NewTurn:
    fields: dict[str, Any] = {
        "user_message": message,
        "answer_a": f"A answers {message}",
        "answer_b": f"B answers {message}",
        "prompt_tokens_a": 10,
        "prompt_tokens_b": 12,
        "completion_tokens_a": 5,
        "completion_tokens_b": 7,
        "finish_a": "stop",
        "finish_b": "stop",
        "latency_a": 0.5,
        "latency_b": 0.75,
    }
    fields.update(overrides)
    return NewTurn(**fields)


def battle_with_turn(storage: Store, **overrides: Any) -> BattleView:
    return storage.battles.add_turn(new_battle(storage, **overrides).id, new_turn())


def vote(storage: Store, battle: BattleView, winner: str = "model_a", **overrides: Any) -> VoteView:
    fields: dict[str, Any] = {"battle_id": battle.id, "turn": 1, "winner": winner, "voter_id": "voter-1"}
    fields.update(overrides)
    return storage.battles.record_vote(**fields)


def run_at_once(count: int, work: Callable[[int], object]) -> tuple[list[object], list[BaseException]]:
    """Run `work(i)` in `count` threads released together; returns (results, exceptions)."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            result = work(i)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return results, errors


# --- model registry -----------------------------------------------------------------------------------


def test_sync_adds_every_file_entry_as_a_config_model(storage: Store) -> None:
    report = storage.registry.sync([spec("alpha", description="first"), spec("beta", anonymous=False)])
    assert report.added == ("alpha", "beta")
    assert [m.name for m in storage.registry.models()] == ["alpha", "beta"]
    assert storage.registry.get("alpha") == spec("alpha", description="first")


def test_sync_is_a_no_op_when_nothing_changed(storage: Store) -> None:
    storage.registry.sync([spec("alpha")])
    report = storage.registry.sync([spec("alpha")])
    assert (report.added, report.updated, report.disabled) == ((), (), ())


def test_sync_updates_the_stored_spec_of_config_models(storage: Store) -> None:
    storage.registry.sync([spec("alpha", description="old", weights="w1", provenance="p1")])
    report = storage.registry.sync(
        [spec("alpha", description="new", weights="w2", provenance="p2", anonymous=False, system_prompt="Hi")]
    )
    assert report.updated == ("alpha",)
    assert storage.registry.get("alpha") == spec(
        "alpha", description="new", weights="w2", provenance="p2", anonymous=False, system_prompt="Hi"
    )


def test_sync_keeps_a_model_the_operator_disabled(storage: Store) -> None:
    storage.registry.sync([spec("alpha"), spec("beta")])
    storage.registry.set_enabled("alpha", False)
    report = storage.registry.sync([spec("alpha", description="changed"), spec("beta")])
    assert storage.registry.get("alpha").enabled is False
    assert storage.registry.get("alpha").description == "changed"
    assert report.kept_disabled == ("alpha",)


def test_sync_disables_a_model_whose_file_entry_says_enabled_false(storage: Store) -> None:
    storage.registry.sync([spec("alpha")])
    storage.registry.sync([spec("alpha", enabled=False)])
    assert storage.registry.get("alpha").enabled is False
    assert storage.registry.models() == []


def test_sync_disables_config_models_that_left_the_file_but_keeps_them(storage: Store) -> None:
    storage.registry.sync([spec("alpha"), spec("beta")])
    report = storage.registry.sync([spec("beta")])
    assert report.disabled == ("alpha",)
    assert [m.name for m in storage.registry.models()] == ["beta"]
    assert storage.registry.get("alpha").enabled is False  # still there: old battles refer to it


def test_sync_never_touches_runtime_models(storage: Store) -> None:
    storage.registry.register(spec("checkpoint-1", description="from training"))
    report = storage.registry.sync([spec("alpha")])
    assert storage.registry.get("checkpoint-1").enabled is True
    report = storage.registry.sync([spec("alpha"), spec("checkpoint-1", description="a config clash")])
    assert report.skipped == ("checkpoint-1",)
    assert storage.registry.get("checkpoint-1").description == "from training"


def test_sync_refuses_a_list_naming_a_model_twice(storage: Store) -> None:
    with pytest.raises(ValueError, match="twice: alpha"):
        storage.registry.sync([spec("alpha"), spec("alpha")])


def test_register_model_adds_a_runtime_model_and_refuses_a_taken_name(storage: Store) -> None:
    storage.registry.sync([spec("alpha")])
    assert storage.registry.register(spec("checkpoint-1")) == spec("checkpoint-1")
    with pytest.raises(Conflict, match="alpha"):
        storage.registry.register(spec("alpha"))
    with pytest.raises(Conflict, match="checkpoint-1"):
        storage.registry.register(spec("checkpoint-1"))


def test_the_registry_lists_models_filtered_on_enabled_and_anonymous(storage: Store) -> None:
    storage.registry.sync([spec("alpha"), spec("named", anonymous=False), spec("off", enabled=False)])
    assert [m.name for m in storage.registry.models()] == ["alpha", "named"]
    assert [m.name for m in storage.registry.models(anonymous_only=True)] == ["alpha"]
    assert [m.name for m in storage.registry.models(enabled_only=False)] == ["alpha", "named", "off"]


def test_the_registry_reports_the_current_enabled_flag_in_each_spec(storage: Store) -> None:
    storage.registry.sync([spec("alpha")])
    storage.registry.set_enabled("alpha", False)
    assert storage.registry.models(enabled_only=False) == [spec("alpha", enabled=False)]
    assert storage.registry.set_enabled("alpha", True).enabled is True


def test_unknown_model_names_raise_not_found(storage: Store) -> None:
    with pytest.raises(NotFound):
        storage.registry.get("nobody")
    with pytest.raises(NotFound):
        storage.registry.set_enabled("nobody", True)


# --- battles and turns --------------------------------------------------------------------------------


def test_create_battle_stores_an_active_battle_with_no_turn(storage: Store) -> None:
    battle = new_battle(storage, swapped=True)
    assert uuid.UUID(battle.id).version == 4
    assert (battle.state, battle.turns, battle.votes, battle.last_turn) == ("active", (), (), 0)
    assert battle.params_a == {"temperature": 0.7} and battle.swapped is True
    assert storage.battles.get(battle.id) == battle


def test_direct_chat_battles_have_one_model(storage: Store) -> None:
    battle = new_battle(storage, mode="direct", model_b=None, params_b={})
    battle = storage.battles.add_turn(battle.id, new_turn(answer_b=None, prompt_tokens_b=0, completion_tokens_b=0))
    assert battle.model_b is None and battle.turns[0].answer_b is None


def test_create_battle_refuses_an_unknown_mode_or_a_missing_second_model(storage: Store) -> None:
    with pytest.raises(ValueError, match="unknown battle mode"):
        new_battle(storage, mode="royale")
    with pytest.raises(ValueError, match="model_b"):
        new_battle(storage, model_b=None)


def test_get_battle_raises_not_found_for_an_unknown_id(storage: Store) -> None:
    with pytest.raises(NotFound):
        storage.battles.get(str(uuid.uuid4()))


def test_timestamps_come_back_timezone_aware_in_utc(storage: Store) -> None:
    battle = battle_with_turn(storage)
    cast = vote(storage, battle)
    assert battle.created_at.tzinfo == UTC and battle.turns[0].created_at.tzinfo == UTC
    assert cast.created_at.tzinfo == UTC
    assert storage.battles.get(battle.id).votes[0].created_at == cast.created_at


def test_views_are_frozen_snapshots(storage: Store) -> None:
    battle = battle_with_turn(storage)
    with pytest.raises(dataclasses.FrozenInstanceError):
        battle.state = "voted"  # type: ignore[misc]
    battle.params_a["temperature"] = 2.0  # a copy: the stored battle does not change
    assert storage.battles.get(battle.id).params_a == {"temperature": 0.7}


def test_add_turn_appends_turns_in_order_and_keeps_the_latest_token_counts(storage: Store) -> None:
    battle = new_battle(storage)
    storage.battles.add_turn(battle.id, new_turn("first"))
    battle = storage.battles.add_turn(
        battle.id,
        new_turn("second", prompt_tokens_a=40, completion_tokens_a=8, prompt_tokens_b=50, completion_tokens_b=9),
    )
    assert [(t.index, t.attempt, t.user_message) for t in battle.turns] == [(1, 0, "first"), (2, 0, "second")]
    assert (battle.tokens_a, battle.tokens_b) == (48, 59)
    assert battle.last_turn == 2
    assert battle.turns[1] == dataclasses.replace(battle.turns[1], answer_a="A answers second", latency_b=0.75)
    assert storage.battles.get(battle.id) == battle


def test_regenerate_replaces_the_last_turn_in_the_view_and_keeps_the_old_attempt_stored(
    storage: Store,
) -> None:
    battle = new_battle(storage)
    storage.battles.add_turn(battle.id, new_turn("first"))
    storage.battles.add_turn(battle.id, new_turn("second"))
    storage.battles.add_turn(battle.id, new_turn("second", answer_a="retry 1"), regenerate=True)
    battle = storage.battles.add_turn(battle.id, new_turn("second", answer_a="retry 2"), regenerate=True)

    assert [(t.index, t.attempt, t.answer_a) for t in battle.turns] == [
        (1, 0, "A answers first"),
        (2, 2, "retry 2"),
    ]
    with storage.engine.connect() as connection:
        stored = connection.execute(
            select(Turn.index, Turn.attempt, Turn.superseded)
            .where(Turn.battle_id == battle.id)
            .order_by(Turn.index, Turn.attempt)
        ).all()
    assert [tuple(row) for row in stored] == [(1, 0, False), (2, 0, True), (2, 1, True), (2, 2, False)]


def test_regenerate_without_a_turn_is_a_conflict(storage: Store) -> None:
    battle = new_battle(storage)
    with pytest.raises(Conflict, match="no turn"):
        storage.battles.add_turn(battle.id, new_turn(), regenerate=True)


def test_regenerate_after_a_human_vote_on_the_last_turn_is_a_conflict(storage: Store) -> None:
    battle = battle_with_turn(storage)
    vote(storage, battle)
    with pytest.raises(Conflict, match="has a vote"):
        storage.battles.add_turn(battle.id, new_turn(), regenerate=True)
    assert len(storage.battles.get(battle.id).turns) == 1


def test_add_turn_to_an_unknown_battle_raises_not_found(storage: Store) -> None:
    with pytest.raises(NotFound):
        storage.battles.add_turn(str(uuid.uuid4()), new_turn())


def test_a_failed_answer_flags_the_battle_and_puts_it_in_error(storage: Store) -> None:
    battle = new_battle(storage)
    battle = storage.battles.add_turn(battle.id, new_turn(error_b="backend crashed", finish_b="error"))
    assert battle.flag_error is True and battle.state == "error"
    assert battle.turns[0].error_b == "backend crashed"


def test_turn_flags_are_or_ed_in_and_notes_appended(storage: Store) -> None:
    battle = new_battle(storage)
    storage.battles.add_turn(battle.id, new_turn(), identity_leak=True, note="identity words: gpt")
    battle = storage.battles.add_turn(battle.id, new_turn("more"), length_limit=True, note="limit reached")
    assert (battle.flag_identity_leak, battle.flag_length_limit, battle.flag_error) == (True, True, False)
    assert battle.flag_notes == "identity words: gpt\nlimit reached"
    assert battle.state == "active"


def test_flag_battle_ors_flags_in_and_never_clears_them(storage: Store) -> None:
    battle = battle_with_turn(storage)
    storage.battles.flag(battle.id, identity_leak=True, note="named openai")
    battle = storage.battles.flag(battle.id, error=True)
    assert (battle.flag_identity_leak, battle.flag_error, battle.state) == (True, True, "error")
    assert battle.flag_notes == "named openai"
    with pytest.raises(NotFound):
        storage.battles.flag(str(uuid.uuid4()), error=True)


def test_mark_revealed_records_the_first_reveal_time(storage: Store) -> None:
    battle = battle_with_turn(storage)
    first = storage.battles.mark_revealed(battle.id).revealed_at
    assert first is not None and first.tzinfo == UTC
    assert storage.battles.mark_revealed(battle.id).revealed_at == first


# --- votes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("winner", WINNERS)
def test_record_vote_stores_each_kind_of_verdict(storage: Store, winner: str) -> None:
    battle = battle_with_turn(storage)
    cast = vote(storage, battle, winner)
    stored = storage.battles.get(battle.id)
    assert stored.vote_for(1) == cast
    assert (cast.winner, cast.turn, cast.source, cast.strength) == (winner, 1, "human", None)
    assert cast.excluded_reason is None, "an anonymous, unflagged battle: the vote counts"
    assert stored.state == "voted"
    assert storage.votes.count() == 1


def test_a_decisive_vote_can_carry_its_strength_at_once(storage: Store) -> None:
    battle = battle_with_turn(storage)
    cast = vote(storage, battle, "model_b", strength="much")
    assert cast.strength == "much" and cast.strength_at is not None


def test_vote_strength_is_set_once_on_a_decisive_vote(storage: Store) -> None:
    battle = battle_with_turn(storage)
    cast = vote(storage, battle, "model_a")
    updated = storage.battles.set_vote_strength(cast.id, "clearly")
    assert (updated.strength, updated.winner) == ("clearly", "model_a")
    assert updated.strength_at is not None and updated.strength_at >= cast.created_at
    with pytest.raises(Conflict, match="already set"):
        storage.battles.set_vote_strength(cast.id, "much")
    assert storage.battles.get(battle.id).vote_for(1) == updated


@pytest.mark.parametrize("tie", ["tie", "tie (bothbad)"])
def test_a_tie_has_no_strength(storage: Store, tie: str) -> None:
    battle = battle_with_turn(storage)
    with pytest.raises(ValueError, match="cannot have a strength"):
        vote(storage, battle, tie, strength="slightly")
    cast = vote(storage, battle, tie)
    with pytest.raises(Conflict, match="tie"):
        storage.battles.set_vote_strength(cast.id, "slightly")


def test_set_vote_strength_refuses_unknown_strengths_and_votes(storage: Store) -> None:
    battle = battle_with_turn(storage)
    cast = vote(storage, battle)
    with pytest.raises(ValueError, match="unknown strength"):
        storage.battles.set_vote_strength(cast.id, "enormously")
    with pytest.raises(NotFound):
        storage.battles.set_vote_strength(cast.id + 1000, "much")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"winner": "model_c"}, "unknown winner"),
        ({"strength": "enormously"}, "unknown strength"),
        ({"turn": 2}, "has no turn 2"),
        ({"turn": 0}, "has no turn 0"),
        ({"source": "robot"}, "vote source"),
        ({"source": "judge:"}, "vote source"),
    ],
)
def test_record_vote_refuses_invalid_votes_with_a_clear_message(
    storage: Store, overrides: dict[str, Any], message: str
) -> None:
    battle = battle_with_turn(storage)
    with pytest.raises(ValueError, match=message):
        vote(storage, battle, **overrides)
    assert storage.votes.count() == 0
    assert storage.battles.get(battle.id).state == "active"


def test_record_vote_on_an_unknown_battle_raises_not_found(storage: Store) -> None:
    with pytest.raises(NotFound):
        storage.battles.record_vote(battle_id=str(uuid.uuid4()), turn=1, winner="tie", voter_id="v")


def test_a_second_vote_on_the_same_turn_is_a_duplicate(storage: Store) -> None:
    battle = battle_with_turn(storage)
    vote(storage, battle, "model_a")
    with pytest.raises(DuplicateVote):
        vote(storage, battle, "model_b", voter_id="someone-else")
    assert storage.battles.get(battle.id).vote_for(1).winner == "model_a"  # type: ignore[union-attr]


def test_each_turn_takes_its_own_vote(storage: Store) -> None:
    battle = battle_with_turn(storage)
    vote(storage, battle, "model_a")
    storage.battles.add_turn(battle.id, new_turn("again"))
    vote(storage, battle, "tie", turn=2)
    assert [(v.turn, v.winner) for v in storage.battles.get(battle.id).votes] == [(1, "model_a"), (2, "tie")]


def test_racing_voters_on_one_turn_store_exactly_one_vote(storage: Store) -> None:
    battle = battle_with_turn(storage)
    results, errors = run_at_once(8, lambda i: vote(storage, battle, WINNERS[i % 4], voter_id=f"voter-{i}"))
    assert len(results) == 1
    assert len(errors) == 7 and all(isinstance(e, DuplicateVote) for e in errors), errors
    assert storage.votes.count() == 1


def test_sixteen_concurrent_writers_from_four_processes_all_succeed(storage: Store, db_url: str) -> None:
    # Four Store objects stand for four app processes (separate engines, pools and in-process queues).
    # On SQLite this fails with "database is locked" unless write transactions begin IMMEDIATE.
    stores = [storage, *(Store(make_engine(db_url)) for _ in range(3))]

    def play(i: int) -> VoteView:
        store = stores[i % len(stores)]
        battle = store.battles.add_turn(new_battle(store, voter_id=f"voter-{i}").id, new_turn(f"question {i}"))
        store.battles.flag(battle.id, note=f"writer {i}")
        return vote(store, battle, WINNERS[i % 4], voter_id=f"voter-{i}")

    try:
        results, errors = run_at_once(16, play)
    finally:
        for store in stores[1:]:
            store.dispose()
    assert errors == []
    assert len(results) == 16 and storage.votes.count() == 16


def test_a_judge_vote_coexists_with_the_human_vote_on_the_same_turn(storage: Store) -> None:
    battle = battle_with_turn(storage)
    judged = vote(storage, battle, "model_b", source="judge:gpt-4-class", voter_id="judge")
    assert storage.battles.get(battle.id).state == "active"  # judges do not close a battle
    human = vote(storage, battle, "model_a")
    stored = storage.battles.get(battle.id)
    assert stored.vote_for(1) == human and stored.vote_for(1, source="judge:gpt-4-class") == judged
    assert (storage.votes.count(), storage.votes.count("human"), storage.votes.count("judge:gpt-4-class")) == (2, 1, 1)
    with pytest.raises(DuplicateVote):
        vote(storage, battle, "tie", source="judge:gpt-4-class", voter_id="judge")


def test_a_vote_on_a_battle_in_error_keeps_the_error_state(storage: Store) -> None:
    battle = storage.battles.add_turn(new_battle(storage).id, new_turn(error_a="timeout"))
    cast = vote(storage, battle, "model_b")
    assert cast.excluded_reason == "a model failed to answer"
    assert storage.battles.get(battle.id).state == "error"


def test_a_vote_write_that_fails_midway_stores_nothing(storage: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The battle state is updated before the insert, so a failing insert shows the rollback."""
    battle = battle_with_turn(storage)
    monkeypatch.setattr(store.battles, "WINNERS", (*WINNERS, "nobody"))  # get past the Python check
    with pytest.raises(IntegrityError, match=r"(?i)check"):
        vote(storage, battle, "nobody")
    assert storage.votes.count() == 0
    assert storage.battles.get(battle.id).state == "active"
    with storage.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Vote)) == 0
        assert connection.scalar(select(Battle.state).where(Battle.id == battle.id)) == "active"
