"""Specification of the votes an arena can trust (issue 14): before the vote nothing a person sees depends on
which model is on which side, a side cannot be told by replaying its answer, an address's counted votes are
capped per day, and votes from a source the stuffing screen flagged stop counting, with the reason stored.

Contenders are stub backends that behave differently per model (real storage, SQLite and PostgreSQL); the
fingerprint attack runs the real embedded model.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from arena.battles import ArenaConfig, ArenaService, Caller, TurnUpdate
from arena.safety import network_hash
from arena.vote_screen import screen_votes
from facts.eligibility import FAILED, OVER_DAILY_CAP, PROBED, STUFFING, reasons_of
from models.pool import BackendPool
from models.registry import DecodingConfig, ModelSpec
from models.types import ChatMessage, GenerationRequest, StreamChunk
from store import SourceFlag, Store
from store.tables import AddressDay, Vote

LIMIT_NOTICE = "reached its limit"


class Babbler:
    """A model that never stops on its own: it writes words until its token cap, then finishes with "length"
    (what a real server says). Records every request it was given."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.requests: list[GenerationRequest] = []
        self._lock = threading.Lock()

    def count_tokens(self, messages: tuple[ChatMessage, ...]) -> int:
        return sum(len(m.content.split()) + 4 for m in messages)

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        with self._lock:
            self.requests.append(request)
        n = request.params.max_new_tokens
        for _ in range(n):
            yield StreamChunk(text=f"{self.word} ")
        yield StreamChunk(
            finish_reason="length", prompt_tokens=self.count_tokens(request.messages), completion_tokens=n
        )


# A contender with its own low cap (like models.yaml's concise one) and one with a high cap: on main, the low one
# hitting its cap told the person "the conversation reached its limit" on a short prompt, naming its side.
LOW_CAP = ModelSpec(name="low-cap", generation=DecodingConfig(temperature=0.0, max_new_tokens=4), description="low")
HIGH_CAP = ModelSpec(name="high-cap", generation=DecodingConfig(temperature=0.9, max_new_tokens=64), description="hi")


def make_arena(storage: Store, seed: int = 0, **config: object) -> tuple[ArenaService, dict[str, Babbler]]:
    storage.registry.sync([LOW_CAP, HIGH_CAP])
    backends = {"low-cap": Babbler("short"), "high-cap": Babbler("long")}
    settings = {"max_new_tokens": 12, "identity_words": ("openai",), **config}
    service = ArenaService(
        storage,
        lambda spec: backends[spec.name],
        ArenaConfig(**settings),  # type: ignore[arg-type]
        rng=random.Random(seed),
    )
    return service, backends


def last(updates: Iterator[TurnUpdate]) -> TurnUpdate:
    return list(updates)[-1]


def caller(n: int, address: str = "198.51.100.7") -> Caller:
    """Session n from an address (the ids are what ui.arena.Identity derives, salted)."""
    return Caller(
        session_id=f"session-{n}",
        voter_id=f"voter-{address}-{n}",
        client_id=f"client-{address}",
        network_id=network_hash("salt", address),
    )


# =====================================================================================================
# Anonymity before the vote
# =====================================================================================================


def test_a_contender_cut_at_its_own_low_cap_does_not_get_a_conversation_limit_notice(storage: Store) -> None:
    service, backends = make_arena(storage)
    final = last(service.send(caller(1), None, "Hello"))
    assert not any(LIMIT_NOTICE in n for n in final.notices), final.notices
    # Both sides got the same cap, so both answers are cut at the same length: where an answer is cut says
    # nothing about which model wrote it.
    caps = {b.requests[-1].params.max_new_tokens for b in backends.values()}
    assert caps == {12}
    assert len(final.answer_a.split()) == len((final.answer_b or "").split()) == 12


def test_outside_anonymous_battles_a_contender_keeps_its_own_cap_and_still_gets_no_limit_notice(
    storage: Store,
) -> None:
    service, backends = make_arena(storage)
    final = last(service.send(caller(1), None, "Hello", mode="side_by_side", models=["low-cap", "high-cap"]))
    assert backends["low-cap"].requests[-1].params.max_new_tokens == 4
    assert backends["high-cap"].requests[-1].params.max_new_tokens == 12
    assert not any(LIMIT_NOTICE in n for n in final.notices), "a model's own cap is not the conversation's limit"


def test_a_conversation_at_its_limit_cuts_both_sides_at_the_same_room_and_says_so_without_naming_a_side(
    storage: Store,
) -> None:
    # The second turn's conversation (39 tokens of the stub's count) leaves 20 of the 59 for the answer: less
    # than the cap (24), the same for both sides.
    service, backends = make_arena(storage, max_new_tokens=24, max_conversation_tokens=59)
    first = last(service.send(caller(1), None, "Hello"))
    second = last(service.send(caller(1), first.battle_id, "More please"))
    assert any(LIMIT_NOTICE in n for n in second.notices)
    caps = {b.requests[-1].params.max_new_tokens for b in backends.values()}
    assert caps == {20}


def test_anonymous_battles_sample_even_a_greedy_contender_while_direct_chat_keeps_its_settings(
    storage: Store,
) -> None:
    service, backends = make_arena(storage, anonymous_min_temperature=0.7)
    last(service.send(caller(1), None, "Hello"))
    assert backends["low-cap"].requests[-1].params.temperature == pytest.approx(0.7)
    assert backends["high-cap"].requests[-1].params.temperature == pytest.approx(0.9), "a higher one is kept"
    last(service.send(caller(1), None, "Hello", mode="direct", models=["low-cap"]))
    assert backends["low-cap"].requests[-1].params.temperature == 0.0, "direct chat is what the model is"


def test_what_a_person_sees_before_the_vote_mirrors_exactly_when_the_sides_swap(storage: Store) -> None:
    """The property: a battle with the models on the other sides shows the same notices and the mirror image of
    the answers and errors, turn after turn, whatever each model does."""
    views: dict[bool, list[tuple[object, ...]]] = {}
    for seed in range(40):
        # The second turn reaches the conversation's limit (as in the test above): its notice is part of the view.
        service, _ = make_arena(storage, seed=seed, max_new_tokens=24, max_conversation_tokens=59)
        first = last(service.send(caller(seed), None, "Hello"))
        second = last(service.send(caller(seed), first.battle_id, "More please"))
        swapped = storage.battles.get(first.battle_id).model_a == "high-cap"
        seen = [
            (u.notices, *((u.answer_b, u.answer_a, u.error_b, u.error_a) if swapped else
                          (u.answer_a, u.answer_b, u.error_a, u.error_b)))
            for u in (first, second)
        ]  # fmt: skip
        views.setdefault(swapped, seen)
        if len(views) == 2:
            break
    assert set(views) == {False, True}, "both side assignments came up"
    assert views[False] == views[True]


# =====================================================================================================
# Fingerprints: replaying an answer in direct chat, or repeating a prompt
# =====================================================================================================

# Open prompts, the attacker's best case: a long free answer is what a greedy model repeats and others do not.
PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a bicycle works to a child.",
    "Write a poem about autumn leaves.",
    "Give me some advice for a job interview.",
    "Tell me about the history of bread.",
    "Invent a new board game and explain the rules.",
]
GREEDY = ModelSpec(
    name="fp-greedy", generation=DecodingConfig(temperature=0.0, max_new_tokens=24), description="greedy"
)
SAMPLED = ModelSpec(
    name="fp-sampled",
    generation=DecodingConfig(temperature=0.9, top_p=0.95, max_new_tokens=24),
    system_prompt="You are a lively assistant.",
    description="sampled",
)


def binomial_upper_tail(successes: int, trials: int) -> float:
    """P(X >= successes) for X ~ Binomial(trials, 1/2): the chance of guessing at least that well blind."""
    return sum(math.comb(trials, k) for k in range(successes, trials + 1)) / 2**trials


def replay_attack(storage: Store, backend_pool: BackendPool, min_temperature: float) -> tuple[int, int]:
    """The attack that worked on main 3 times out of 3: ask a prompt in an anonymous battle, ask it again (in
    direct chat of the greedy contender, and in another anonymous battle), and call the side whose answer came
    back word for word the greedy one (a coin toss when no answer, or both, came back). Returns (right guesses,
    guesses)."""
    storage.registry.sync([GREEDY, SAMPLED])
    config = ArenaConfig(
        max_new_tokens=24, anonymous_min_temperature=min_temperature, rate_limit_messages=1000,
        rate_limit_messages_per_client=1000,
    )  # fmt: skip
    service = ArenaService(storage, backend_pool.get, config, rng=random.Random(11))
    attacker = caller(1)
    hits = trials = 0
    for prompt in PROMPTS:
        battle = last(service.send(attacker, None, prompt))
        replay = last(service.send(attacker, None, prompt, mode="direct", models=["fp-greedy"])).answer_a
        again = last(service.send(attacker, None, prompt))
        truth = 0 if storage.battles.get(battle.battle_id).model_a == "fp-greedy" else 1
        for reference in (replay, again.answer_a, again.answer_b):
            matches = [side for side, text in enumerate((battle.answer_a, battle.answer_b)) if text == reference]
            guess = matches[0] if len(matches) == 1 else random.Random(trials).randrange(2)
            hits += guess == truth
            trials += 1
    return hits, trials


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_attacker_replaying_answers_in_direct_chat_or_repeating_prompts_guesses_sides_no_better_than_chance(
    storage: Store, backend_pool: BackendPool
) -> None:
    hits, trials = replay_attack(storage, backend_pool, min_temperature=0.7)
    assert binomial_upper_tail(hits, trials) > 0.01, f"{hits}/{trials} sides identified; chance is half"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_replay_attack_identifies_a_greedy_side_when_anonymous_battles_may_decode_greedily(
    storage: Store, backend_pool: BackendPool
) -> None:
    """The control: with the floor off (main's behaviour) the same attack finds the side far beyond chance, so the
    test above would see a regression."""
    hits, trials = replay_attack(storage, backend_pool, min_temperature=0.0)
    assert binomial_upper_tail(hits, trials) < 0.001, f"only {hits}/{trials} sides identified"


# =====================================================================================================
# Votes per address per day
# =====================================================================================================


def counted_reasons(storage: Store) -> list[tuple[str | None, str | None]]:
    with storage.engine.connect() as connection:
        rows = connection.execute(select(Vote.client_id, Vote.excluded_reason).order_by(Vote.id)).all()
    return [(c, r) for c, r in rows]


def vote_once(service: ArenaService, who: Caller, text: str = "Hello") -> None:
    battle = last(service.send(who, None, text))
    service.vote(who, battle.battle_id, "tie")


def test_an_address_past_its_daily_cap_has_its_votes_stored_but_not_counted_with_the_reason(storage: Store) -> None:
    service, _ = make_arena(storage, daily_votes_per_address=3)
    for session in range(5):  # a new session each time: the cap is per address, not per voter id
        vote_once(service, caller(session))
    vote_once(service, caller(0, address="203.0.113.9"))  # someone else is not affected
    rows = counted_reasons(storage)
    assert len(rows) == 6, "every vote is stored"
    assert [r for _, r in rows[:3]] == [None, None, None]
    assert [reasons_of(r) for _, r in rows[3:5]] == [(OVER_DAILY_CAP,), (OVER_DAILY_CAP,)]
    assert rows[5][1] is None


def test_a_vote_that_would_not_count_anyway_does_not_use_up_the_addresss_share(storage: Store) -> None:
    service, _ = make_arena(storage, daily_votes_per_address=2)
    vote_once(service, caller(0), "Who are you?")  # a probe: excluded for that, not counted against the cap
    vote_once(service, caller(1))
    vote_once(service, caller(2))
    vote_once(service, caller(3))
    reasons = [reasons_of(r) for _, r in counted_reasons(storage)]
    assert reasons == [(PROBED,), (), (), (OVER_DAILY_CAP,)]


def test_the_cap_holds_when_many_sessions_of_one_address_vote_at_once(storage: Store) -> None:
    service, _ = make_arena(storage, daily_votes_per_address=5, rate_limit_votes_per_client=1000)
    battles = [(caller(n), last(service.send(caller(n), None, "Hello")).battle_id) for n in range(12)]
    barrier = threading.Barrier(len(battles))

    def vote(who: Caller, battle_id: str) -> None:
        barrier.wait()
        service.vote(who, battle_id, "tie")

    threads = [threading.Thread(target=vote, args=pair) for pair in battles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reasons = [r for _, r in counted_reasons(storage)]
    assert len(reasons) == 12 and reasons.count(None) == 5


def test_a_cap_of_zero_counts_every_vote(storage: Store) -> None:
    service, _ = make_arena(storage, daily_votes_per_address=0)
    for session in range(4):
        vote_once(service, caller(session))
    assert [r for _, r in counted_reasons(storage)] == [None] * 4


def test_the_screen_job_drops_the_daily_counters_of_past_days_and_keeps_yesterdays(storage: Store) -> None:
    service, _ = make_arena(storage, daily_votes_per_address=5)
    vote_once(service, caller(1))
    with storage.engine.begin() as connection:
        connection.execute(
            insert(AddressDay),
            [
                {"client_id": "old", "day": "2020-01-01", "votes": 9},
                {"client_id": "old", "day": yesterday(), "votes": 3},
            ],
        )
    assert screen_votes(storage, days=7)["daily_counters_dropped"] == 1
    with storage.engine.connect() as connection:
        days = sorted(connection.execute(select(AddressDay.day)).scalars())
    assert days == sorted([yesterday(), datetime.now(UTC).strftime("%Y-%m-%d")])


def yesterday() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")


# =====================================================================================================
# Flagged sources
# =====================================================================================================


def test_flagging_an_address_excludes_its_past_and_future_votes_with_the_reason_and_nothing_else(
    storage: Store,
) -> None:
    service, _ = make_arena(storage)
    vote_once(service, caller(1))
    vote_once(service, caller(2, address="203.0.113.9"))
    report = storage.vote_origins.flag([SourceFlag("client-198.51.100.7", "address", "20 sessions, 9 wins")])
    assert (report.new_sources, report.votes_excluded) == (1, 1)
    vote_once(service, caller(3))
    reasons = [reasons_of(r) for _, r in counted_reasons(storage)]
    assert reasons == [(STUFFING,), (), (STUFFING,)]
    again = storage.vote_origins.flag([SourceFlag("client-198.51.100.7", "address", "later evidence")])
    assert (again.new_sources, again.votes_excluded) == (0, 0), "flagging twice changes nothing"
    assert [f.evidence for f in storage.vote_origins.flagged()] == ["20 sessions, 9 wins"]


def test_a_flagged_network_excludes_every_address_in_it(storage: Store) -> None:
    service, _ = make_arena(storage)
    vote_once(service, caller(1, address="198.51.100.20"))
    network = network_hash("salt", "198.51.100.20")
    assert network == network_hash("salt", "198.51.100.200"), "same /24"
    storage.vote_origins.flag([SourceFlag(network, "network", "10 addresses, one-sided")])
    vote_once(service, caller(2, address="198.51.100.200"))
    vote_once(service, caller(3, address="198.51.101.1"))  # the next /24 is another network
    reasons = [reasons_of(r) for _, r in counted_reasons(storage)]
    assert reasons == [(STUFFING,), (STUFFING,), ()]


def test_a_battle_flagged_after_the_vote_keeps_the_voters_own_reason(storage: Store) -> None:
    service, _ = make_arena(storage, daily_votes_per_address=1)
    vote_once(service, caller(1))
    first = last(service.send(caller(2), None, "Hello"))
    service.vote(caller(2), first.battle_id, "tie")  # over the cap
    # The battle is found to have failed after the vote: its verdict is rewritten, the voter's reason stays.
    storage.battles.flag(first.battle_id, error=True)
    with storage.engine.connect() as connection:
        stored = connection.execute(select(Vote.excluded_reason).where(Vote.battle_id == first.battle_id)).scalar()
    assert reasons_of(stored) == (FAILED, OVER_DAILY_CAP)


def test_the_origins_reader_gives_the_screen_counted_human_votes_with_addresses(storage: Store) -> None:
    service, _ = make_arena(storage, daily_votes_per_address=1)
    vote_once(service, caller(1))
    vote_once(service, caller(2))  # over the cap: not counted, not read
    frame = storage.vote_origins.read()
    assert list(frame.columns) == ["model_a", "model_b", "winner", "voter", "client", "network", "tstamp"]
    assert len(frame) == 1 and frame.loc[0, "client"] == "client-198.51.100.7"


def test_an_unknown_kind_of_source_is_refused(storage: Store) -> None:
    with pytest.raises(ValueError, match="kind"):
        storage.vote_origins.flag([SourceFlag("k", "planet", "")])


# =====================================================================================================
# Networks
# =====================================================================================================


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("198.51.100.7", "198.51.100.250", True),
        ("198.51.100.7", "198.51.101.7", False),
        ("2001:db8:1:2::1", "2001:db8:1:ffff::9", True),  # one /48
        ("2001:db8:1::1", "2001:db8:2::1", False),
        ("::ffff:198.51.100.7", "198.51.100.9", True),  # IPv4-mapped IPv6 is the IPv4 address
        ("not an address", "not an address", True),
        ("not an address", "198.51.100.7", False),
    ],
)
def test_a_network_is_an_ipv4_slash_24_or_an_ipv6_slash_48(one: str, other: str, same: bool) -> None:
    assert (network_hash("s", one) == network_hash("s", other)) is same
    assert network_hash("s", one) != network_hash("t", one), "salted"
