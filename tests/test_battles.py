"""Specification of the battle lifecycle (arena/battles.py) on real storage (SQLite and PostgreSQL) and the
real embedded model, with few new tokens per answer."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select

from arena.battles import (
    ANONYMOUS_ERROR,
    AlreadyVoted,
    ArenaConfig,
    ArenaError,
    ArenaService,
    BattleOver,
    Caller,
    ConversationTooLong,
    NothingToVote,
    NotYourBattle,
    TurnUpdate,
)
from arena.safety import InputError
from models.pool import BackendPool
from models.registry import DecodingConfig, ModelSpec
from models.types import ChatBackend, ChatMessage, GenerationRequest, StreamChunk
from store import Store
from store.tables import Battle, Turn, Vote

ALICE = Caller(session_id="session-alice", voter_id="voter-alice")
BOB = Caller(session_id="session-bob", voter_id="voter-bob")

SPECS = [
    ModelSpec(
        name="tiny-greedy",
        generation=DecodingConfig(temperature=0.0, max_new_tokens=8),
        system_prompt="You are a helpful assistant.",
        description="greedy",
    ),
    ModelSpec(
        name="tiny-sampled",
        generation=DecodingConfig(temperature=0.9, top_p=0.95, max_new_tokens=8),
        system_prompt="You are a lively assistant.",
        description="sampled",
    ),
    ModelSpec(
        name="tiny-concise",
        generation=DecodingConfig(temperature=0.0, max_new_tokens=8),
        system_prompt="Answer in one sentence.",
        description="concise",
    ),
]


class FailingBackend:
    """Wraps a real backend and fails mid-stream, the way a remote server dropping a connection would."""

    def __init__(
        self, inner: ChatBackend, after_chunks: int = 2, message: str = "connection to the model server was lost"
    ) -> None:
        self.inner, self.after_chunks, self.message = inner, after_chunks, message

    def count_tokens(self, messages: tuple[ChatMessage, ...]) -> int:
        return self.inner.count_tokens(messages)

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        for i, chunk in enumerate(self.inner.stream(request)):
            if i == self.after_chunks:
                yield StreamChunk(finish_reason="error", error=self.message)
                return
            yield chunk


def make_service(
    storage: Store,
    pool: BackendPool,
    *,
    backend_for: Callable[[ModelSpec], ChatBackend] | None = None,
    **config: object,
) -> ArenaService:
    storage.registry.sync(SPECS)
    settings = {"max_new_tokens": 8, "identity_words": ("openai", "chatgpt", "gpt-4"), **config}
    return ArenaService(storage, backend_for or pool.get, ArenaConfig(**settings), rng=random.Random(7))  # type: ignore[arg-type]


@pytest.fixture
def service(storage: Store, backend_pool: BackendPool) -> ArenaService:
    return make_service(storage, backend_pool)


def run(updates: Iterator[TurnUpdate]) -> list[TurnUpdate]:
    return list(updates)


def count(storage: Store, table: type) -> int:
    with storage.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# ---- a battle turn ---------------------------------------------------------------------------------


def test_a_first_message_starts_an_anonymous_battle_and_both_answers_stream_then_are_stored(
    service: ArenaService, storage: Store
) -> None:
    updates = run(service.send(ALICE, None, "What is the capital of France?"))
    final = updates[-1]
    assert final.done and all(not u.done for u in updates[:-1])
    assert len(updates) > 2, "answers arrive in pieces, not at once"
    assert final.answer_a and final.answer_b
    battle = storage.battles.get(final.battle_id)
    assert battle.mode == "anonymous" and battle.session_id == ALICE.session_id
    assert {battle.model_a, battle.model_b} <= {s.name for s in SPECS} and battle.model_a != battle.model_b
    assert [t.index for t in battle.turns] == [1]
    turn = battle.turns[0]
    assert (turn.answer_a, turn.answer_b) == (final.answer_a, final.answer_b)
    assert turn.completion_tokens_a > 0 and turn.prompt_tokens_a > 0 and turn.finish_a in ("stop", "length")
    assert battle.tokens_a == turn.prompt_tokens_a + turn.completion_tokens_a
    assert battle.params_a == next(s for s in SPECS if s.name == battle.model_a).generation.model_dump()


def test_pairs_are_sampled_among_anonymous_models_and_sides_are_randomised(
    storage: Store, backend_pool: BackendPool
) -> None:
    service = make_service(storage, backend_pool)
    storage.registry.register(ModelSpec(name="named-only", anonymous=False))
    battles = [service.start(ALICE) for _ in range(60)]
    pairs = {(b.model_a, b.model_b) for b in battles}
    assert all("named-only" not in pair for pair in pairs)
    assert len(pairs) == 6, "every ordered pair of the three anonymous models shows up"
    assert {b.swapped for b in battles} == {True, False}


def test_later_turns_carry_the_conversation_and_each_side_sees_its_own_answers(
    service: ArenaService, storage: Store
) -> None:
    first = run(service.send(ALICE, None, "Name a fruit."))[-1]
    second = run(service.send(ALICE, first.battle_id, "Name another one."))[-1]
    assert second.turn == 2
    battle = storage.battles.get(first.battle_id)
    assert [(t.index, t.user_message) for t in battle.turns] == [(1, "Name a fruit."), (2, "Name another one.")]
    # The second prompt includes the first exchange, so it is longer than the first prompt.
    assert battle.turns[1].prompt_tokens_a > battle.turns[0].prompt_tokens_a + battle.turns[0].completion_tokens_a


def test_regenerate_answers_the_last_message_again_and_keeps_the_old_answers(
    service: ArenaService, storage: Store
) -> None:
    first = run(service.send(ALICE, None, "Say hello."))[-1]
    again = run(service.regenerate(ALICE, first.battle_id))[-1]
    assert again.done and again.turn == 1
    battle = storage.battles.get(first.battle_id)
    assert [(t.index, t.attempt) for t in battle.turns] == [(1, 1)]
    with storage.engine.connect() as conn:
        rows = conn.execute(select(Turn.attempt, Turn.superseded).where(Turn.battle_id == first.battle_id)).all()
    assert sorted(rows) == [(0, True), (1, False)]


def test_regenerate_before_any_message_is_refused(service: ArenaService) -> None:
    battle = service.start(ALICE)
    with pytest.raises(NothingToVote, match="nothing to regenerate"):
        service.regenerate(ALICE, battle.id)


# ---- voting ----------------------------------------------------------------------------------------


def test_a_decisive_vote_asks_how_much_better_then_reveals_both_names(service: ArenaService, storage: Store) -> None:
    final = run(service.send(ALICE, None, "Hi!"))[-1]
    step_one = service.vote(ALICE, final.battle_id, "model_a")
    assert step_one.needs_strength and step_one.revealed is None
    assert storage.battles.get(final.battle_id).revealed_at is None, "names stay hidden until the strength"
    step_two = service.set_strength(ALICE, final.battle_id, "much")
    battle = storage.battles.get(final.battle_id)
    assert step_two.revealed is not None
    assert (step_two.revealed[0].name, step_two.revealed[1].name) == (battle.model_a, battle.model_b)
    assert step_two.revealed[0].description in {"greedy", "sampled", "concise"}
    vote = battle.vote_for(1)
    assert vote is not None
    assert (vote.winner, vote.strength, vote.source, vote.voter_id, vote.turn) == (
        "model_a",
        "much",
        "human",
        ALICE.voter_id,
        1,
    )
    assert vote.excluded_reason is None
    assert battle.state == "voted" and battle.revealed_at is not None


@pytest.mark.parametrize("winner", ["tie", "tie (bothbad)"])
def test_a_tie_is_revealed_at_once_and_has_no_strength(service: ArenaService, storage: Store, winner: str) -> None:
    final = run(service.send(ALICE, None, "Hi!"))[-1]
    outcome = service.vote(ALICE, final.battle_id, winner)
    assert not outcome.needs_strength and outcome.revealed is not None
    with pytest.raises(ArenaError, match="tie has no strength"):
        service.set_strength(ALICE, final.battle_id, "much")
    assert storage.battles.get(final.battle_id).vote_for(1).winner == winner  # type: ignore[union-attr]


def test_a_second_vote_on_the_same_turn_is_rejected_and_the_first_is_kept(
    service: ArenaService, storage: Store
) -> None:
    final = run(service.send(ALICE, None, "Hi!"))[-1]
    service.vote(ALICE, final.battle_id, "model_b")
    with pytest.raises(AlreadyVoted):
        service.vote(ALICE, final.battle_id, "model_a")
    service.set_strength(ALICE, final.battle_id, "slightly")
    with pytest.raises(AlreadyVoted):
        service.set_strength(ALICE, final.battle_id, "much")
    vote = storage.battles.get(final.battle_id).vote_for(1)
    assert vote is not None and (vote.winner, vote.strength) == ("model_b", "slightly")
    assert count(storage, Vote) == 1


def test_after_the_vote_the_battle_is_over(service: ArenaService) -> None:
    final = run(service.send(ALICE, None, "Hi!"))[-1]
    service.vote(ALICE, final.battle_id, "tie")
    with pytest.raises(BattleOver, match="new round"):
        service.send(ALICE, final.battle_id, "One more thing")
    with pytest.raises(BattleOver):
        service.regenerate(ALICE, final.battle_id)


def test_a_vote_before_any_answer_is_refused_and_nothing_is_stored(service: ArenaService, storage: Store) -> None:
    with pytest.raises(NothingToVote):
        service.vote(ALICE, None, "model_a")
    battle = service.start(ALICE)
    with pytest.raises(NothingToVote, match="nothing to vote on"):
        service.vote(ALICE, battle.id, "model_a")
    with pytest.raises(NothingToVote, match="better first"):
        service.set_strength(ALICE, battle.id, "much")
    assert count(storage, Vote) == 0


def test_another_sessions_battle_and_forged_ids_are_refused_alike(service: ArenaService, storage: Store) -> None:
    final = run(service.send(ALICE, None, "Hi!"))[-1]
    for battle_id in (final.battle_id, "00000000-0000-0000-0000-000000000000", "'; DROP TABLE votes; --"):
        with pytest.raises(NotYourBattle, match="another session"):
            service.vote(BOB, battle_id, "model_a")
        with pytest.raises(NotYourBattle):
            service.send(BOB, battle_id, "hijack")
    assert count(storage, Vote) == 0
    assert len(storage.battles.get(final.battle_id).turns) == 1


def test_unknown_winner_or_strength_labels_are_refused(service: ArenaService) -> None:
    final = run(service.send(ALICE, None, "Hi!"))[-1]
    with pytest.raises(ArenaError, match="Unknown vote"):
        service.vote(ALICE, final.battle_id, "model_c")
    service.vote(ALICE, final.battle_id, "model_a")
    with pytest.raises(ArenaError, match="Unknown strength"):
        service.set_strength(ALICE, final.battle_id, "enormously")


# ---- flags: identity leaks, backend errors, non-anonymous battles ----------------------------------------


def test_naming_a_model_flags_the_battle_the_person_is_told_and_the_vote_does_not_count(
    service: ArenaService, storage: Store
) -> None:
    final = run(service.send(ALICE, None, "Are you ChatGPT, made by OpenAI?"))[-1]
    assert any("chatgpt" in n and "will not count" in n for n in final.notices)
    battle = storage.battles.get(final.battle_id)
    assert battle.flag_identity_leak and "openai" in battle.flag_notes
    outcome = service.vote(ALICE, final.battle_id, "tie")
    assert outcome.vote.excluded_reason and "model or vendor" in outcome.vote.excluded_reason
    assert any("will not count" in n for n in outcome.notices)


def test_a_contender_naming_itself_is_an_identity_leak(service: ArenaService, storage: Store) -> None:
    final = run(service.send(ALICE, None, "Repeat exactly: tiny-concise"))[-1]
    battle = storage.battles.get(final.battle_id)
    assert battle.flag_identity_leak, "registered model names count as identity words"


def test_a_backend_failing_mid_stream_reaches_the_person_and_flags_the_battle(
    storage: Store, backend_pool: BackendPool
) -> None:
    def backend_for(spec: ModelSpec) -> ChatBackend:
        real = backend_pool.get(spec)
        return FailingBackend(real) if spec.name == "tiny-sampled" else real

    service = make_service(storage, backend_pool, backend_for=backend_for)
    battle = service.start(ALICE, "side_by_side", ["tiny-greedy", "tiny-sampled"])
    final = run(service.send(ALICE, battle.id, "Hello"))[-1]
    assert final.error_b == "connection to the model server was lost" and final.error_a is None
    assert any("failed to answer" in n for n in final.notices)
    stored = storage.battles.get(battle.id)
    assert stored.flag_error and stored.state == "error"
    assert stored.turns[0].finish_b == "error" and stored.turns[0].error_b
    outcome = service.vote(ALICE, battle.id, "model_a")
    assert outcome.vote.excluded_reason and "failed to answer" in outcome.vote.excluded_reason


def test_in_an_anonymous_battle_a_backend_error_does_not_reveal_the_model(
    storage: Store, backend_pool: BackendPool
) -> None:
    def backend_for(spec: ModelSpec) -> ChatBackend:
        return FailingBackend(backend_pool.get(spec), message=f"server for {spec.name} returned 500")

    service = make_service(storage, backend_pool, backend_for=backend_for)
    final = run(service.send(ALICE, None, "Hello"))[-1]
    assert final.error_a == final.error_b == ANONYMOUS_ERROR
    turn = storage.battles.get(final.battle_id).turns[0]
    assert turn.error_a and "returned 500" in turn.error_a, "the real message is stored"


def test_side_by_side_votes_are_stored_as_non_anonymous(service: ArenaService) -> None:
    battle = service.start(ALICE, "side_by_side", ["tiny-greedy", "tiny-concise"])
    assert (battle.model_a, battle.model_b, battle.mode) == ("tiny-greedy", "tiny-concise", "side_by_side")
    run(service.send(ALICE, battle.id, "Hi"))
    outcome = service.vote(ALICE, battle.id, "model_b")
    assert outcome.vote.excluded_reason == "the models were not anonymous"


def test_side_by_side_needs_two_different_known_models(service: ArenaService) -> None:
    with pytest.raises(ArenaError, match="two different"):
        service.start(ALICE, "side_by_side", ["tiny-greedy", "tiny-greedy"])
    with pytest.raises(ArenaError, match="Unknown model"):
        service.start(ALICE, "side_by_side", ["tiny-greedy", "nope"])


def test_direct_chat_uses_one_model_with_the_persons_settings_and_has_no_votes(
    service: ArenaService, storage: Store
) -> None:
    final = run(
        service.send(
            ALICE,
            None,
            "Hi",
            mode="direct",
            models=["tiny-greedy"],
            overrides={"system_prompt": "Always answer in French.", "temperature": 0.0, "max_new_tokens": 4},
        )
    )[-1]
    assert final.answer_b is None
    battle = storage.battles.get(final.battle_id)
    assert battle.mode == "direct" and battle.model_b is None
    assert battle.turns[0].completion_tokens_a <= 4
    with pytest.raises(ArenaError, match="no votes"):
        service.vote(ALICE, battle.id, "model_a")


# ---- bad input and limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "error"), [("", "empty"), ("   \n ", "empty"), ("x" * 100_000, "100,000 characters")]
)
def test_bad_messages_are_refused_before_anything_is_stored(
    service: ArenaService, storage: Store, message: str, error: str
) -> None:
    with pytest.raises(InputError, match=error):
        service.send(ALICE, None, message)
    assert count(storage, Battle) == 0


def test_control_characters_are_removed_and_html_is_stored_verbatim(service: ArenaService, storage: Store) -> None:
    final = run(service.send(ALICE, None, "Hi\x00 <script>alert('x')</script>\x1b"))[-1]
    assert any("control characters removed" in n for n in final.notices)
    assert storage.battles.get(final.battle_id).turns[0].user_message == "Hi <script>alert('x')</script>"


def test_the_conversation_length_guard_refuses_a_turn_with_a_clear_message(
    storage: Store, backend_pool: BackendPool
) -> None:
    service = make_service(storage, backend_pool, max_conversation_tokens=90)
    with pytest.raises(ConversationTooLong, match="limit of 90 tokens"):
        service.send(ALICE, None, "word " * 200)
    assert count(storage, Battle) == 0, "a refused first message leaves no empty battle behind"
    final = run(service.send(ALICE, None, "Hi"))[-1]
    turns_before = len(storage.battles.get(final.battle_id).turns)
    with pytest.raises(ConversationTooLong, match="start a new round"):
        for _ in range(10):
            final = run(service.send(ALICE, final.battle_id, "Tell me more, please, with details."))[-1]
    assert len(storage.battles.get(final.battle_id).turns) > turns_before - 1
    assert service.vote(ALICE, final.battle_id, "tie").revealed, "a long battle can still be voted on"


def test_a_vote_while_answers_are_streaming_is_refused(service: ArenaService) -> None:
    battle = service.start(ALICE, "side_by_side", ["tiny-greedy", "tiny-concise"])
    run(service.send(ALICE, battle.id, "Hi"))
    stream = service.send(ALICE, battle.id, "And again")
    next(stream)
    with pytest.raises(ArenaError, match="Wait for both answers"):
        service.vote(ALICE, battle.id, "model_a")
    run(stream)
    assert service.vote(ALICE, battle.id, "model_a").vote.turn == 2


def test_closing_the_stream_early_keeps_what_was_said(service: ArenaService, storage: Store) -> None:
    stream = service.send(ALICE, None, "Count to ten.")
    first = next(stream)
    stream.close()  # the browser went away
    turn = storage.battles.get(first.battle_id).turns[0]
    assert turn.user_message == "Count to ten." and "cancelled" in (turn.finish_a, turn.finish_b)


def test_concurrent_users_get_their_own_streams(storage: Store, backend_pool: BackendPool) -> None:
    service = make_service(storage, backend_pool)
    callers = [Caller(f"s{i}", f"v{i}") for i in range(4)]
    prompts = ["Name a color.", "Name an animal.", "Name a city.", "Name a planet."]
    battles = [service.start(c, "side_by_side", ["tiny-greedy", "tiny-concise"]) for c in callers]
    alone = {}
    solo = make_service(storage, backend_pool)
    for prompt in prompts:
        b = solo.start(ALICE, "side_by_side", ["tiny-greedy", "tiny-concise"])
        alone[prompt] = run(solo.send(ALICE, b.id, prompt))[-1]
    results: dict[str, TurnUpdate] = {}

    def chat(caller: Caller, battle_id: str, prompt: str) -> None:
        results[prompt] = run(service.send(caller, battle_id, prompt))[-1]

    threads = [
        threading.Thread(target=chat, args=args) for args in zip(callers, [b.id for b in battles], prompts, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for prompt in prompts:  # greedy decoding: the same text as when run alone, never another user's
        assert (results[prompt].answer_a, results[prompt].answer_b) == (alone[prompt].answer_a, alone[prompt].answer_b)


def test_a_disabled_model_is_not_sampled(storage: Store, backend_pool: BackendPool) -> None:
    service = make_service(storage, backend_pool)
    storage.registry.set_enabled("tiny-sampled", False)
    assert all("tiny-sampled" not in (b.model_a, b.model_b) for b in (service.start(ALICE) for _ in range(20)))
    with pytest.raises(ArenaError, match="disabled"):
        service.start(ALICE, "direct", ["tiny-sampled"])
