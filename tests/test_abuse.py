"""Specification of the arena's abuse guards: rate limits, vote replay and forged or foreign battle ids,
identity probes, moderation (against a real HTTP server speaking /v1/moderations) and inert display text.

The models are not the point here: contenders are stub backends that answer at once, on real storage
(SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from arena.battles import (
    AlreadyVoted,
    ArenaConfig,
    ArenaError,
    ArenaService,
    BattleOver,
    Caller,
    MessageRefused,
    NothingToVote,
    NotYourBattle,
    RateLimited,
    TurnUpdate,
)
from arena.moderation import ModerationVerdict, OpenAIModerator, moderator_from_settings
from arena.ratelimit import SlidingWindowLimiter
from arena.safety import find_identity_probes
from facts.eligibility import exclusion_reasons
from models.registry import ModelSpec
from models.types import ChatBackend, ChatMessage, GenerationRequest, StreamChunk
from settings import Settings
from store import BattleView, DuplicateVote, NotFound, Store
from store.tables import Battle, Turn, Vote
from ui.arena import _notice, chat_messages

ALICE = Caller(session_id="session-alice", voter_id="voter-alice")
BOB = Caller(session_id="session-bob", voter_id="voter-bob")
# Same browser profile and IP as Alice's voter hash, another session (a second tab, or a replayed request).
ALICE_OTHER_TAB = Caller(session_id="session-alice-2", voter_id="voter-alice")

SPECS = [ModelSpec(name="stub-one", description="one"), ModelSpec(name="stub-two", description="two")]
PROBE_REASON = "a model was asked who it is (identity probe)"
LEAK_REASON = "a model or vendor was named in the conversation"
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)"><svg onload=alert(3)> [click](javascript:alert(4))'


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class StubBackend:
    """Answers every request at once with a fixed text; counts the answers it was asked for."""

    def __init__(self, answer: str = "Paris is the capital.") -> None:
        self.answer = answer
        self.calls = 0
        self._lock = threading.Lock()

    def count_tokens(self, messages: tuple[ChatMessage, ...]) -> int:
        return sum(len(m.content.split()) + 4 for m in messages)

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        with self._lock:
            self.calls += 1
        head, _, tail = self.answer.partition(" ")
        yield StreamChunk(text=head)
        if tail:
            yield StreamChunk(text=" " + tail)
        yield StreamChunk(finish_reason="stop", prompt_tokens=self.count_tokens(request.messages), completion_tokens=3)


@dataclass
class Arena:
    service: ArenaService
    backend: StubBackend
    clock: Clock


def make_arena(storage: Store, *, answer: str = "Paris is the capital.", moderator: Any = None, **config: Any) -> Arena:
    storage.registry.sync(SPECS)
    backend, clock = StubBackend(answer), Clock()
    lookup: Callable[[ModelSpec], ChatBackend] = lambda spec: backend  # noqa: E731
    settings = {"identity_words": ("openai", "chatgpt", "gpt-4"), **config}
    service = ArenaService(
        storage, lookup, ArenaConfig(**settings), rng=random.Random(3), moderator=moderator, clock=clock
    )
    return Arena(service, backend, clock)


@pytest.fixture
def arena(storage: Store) -> Arena:
    return make_arena(storage)


def run(updates: Iterator[TurnUpdate]) -> TurnUpdate:
    return list(updates)[-1]


def count(storage: Store, table: type) -> int:
    with storage.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def chat(arena: Arena, caller: Caller = ALICE, text: str = "What is the capital of France?") -> str:
    return run(arena.service.send(caller, None, text)).battle_id


# =====================================================================================================
# The sliding-window limiter
# =====================================================================================================


def test_the_limiter_allows_limit_hits_per_window_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(3, 60, clock=clock)
    for _ in range(3):
        assert limiter.hit("k") == 0.0
        clock.advance(10)
    assert limiter.hit("k") == pytest.approx(30.0), "the oldest hit (30 s ago) leaves the window in 30 s"
    clock.advance(29.5)
    assert limiter.hit("k") == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.hit("k") == 0.0, "sliding: the first hit has left the window, one slot is free again"
    assert limiter.hit("k") > 0


def test_refused_hits_are_not_counted_so_waiting_out_the_window_always_works() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(2, 60, clock=clock)
    limiter.hit("k"), limiter.hit("k")
    for _ in range(50):
        clock.advance(1)
        assert limiter.hit("k") > 0
    clock.advance(10)
    assert limiter.hit("k") == 0.0


def test_keys_are_limited_separately_and_a_zero_limit_is_off() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(1, 60, clock=clock)
    assert limiter.hit("a") == 0.0 and limiter.hit("b") == 0.0
    assert limiter.hit("a") > 0 and limiter.hit("b") > 0
    off = SlidingWindowLimiter(0, 60, clock=clock)
    assert all(off.hit("a") == 0.0 for _ in range(1000))
    assert len(off) == 0, "a limiter that is off remembers nothing"
    with pytest.raises(ValueError):
        SlidingWindowLimiter(-1)


def test_memory_is_bounded_idle_keys_are_forgotten_and_a_flood_of_keys_is_capped() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(5, 60, clock=clock, max_keys=100)
    for i in range(50):
        limiter.hit(f"voter-{i}")
    assert len(limiter) == 50
    clock.advance(61)
    limiter.hit("late")
    assert len(limiter) == 1, "keys whose hits all left the window are evicted"
    for i in range(10_000):
        limiter.hit(f"flood-{i}")
    assert len(limiter) == 100
    limiter.hit("flood-9999")
    assert limiter.hit("flood-9999") == 0.0 and len(limiter) == 100, "the most recent keys are the ones kept"


def test_the_limiter_is_thread_safe_exactly_limit_hits_get_through() -> None:
    limiter = SlidingWindowLimiter(50, 60, clock=Clock())
    accepted: list[int] = []
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        ok = sum(limiter.hit("same-voter") == 0.0 for _ in range(200))
        accepted.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(accepted) == 50


# =====================================================================================================
# Rate limits in ArenaService: before anything is generated or stored
# =====================================================================================================


def test_too_many_messages_are_refused_with_the_wait_before_anything_is_generated_or_stored(
    storage: Store,
) -> None:
    arena = make_arena(storage, rate_limit_messages=3)
    battle_id = chat(arena)
    run(arena.service.send(ALICE, battle_id, "And Germany?"))
    arena.clock.advance(15)
    run(arena.service.regenerate(ALICE, battle_id))  # a regeneration generates too: it counts
    calls, battles, turns = arena.backend.calls, count(storage, Battle), count(storage, Turn)
    arena.clock.advance(5)
    with pytest.raises(RateLimited, match=r"^You are sending messages too fast; try again in 40 s\.$"):
        arena.service.send(ALICE, None, "A new battle, please")
    with pytest.raises(RateLimited, match="too fast"):
        arena.service.send(ALICE, battle_id, "And Spain?")
    with pytest.raises(RateLimited, match="too fast"):
        arena.service.regenerate(ALICE, battle_id)
    assert (arena.backend.calls, count(storage, Battle), count(storage, Turn)) == (calls, battles, turns)
    assert run(arena.service.send(BOB, None, "Hi")).done, "another voter is not limited by Alice"
    arena.clock.advance(40)
    assert run(arena.service.send(ALICE, battle_id, "And Spain?")).turn == 3, "after the wait Alice goes on"


def test_the_limit_follows_the_voter_not_the_session(storage: Store) -> None:
    arena = make_arena(storage, rate_limit_messages=2)
    chat(arena, ALICE)
    chat(arena, ALICE_OTHER_TAB)
    with pytest.raises(RateLimited):
        arena.service.send(ALICE, None, "Hi")


def test_too_many_votes_are_refused_and_not_stored(storage: Store) -> None:
    arena = make_arena(storage, rate_limit_votes=2)
    battles = [chat(arena) for _ in range(3)]
    arena.service.vote(ALICE, battles[0], "tie")
    arena.service.vote(ALICE, battles[1], "model_a")
    arena.service.set_strength(ALICE, battles[1], "much")  # step two of one vote, not another vote
    with pytest.raises(RateLimited, match=r"^You are voting too fast; try again in 60 s\.$"):
        arena.service.vote(ALICE, battles[2], "model_b")
    assert count(storage, Vote) == 2 and storage.battles.get(battles[2]).votes == ()
    arena.clock.advance(60)
    assert arena.service.vote(ALICE, battles[2], "model_b").vote.winner == "model_b"


def test_a_zero_limit_turns_rate_limiting_off(storage: Store) -> None:
    arena = make_arena(storage, rate_limit_messages=0, rate_limit_votes=0)
    battle_id = chat(arena)
    for _ in range(40):
        run(arena.service.regenerate(ALICE, battle_id))
    assert arena.service.vote(ALICE, battle_id, "tie").revealed


def test_rate_limit_settings_default_to_what_a_person_never_hits_and_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("ARENA_RATE_LIMIT_MESSAGES", "ARENA_RATE_LIMIT_VOTES", "ARENA_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert settings.rate_limit_messages >= 10 and settings.rate_limit_votes >= 10
    assert (ArenaConfig().rate_limit_messages, ArenaConfig().rate_limit_votes) == (
        settings.rate_limit_messages,
        settings.rate_limit_votes,
    ), "the service on its own is as protected as the app"
    monkeypatch.setenv("ARENA_RATE_LIMIT_MESSAGES", "0")
    monkeypatch.setenv("ARENA_RATE_LIMIT_VOTES", "5")
    assert (Settings().rate_limit_messages, Settings().rate_limit_votes) == (0, 5)
    monkeypatch.setenv("ARENA_RATE_LIMIT_VOTES", "-1")
    with pytest.raises(ValidationError):
        Settings()


# =====================================================================================================
# Vote replay, forged battle ids, other sessions' battles
# =====================================================================================================


def test_a_replayed_vote_is_refused_through_the_service_and_the_first_is_kept(arena: Arena, storage: Store) -> None:
    battle_id = chat(arena)
    arena.service.vote(ALICE, battle_id, "model_a")
    for winner in ("model_a", "model_b", "tie"):
        with pytest.raises(AlreadyVoted):
            arena.service.vote(ALICE, battle_id, winner)
    arena.service.set_strength(ALICE, battle_id, "slightly")
    with pytest.raises(AlreadyVoted):
        arena.service.set_strength(ALICE, battle_id, "much")
    with pytest.raises(AlreadyVoted):
        arena.service.vote(ALICE, battle_id, "model_b")
    with pytest.raises(BattleOver):
        arena.service.send(ALICE, battle_id, "one more turn to vote on again")
    vote = storage.battles.get(battle_id).vote_for(1)
    assert vote is not None and (vote.winner, vote.strength) == ("model_a", "slightly")
    assert count(storage, Vote) == 1


def test_a_replayed_vote_is_refused_by_storage_and_nothing_is_written_twice(arena: Arena, storage: Store) -> None:
    battle_id = chat(arena)
    first = storage.battles.record_vote(battle_id=battle_id, turn=1, winner="model_a", voter_id=ALICE.voter_id)
    for winner, voter in (("model_a", ALICE.voter_id), ("model_b", BOB.voter_id)):
        with pytest.raises(DuplicateVote):
            storage.battles.record_vote(battle_id=battle_id, turn=1, winner=winner, voter_id=voter)
    battle = storage.battles.get(battle_id)
    assert battle.votes == (first,) and battle.state == "voted"
    assert count(storage, Vote) == 1


def test_votes_replayed_at_the_same_moment_store_exactly_one(arena: Arena, storage: Store) -> None:
    battle_id = chat(arena)
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def vote(winner: str) -> None:
        barrier.wait()
        try:
            arena.service.vote(ALICE, battle_id, winner)
            outcomes.append("stored")
        except AlreadyVoted:
            outcomes.append("refused")

    threads = [threading.Thread(target=vote, args=(w,)) for w in ["model_a", "model_b", "tie"] * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 5 + ["stored"]
    assert count(storage, Vote) == 1


FORGED_IDS = [
    str(uuid.uuid4()),
    "00000000-0000-0000-0000-000000000000",
    "'; DROP TABLE votes; --",
    "../../etc/passwd",
    "x" * 10_000,
    "1 OR 1=1",
]


@pytest.mark.parametrize("forged", FORGED_IDS, ids=["uuid", "zero-uuid", "sql", "path", "long", "or"])
def test_forged_battle_ids_are_refused_everywhere_and_store_nothing(arena: Arena, storage: Store, forged: str) -> None:
    chat(arena)
    before = (count(storage, Battle), count(storage, Turn), count(storage, Vote))
    service = arena.service
    for attempt in (
        lambda: service.vote(ALICE, forged, "model_a"),
        lambda: service.set_strength(ALICE, forged, "much"),
        lambda: service.regenerate(ALICE, forged),
        lambda: service.send(ALICE, forged, "Hi"),
        lambda: service.battle(ALICE, forged),
    ):
        with pytest.raises(NotYourBattle, match="does not exist or belongs to another session"):
            attempt()
    with pytest.raises(NotFound):
        storage.battles.record_vote(battle_id=forged, turn=1, winner="model_a", voter_id=ALICE.voter_id)
    assert (count(storage, Battle), count(storage, Turn), count(storage, Vote)) == before


def test_a_vote_for_a_turn_that_does_not_exist_is_refused_by_storage(arena: Arena, storage: Store) -> None:
    battle_id = chat(arena)
    with pytest.raises(ValueError, match="no turn 7"):
        storage.battles.record_vote(battle_id=battle_id, turn=7, winner="model_a", voter_id=ALICE.voter_id)
    assert count(storage, Vote) == 0 and storage.battles.get(battle_id).state == "active"


@pytest.mark.parametrize("intruder", [BOB, ALICE_OTHER_TAB], ids=["another-person", "same-voter-other-session"])
def test_another_sessions_battle_cannot_be_read_voted_or_driven(arena: Arena, storage: Store, intruder: Caller) -> None:
    battle_id = chat(arena)
    service = arena.service
    for attempt in (
        lambda: service.vote(intruder, battle_id, "model_a"),
        lambda: service.regenerate(intruder, battle_id),
        lambda: service.send(intruder, battle_id, "hijack"),
        lambda: service.battle(intruder, battle_id),
    ):
        with pytest.raises(NotYourBattle, match="does not exist or belongs to another session"):
            attempt()
    service.vote(ALICE, battle_id, "model_b")
    with pytest.raises(NotYourBattle):
        service.set_strength(intruder, battle_id, "much")
    battle = storage.battles.get(battle_id)
    assert len(battle.turns) == 1 and battle.turns[0].attempt == 0
    assert [(v.voter_id, v.winner, v.strength) for v in battle.votes] == [(ALICE.voter_id, "model_b", None)]


def test_no_battle_id_is_nothing_to_vote_on(arena: Arena, storage: Store) -> None:
    for battle_id in (None, ""):
        with pytest.raises(NothingToVote):
            arena.service.vote(ALICE, battle_id, "model_a")
    assert count(storage, Vote) == 0


# =====================================================================================================
# Identity probes: flagged like identity leaks, with their own reason
# =====================================================================================================

PROBES = [
    "Who are you?",
    "who r u",
    "Which model are you?",
    "What model are you, exactly?",
    "what LLM is this?",
    "Which AI model am I talking to?",
    "What's your name?",
    "What’s your name",
    "what is your real name",
    "Who created you?",
    "Who trained you",
    "Introduce yourself.",
    "What are you?",
    "Qui es-tu ?",
    "Qui êtes-vous ?",
    "Comment tu t’appelles ?",
    "¿Quién eres?",
    "¿Cómo te llamas?",
    "Wer bist du?",
    "Wie heißt du?",
    "Chi sei?",
    "Quem é você?",
    "Кто ты?",
    "Как тебя зовут?",
    "你是谁？",
    "你叫什么名字",
    "あなたは誰ですか？",
]


@pytest.mark.parametrize("probe", PROBES)
def test_identity_probes_are_recognised_in_several_phrasings_and_languages(probe: str) -> None:
    assert find_identity_probes(probe), probe
    assert find_identity_probes(f"Hello there!\n{probe}\nThanks."), "also inside a longer message"


@pytest.mark.parametrize(
    "harmless",
    [
        "What is the capital of France?",
        "Who are you going to vote for in a story about an election?",
        "what are you doing this weekend? write a dialogue",
        "Write a poem about your favourite season.",
        "Name three rivers in Europe.",
        "Which model of car is the safest?",
        "Qui est le président de la France ?",
        "Wer ist der Präsident von Frankreich?",
    ],
)
def test_ordinary_questions_are_not_probes(harmless: str) -> None:
    assert find_identity_probes(harmless) == []


@pytest.mark.parametrize("probe", ["Who are you?", "¿Quién eres?", "你是谁？"])
def test_a_probe_flags_the_battle_the_person_is_told_and_the_vote_is_stored_but_excluded(
    arena: Arena, storage: Store, probe: str
) -> None:
    final = run(arena.service.send(ALICE, None, probe))
    assert any("asked the models who they are" in n and "will not count" in n for n in final.notices)
    battle = storage.battles.get(final.battle_id)
    assert battle.flag_identity_leak and "identity probe: " in battle.flag_notes
    outcome = arena.service.vote(ALICE, final.battle_id, "tie")
    assert outcome.vote.excluded_reason == PROBE_REASON, "its own reason, not the named-model one"
    assert outcome.notices == (f"Your vote is stored but will not count in the ratings: {PROBE_REASON}.",)
    assert storage.battles.get(final.battle_id).vote_for(1).excluded_reason == PROBE_REASON  # type: ignore[union-attr]


def test_a_probe_in_a_later_turn_excludes_the_vote_too(arena: Arena, storage: Store) -> None:
    battle_id = chat(arena)
    final = run(arena.service.send(ALICE, battle_id, "By the way, what's your name?"))
    assert final.notices
    assert arena.service.vote(ALICE, battle_id, "model_a").vote.excluded_reason == PROBE_REASON


def test_a_probe_that_names_a_model_gets_both_reasons(arena: Arena) -> None:
    final = run(arena.service.send(ALICE, None, "Are you GPT-4?"))
    assert len(final.notices) == 2
    assert arena.service.vote(ALICE, final.battle_id, "tie").vote.excluded_reason == f"{LEAK_REASON}; {PROBE_REASON}"


def test_an_ordinary_battle_still_counts(arena: Arena) -> None:
    final = run(arena.service.send(ALICE, None, "Who are you going to call? Ghostbusters trivia, please."))
    assert final.notices == ()
    assert arena.service.vote(ALICE, final.battle_id, "tie").vote.excluded_reason is None


def test_a_judge_vote_gets_the_probe_reason_too_and_a_flag_without_notes_reads_as_a_named_model(
    arena: Arena, storage: Store
) -> None:
    battle_id = run(arena.service.send(ALICE, None, "Which model are you?")).battle_id
    judged = storage.battles.record_vote(battle_id=battle_id, turn=1, winner="tie", voter_id="j", source="judge:j")
    assert judged.excluded_reason == PROBE_REASON, "the store applies the one rule to every source"
    flagged_by_hand = storage.battles.flag(chat(arena), identity_leak=True, note="reported by a moderator")
    assert exclusion_reasons(flagged_by_hand) == (LEAK_REASON,)


# =====================================================================================================
# Moderation: a real HTTP server on 127.0.0.1 speaking POST /v1/moderations
# =====================================================================================================


@dataclass(frozen=True)
class Reply:
    status: int = 200
    flagged: bool = False
    categories: tuple[str, ...] = ()
    delay: float = 0.0
    raw: str | None = None  # a body sent as it is


class ModerationServer:
    """Answers each POST /v1/moderations with the next queued Reply (default: not flagged)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: deque[Reply] = deque()
        self._stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                if self.path.rstrip("/") != "/v1/moderations":
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                    return
                owner.requests.append({"authorization": self.headers.get("Authorization"), **body})
                reply = owner.replies.popleft() if owner.replies else Reply()
                if reply.delay:
                    owner._stopping.wait(reply.delay)
                try:
                    self._send(reply.status, reply.raw if reply.raw is not None else _moderation_body(body, reply))
                except OSError:
                    self.close_connection = True  # the client gave up (timeout)

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> ModerationServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def _moderation_body(request: dict[str, Any], reply: Reply) -> str:
    if reply.status != 200:
        return json.dumps({"error": {"message": "scripted failure", "type": "server_error", "code": reply.status}})
    names = ("harassment", "hate", "self-harm", "sexual", "violence", "violence/graphic")
    return json.dumps(
        {
            "id": "modr-test",
            "model": request.get("model", ""),
            "results": [
                {
                    "flagged": reply.flagged,
                    "categories": {n: n in reply.categories for n in names},
                    "category_scores": {n: 0.99 if n in reply.categories else 0.001 for n in names},
                    "category_applied_input_types": {n: ["text"] for n in names},
                }
            ],
        }
    )


@pytest.fixture
def moderation_server() -> Iterator[ModerationServer]:
    server = ModerationServer().start()
    try:
        yield server
    finally:
        server.stop()


def moderated(storage: Store, server: ModerationServer, **config: Any) -> Arena:
    moderator = OpenAIModerator(api_key="sk-test", base_url=server.base_url, timeout=0.5, max_retries=0)
    return make_arena(storage, moderator=moderator, **config)


def test_a_message_the_moderator_passes_is_answered_and_stored(
    storage: Store, moderation_server: ModerationServer
) -> None:
    arena = moderated(storage, moderation_server)
    final = run(arena.service.send(ALICE, None, "What is the capital of France?"))
    assert storage.battles.get(final.battle_id).turns[0].user_message == "What is the capital of France?"
    assert moderation_server.requests == [
        {
            "authorization": "Bearer sk-test",
            "input": "What is the capital of France?",
            "model": "omni-moderation-latest",
        }
    ]


def test_a_flagged_message_is_refused_with_a_clear_message_and_nothing_is_generated_or_stored(
    storage: Store, moderation_server: ModerationServer
) -> None:
    arena = moderated(storage, moderation_server)
    moderation_server.replies.append(Reply(flagged=True, categories=("harassment", "violence")))
    with pytest.raises(MessageRefused, match=r"content filter flagged it \(harassment, violence\)\. Please rephrase"):
        arena.service.send(ALICE, None, "something nasty")
    assert (arena.backend.calls, count(storage, Battle), count(storage, Turn)) == (0, 0, 0)


def test_a_flagged_message_in_a_running_battle_leaves_the_battle_as_it_was(
    storage: Store, moderation_server: ModerationServer
) -> None:
    arena = moderated(storage, moderation_server)
    battle_id = chat(arena)
    calls = arena.backend.calls
    moderation_server.replies.append(Reply(flagged=True, categories=("hate",)))
    with pytest.raises(MessageRefused, match="flagged"):
        arena.service.send(ALICE, battle_id, "something hateful")
    assert arena.backend.calls == calls and len(storage.battles.get(battle_id).turns) == 1
    assert arena.service.vote(ALICE, battle_id, "tie").revealed, "the battle can still be voted on"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=500),
        Reply(status=429),
        Reply(delay=3.0),
        Reply(raw="this is not json"),
        Reply(raw="{}"),
    ],
    ids=["500", "429", "timeout", "not-json", "no-results"],
)
def test_when_moderation_fails_the_message_is_refused_fail_closed_and_nothing_is_stored(
    storage: Store, moderation_server: ModerationServer, reply: Reply
) -> None:
    arena = moderated(storage, moderation_server)
    moderation_server.replies.append(reply)
    with pytest.raises(MessageRefused, match=r"content filter is not answering right now.*try again"):
        arena.service.send(ALICE, None, "What is the capital of France?")
    assert (arena.backend.calls, count(storage, Battle), count(storage, Turn)) == (0, 0, 0)
    assert len(moderation_server.requests) == 1
    assert run(arena.service.send(ALICE, None, "What is the capital of France?")).done, "works once it answers"


def test_any_moderator_that_raises_refuses_the_message(storage: Store) -> None:
    class Broken:
        def check(self, text: str) -> ModerationVerdict:
            raise KeyError("a bug, not a network error")

    arena = make_arena(storage, moderator=Broken())
    with pytest.raises(MessageRefused, match="not answering"):
        arena.service.send(ALICE, None, "Hi")
    assert count(storage, Battle) == 0


def test_refused_requests_never_reach_the_moderator(storage: Store, moderation_server: ModerationServer) -> None:
    arena = moderated(storage, moderation_server, rate_limit_messages=1)
    chat(arena)
    with pytest.raises(RateLimited):
        arena.service.send(ALICE, None, "Hi again")
    with pytest.raises(NotYourBattle):
        arena.service.send(BOB, "forged", "Hi")
    with pytest.raises(ArenaError):
        arena.service.send(BOB, None, "   ")
    assert len(moderation_server.requests) == 1, "only the accepted message was checked (each call costs)"


def test_moderation_is_off_by_default_and_openai_needs_a_key(
    monkeypatch: pytest.MonkeyPatch, moderation_server: ModerationServer, storage: Store
) -> None:
    for key in ("ARENA_MODERATION", "ARENA_MODERATION_API_KEY", "ARENA_CONFIG", "OPENAI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    assert moderator_from_settings(Settings()) is None
    monkeypatch.setenv("ARENA_MODERATION", "openai")
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        moderator_from_settings(Settings())
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("ARENA_MODERATION_BASE_URL", moderation_server.base_url)
    monkeypatch.setenv("ARENA_MODERATION_MODEL", "text-moderation-stable")
    moderator = moderator_from_settings(Settings())
    assert moderator is not None and moderator.check("hello") == ModerationVerdict(flagged=False)
    assert moderation_server.requests[-1]["model"] == "text-moderation-stable"
    assert moderation_server.requests[-1]["authorization"] == "Bearer sk-from-env"
    monkeypatch.setenv("ARENA_MODERATION", "perspective")
    with pytest.raises(ValidationError):
        Settings()


# =====================================================================================================
# XSS: what the UI is given to render is inert
# =====================================================================================================


def _assert_inert(text: str) -> None:
    lowered = text.lower()
    for live in ("<script", "<img", "<svg", 'javascript:alert(4)"'):
        assert live not in lowered, f"{live!r} would render live in {text!r}"


def test_messages_answers_and_errors_reach_the_chat_as_inert_text(storage: Store) -> None:
    arena = make_arena(storage, answer=f"Sure: {XSS}")
    final = run(arena.service.send(ALICE, None, XSS))
    battle = storage.battles.get(final.battle_id)
    assert battle.turns[0].user_message == XSS, "stored verbatim; made inert only for display"
    stored = [m["content"] for side in (0, 1) for m in chat_messages(battle, side)]
    pending = TurnUpdate(final.battle_id, 2, f"partial {XSS}", XSS, error_a=f"backend said {XSS}", user_message=XSS)
    streaming = [m["content"] for side in (0, 1) for m in chat_messages(battle, side, pending)]
    assert len(stored) == 4 and len(streaming) == 8
    for content in stored + streaming:
        _assert_inert(content)
        assert "alert(1)" in content, "the text is still shown, as text"


def test_notices_quoting_client_input_are_inert(arena: Arena) -> None:
    with pytest.raises(ArenaError) as refused:
        arena.service.start(ALICE, "side_by_side", ['<img src=x onerror="alert(1)">', "stub-one"])
    shown = _notice(str(refused.value), f"✅ thanks {XSS}")
    _assert_inert(shown)
    assert "&lt;img src=x" in shown


def test_the_stubs_in_this_file_really_answer(storage: Store) -> None:
    # Guards the stubs: a test above passing because a stub never stored anything would prove nothing.
    arena = make_arena(storage)
    battle: BattleView = storage.battles.get(chat(arena))
    assert battle.turns[0].answer_a == "Paris is the capital." and battle.turns[0].finish_a == "stop"
