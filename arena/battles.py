"""The battle lifecycle: start, send a turn (both sides stream), regenerate, vote in two steps, reveal.

Plain Python over the store and backends; no Gradio here. Every public method takes the `Caller` (hashed
session and voter ids) so that a battle can only be driven by the session that started it.

Abuse guards, all here rather than in the UI so that every client (browser, gradio_client, scripts) meets them,
and all before anything is generated or stored: per-voter rate limits on messages and votes, optional
moderation of messages (failing closed), and identity probes ("who are you?") flagged like identity leaks.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from arena.moderation import Moderator
from arena.ratelimit import SlidingWindowLimiter
from arena.safety import IdentityMatcher, InputError, clean_message, clean_text, find_identity_probes, storable
from arena.sampling import PairSampler, SampledPair, as_sampled, assign_sides, uniform_pair
from facts.eligibility import LEAK_NOTE, PROBE_NOTE, reasons_of
from facts.vocabulary import DECISIVE, HARM_CATEGORIES, HARMLESSNESS, HELPFULNESS, STRENGTHS, WINNERS
from models.generation import stream_pair
from models.registry import ModelSpec
from models.types import ChatBackend, ChatMessage, GenerationRequest, StreamChunk
from store import DATABASE_ERRORS, BattleView, DuplicateVote, NewTurn, NotFound, Store, VoteView

Mode = Literal["anonymous", "side_by_side", "direct"]

ANONYMOUS_ERROR = "This model failed to answer (the details are withheld: they could reveal which model it is)."
# Room left for an answer below which a new turn is refused rather than cut to a few tokens.
MIN_ANSWER_TOKENS = 16
RATE_WINDOW_SECONDS = 60.0

log = logging.getLogger(__name__)


class ArenaError(Exception):
    """A request the arena refuses; the message is meant for the person in the browser."""


class NotYourBattle(ArenaError):
    pass


class NothingToVote(ArenaError):
    pass


class AlreadyVoted(ArenaError):
    pass


class BattleOver(ArenaError):
    pass


class ConversationTooLong(ArenaError):
    pass


class Busy(ArenaError):
    pass


class RateLimited(ArenaError):
    pass


class MessageRefused(ArenaError):
    """The moderator flagged the message, or could not check it."""


class DatabaseUnavailable(ArenaError):
    """The database did not answer (restarting, unreachable); the transaction was rolled back."""


DATABASE_DOWN = "The arena's database is not answering right now, so this was not saved. Please try again in a moment."


def _database_guard(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a lost database connection into a sentence for the person; the driver's text (host, port, SQL)
    stays in the log. Generators (streamed turns) are guarded while they are consumed, too."""

    def guarded_iterator(iterator: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from iterator
        except DATABASE_ERRORS as exc:
            log.warning("database unavailable while streaming a turn: %s", exc)
            raise DatabaseUnavailable(DATABASE_DOWN) from exc

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = method(*args, **kwargs)
        except DATABASE_ERRORS as exc:
            log.warning("database unavailable in %s: %s", method.__name__, exc)
            raise DatabaseUnavailable(DATABASE_DOWN) from exc
        return guarded_iterator(result) if isinstance(result, Iterator) else result

    return wrapper


@dataclass(frozen=True)
class Caller:
    """Who is asking, as salted hashes: the browser session, the voter (address + session), and the client
    address alone (rate limits per address hold however many sessions one client opens)."""

    session_id: str
    voter_id: str
    client_id: str = ""
    network_id: str = ""  # the address's network (IPv4 /24, IPv6 /48): one attacker rotating nearby addresses


@dataclass(frozen=True)
class ArenaConfig:
    max_conversation_tokens: int = 2048
    max_new_tokens: int = 256
    max_message_chars: int = 8000
    identity_words: tuple[str, ...] = ()
    rate_limit_messages: int = 20  # per voter per minute, regenerations included; 0 = no limit
    rate_limit_votes: int = 30  # per voter per minute; 0 = no limit
    # Per client address per minute, over all its sessions (several people may share one address).
    rate_limit_messages_per_client: int = 60
    rate_limit_votes_per_client: int = 90
    # Anonymous battles sample at this temperature at least (a greedy contender included), so that no answer can
    # be replayed in direct chat or by repeating a prompt to tell the sides apart; 0 keeps greedy decoding.
    anonymous_min_temperature: float = 0.7
    # Counted human votes per client address and UTC day; later votes are stored, excluded with the reason.
    daily_votes_per_address: int = 200
    # Whether the moderation hook also checks red-team messages (off: asking for harm is the point there).
    moderate_red_team: bool = False


@dataclass(frozen=True)
class TurnUpdate:
    """Progress of one turn, streamed to the UI; the last one has done=True."""

    battle_id: str
    turn: int
    answer_a: str
    answer_b: str | None
    done: bool = False
    notices: tuple[str, ...] = ()
    error_a: str | None = None
    error_b: str | None = None
    user_message: str = ""  # as cleaned and stored: what the UI shows, never the raw input


@dataclass(frozen=True)
class Contender:
    name: str
    description: str


@dataclass(frozen=True)
class VoteOutcome:
    vote: VoteView
    needs_strength: bool
    revealed: tuple[Contender, Contender | None] | None = None
    notices: tuple[str, ...] = ()


BackendLookup = Callable[[ModelSpec], ChatBackend]


@dataclass(frozen=True)
class TurnPlan:
    index: int
    specs: list[ModelSpec]
    backends: list[ChatBackend]
    requests: list[GenerationRequest]
    regenerate: bool
    # Per side: the answer's cap is the room left in the conversation (not the model's or the arena's cap), so
    # an answer cut there was cut by the conversation limit.
    room_bound: tuple[bool, ...] = ()


@dataclass
class ArenaService:
    store: Store
    backend_for: BackendLookup
    config: ArenaConfig = field(default_factory=ArenaConfig)
    sampler: PairSampler = uniform_pair
    rng: random.Random = field(default_factory=random.SystemRandom)
    moderator: Moderator | None = None
    clock: Callable[[], float] = time.monotonic  # of the rate limits
    _busy: set[str] = field(default_factory=set, init=False, repr=False)
    _busy_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _message_limit: tuple[SlidingWindowLimiter, SlidingWindowLimiter] = field(init=False, repr=False)
    _vote_limit: tuple[SlidingWindowLimiter, SlidingWindowLimiter] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Per process: see arena/ratelimit.py for why that is enough with several replicas. Each pair is
        # (per voter, per client address).
        config, minute = self.config, RATE_WINDOW_SECONDS
        self._message_limit = (
            SlidingWindowLimiter(config.rate_limit_messages, minute, clock=self.clock),
            SlidingWindowLimiter(config.rate_limit_messages_per_client, minute, clock=self.clock),
        )
        self._vote_limit = (
            SlidingWindowLimiter(config.rate_limit_votes, minute, clock=self.clock),
            SlidingWindowLimiter(config.rate_limit_votes_per_client, minute, clock=self.clock),
        )

    # ---- contenders -------------------------------------------------------------------------------
    @_database_guard
    def contenders(self, *, anonymous_only: bool = False) -> list[ModelSpec]:
        """The enabled models, deprecated ones included: direct chat and side-by-side still offer them by name."""
        return self.store.registry.models(enabled_only=True, anonymous_only=anonymous_only)

    @_database_guard
    def battle_pool(self) -> list[str]:
        """The contenders anonymous battles draw from: enabled, anonymous, not deprecated."""
        return [spec.name for spec in self.store.registry.models(anonymous_only=True, deprecated=False)]

    def _identity_matcher(self) -> IdentityMatcher:
        names = [spec.name for spec in self.store.registry.models(enabled_only=False)]
        return IdentityMatcher.from_words([*self.config.identity_words, *names])

    # ---- battles ----------------------------------------------------------------------------------
    @_database_guard
    def start(
        self, caller: Caller, mode: Mode = "anonymous", models: Sequence[str] = (), *, criterion: str = HELPFULNESS
    ) -> BattleView:
        """Create a battle. Anonymous: sampled pair, random sides. Side-by-side: two named. Direct: one.
        criterion harmlessness: a red-team battle (anonymous only), whose votes say which answer is more harmless."""
        self._check_criterion(mode, criterion)
        specs, swapped, drawn = self._choose(mode, models)
        return self._create(caller, mode, specs, swapped, criterion, drawn)

    @staticmethod
    def _check_criterion(mode: str, criterion: str) -> None:
        if criterion not in (HELPFULNESS, HARMLESSNESS):
            raise ArenaError(f"Unknown criterion {criterion!r}.")
        if criterion == HARMLESSNESS and mode != "anonymous":
            raise ArenaError("Red-team battles are anonymous: the models are named after the vote.")

    def _choose(self, mode: Mode, models: Sequence[str]) -> tuple[list[ModelSpec], bool, SampledPair | None]:
        """The contenders (left first), whether sides were swapped, and for an anonymous battle the drawn pair
        (with its probability, stored with the battle)."""
        drawn = None
        if mode == "anonymous":
            names = self.battle_pool()
            drawn = as_sampled(self.sampler(names, self.rng), names)
            left, right, swapped = assign_sides(drawn, self.rng)
            chosen = [left, right]
        elif mode == "side_by_side":
            if len(models) != 2 or not all(models):
                raise ArenaError("Pick a model for each side.")
            if models[0] == models[1]:
                raise ArenaError("Pick two different models to compare.")
            chosen, swapped = list(models), False
        elif mode == "direct":
            if len(models) != 1 or not models[0]:
                raise ArenaError("Pick a model to chat with.")
            chosen, swapped = [models[0]], False
        else:
            raise ArenaError(f"Unknown battle mode {mode!r}.")
        return [self._spec(name) for name in chosen], swapped, drawn

    def _create(
        self,
        caller: Caller,
        mode: Mode,
        specs: list[ModelSpec],
        swapped: bool,
        criterion: str = HELPFULNESS,
        drawn: SampledPair | None = None,
    ) -> BattleView:
        probability = pool_size = None
        if drawn is not None and drawn.probability is not None and drawn.pool_size is not None:
            probability, pool_size = drawn.probability, drawn.pool_size  # both or neither, as the store wants
        return self.store.battles.create(
            mode=mode,
            criterion=criterion,
            model_a=specs[0].name,
            model_b=specs[1].name if len(specs) > 1 else None,
            swapped=swapped,
            params_a=specs[0].generation.model_dump(),
            params_b=specs[1].generation.model_dump() if len(specs) > 1 else {},
            session_id=caller.session_id,
            voter_id=caller.voter_id,
            pair_probability=probability,
            pool_size=pool_size,
        )

    @_database_guard
    def battle(self, caller: Caller, battle_id: str | None) -> BattleView:
        """The caller's battle; refuses unknown ids and other sessions' battles alike."""
        if not battle_id:
            raise NothingToVote("There is no conversation yet: send a message first.")
        try:
            battle = self.store.battles.get(str(battle_id))
        except NotFound:
            raise NotYourBattle("This battle does not exist or belongs to another session.") from None
        if battle.session_id != caller.session_id:
            raise NotYourBattle("This battle does not exist or belongs to another session.")
        return battle

    @_database_guard
    def send(
        self,
        caller: Caller,
        battle_id: str | None,
        message: object,
        *,
        mode: Mode = "anonymous",
        models: Sequence[str] = (),
        overrides: dict[str, Any] | None = None,
        criterion: str = HELPFULNESS,
    ) -> Iterator[TurnUpdate]:
        """Validate the message, then stream both answers to it; the turn is stored when it ends. A new battle
        gets `mode` and `criterion` (harmlessness: red team); a running one keeps its own.

        Validation happens before the first update so that bad input raises at once (nothing stored).
        """
        self._limit(self._message_limit, caller, "sending messages")
        clean = clean_message(message, max_chars=self.config.max_message_chars)
        overrides = self._checked_overrides(overrides or {})
        if battle_id:
            battle = self.battle(caller, battle_id)
            self._check_open(battle)
            specs = [self._spec(name) for name in _contender_names(battle)]
            plan = self._plan_turn(battle, battle.mode, specs, clean.text, overrides, regenerate=False)
            self._moderate(clean.text, battle.criterion)
        else:
            # Plan before creating the battle: a refused first message must not leave an empty battle behind.
            self._check_criterion(mode, criterion)
            specs, swapped, drawn = self._choose(mode, models)
            plan = self._plan_turn(None, mode, specs, clean.text, overrides, regenerate=False)
            self._moderate(clean.text, criterion)
            battle = self._create(caller, mode, specs, swapped, criterion, drawn)
        return self._stream_turn(battle, clean.text, clean.notices, plan)

    @_database_guard
    def regenerate(self, caller: Caller, battle_id: str | None) -> Iterator[TurnUpdate]:
        """Answer the last user message again on both sides; the old answers stay in the database."""
        self._limit(self._message_limit, caller, "sending messages")
        battle = self.battle(caller, battle_id)
        self._check_open(battle)
        if battle.last_turn == 0:
            raise NothingToVote("There is nothing to regenerate yet: send a message first.")
        specs = [self._spec(name) for name in _contender_names(battle)]
        last = battle.turns[-1]
        plan = self._plan_turn(battle, battle.mode, specs, last.user_message, {}, regenerate=True)
        return self._stream_turn(battle, last.user_message, (), plan)

    # ---- votes ------------------------------------------------------------------------------------
    @_database_guard
    def vote(
        self, caller: Caller, battle_id: str | None, winner: str, *, harm_category: str | None = None
    ) -> VoteOutcome:
        """Step one: which answer is better (in a red-team battle: more harmless; there a tie is "both refused"
        and "tie (bothbad)" "both complied", and the voter may name the harm the attempt went for). Decisive votes
        then ask how much before the reveal."""
        self._limit(self._vote_limit, caller, "voting")
        if winner not in WINNERS:
            raise ArenaError(f"Unknown vote {winner!r}.")
        if harm_category is not None and harm_category not in HARM_CATEGORIES:
            raise ArenaError(f"Unknown harm category {harm_category!r}.")
        battle = self.battle(caller, battle_id)
        if battle.mode == "direct":
            raise ArenaError("Direct chat has no votes.")
        if harm_category is not None and battle.criterion != HARMLESSNESS:
            raise ArenaError("A harm category goes with a red-team vote only.")
        if self.is_generating(battle.id):
            raise Busy("Wait for both answers to finish.")
        if battle.last_turn == 0:
            raise NothingToVote("There is nothing to vote on yet: send a message and wait for both answers.")
        if battle.vote_for(battle.last_turn) is not None:
            raise AlreadyVoted("You already voted on this turn.")
        try:
            vote = self.store.battles.record_vote(
                battle_id=battle.id,
                turn=battle.last_turn,
                winner=winner,
                voter_id=caller.voter_id,
                source="human",
                client_id=caller.client_id or None,
                network_id=caller.network_id or None,
                daily_cap=self.config.daily_votes_per_address,
                harm_category=harm_category,
            )
        except DuplicateVote:
            raise AlreadyVoted("You already voted on this turn.") from None
        # The store decided with the one rule (facts.eligibility) and says why, if the vote does not count.
        notices = tuple(
            f"Your vote is stored but will not count in the ratings: {r}." for r in reasons_of(vote.excluded_reason)
        )
        if winner in DECISIVE:
            return VoteOutcome(vote=vote, needs_strength=True, notices=notices)
        return VoteOutcome(vote=vote, needs_strength=False, revealed=self._reveal(battle), notices=notices)

    @_database_guard
    def set_strength(self, caller: Caller, battle_id: str | None, strength: str) -> VoteOutcome:
        """Step two of a decisive vote: how much better. Then both names are revealed."""
        if strength not in STRENGTHS:
            raise ArenaError(f"Unknown strength {strength!r}.")
        battle = self.battle(caller, battle_id)
        vote = battle.vote_for(battle.last_turn) if battle.last_turn else None
        if vote is None:
            raise NothingToVote("Say which answer is better first.")
        if vote.winner not in DECISIVE:
            raise ArenaError("A tie has no strength.")
        if vote.strength is not None:
            raise AlreadyVoted("You already said how much better.")
        updated = self.store.battles.set_vote_strength(vote.id, strength)
        return VoteOutcome(vote=updated, needs_strength=False, revealed=self._reveal(battle))

    # ---- internals --------------------------------------------------------------------------------
    @staticmethod
    def _limit(limiters: tuple[SlidingWindowLimiter, SlidingWindowLimiter], caller: Caller, doing: str) -> None:
        per_voter, per_client = limiters
        wait = per_voter.hit(caller.voter_id)
        if wait <= 0 and caller.client_id:
            wait = per_client.hit(caller.client_id)
        if wait > 0:
            raise RateLimited(f"You are {doing} too fast; try again in {max(1, math.ceil(wait))} s.")

    def _checked_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Direct chat's own settings, within what the server gives; a clear InputError otherwise."""
        checked: dict[str, Any] = {}
        if "system_prompt" in overrides:
            system = clean_text(
                overrides["system_prompt"],
                what="system prompt",
                max_chars=self.config.max_message_chars,
                required=False,
            )
            checked["system_prompt"] = system.text or None
        bounds = {"temperature": (0.0, 2.0), "top_p": (0.01, 1.0), "max_new_tokens": (1, self.config.max_new_tokens)}
        for name, (low, high) in bounds.items():
            value = overrides.get(name)
            if value is None:
                continue
            label = name.replace("_", " ")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InputError(f"The {label} must be a number.") from None
            if not math.isfinite(number) or not low <= number <= high:
                raise InputError(f"The {label} must be between {low:g} and {high:g} on this server.")
            checked[name] = int(number) if name == "max_new_tokens" else number
        return checked

    def _moderate(self, text: str, criterion: str) -> None:
        """Refuse flagged text; fail closed: when the moderator cannot answer, the message is refused too. A
        red-team message is moderated only when the operator says so (config.moderate_red_team): there a harmful
        request is the point of the exercise, not an abuse."""
        if self.moderator is None or (criterion == HARMLESSNESS and not self.config.moderate_red_team):
            return
        try:
            verdict = self.moderator.check(text)
        except Exception as exc:  # whatever broke, unchecked text must not reach a model or the database
            log.warning("moderation failed, message refused: %s: %s", type(exc).__name__, exc)
            raise MessageRefused(
                "Your message was not sent: the content filter is not answering right now, and messages are only "
                "sent once it has checked them. Please try again in a minute."
            ) from None
        if verdict.flagged:
            log.info("moderation flagged a message (%s)", ", ".join(verdict.categories) or "no category")
            why = f" ({', '.join(verdict.categories)})" if verdict.categories else ""
            raise MessageRefused(f"Your message was not sent: the content filter flagged it{why}. Please rephrase it.")

    def _spec(self, name: str) -> ModelSpec:
        try:
            spec = self.store.registry.get(name)
        except NotFound:
            raise ArenaError(f"Unknown model {name!r}.") from None
        if not spec.enabled:
            raise ArenaError(f"The model {name!r} is disabled.")
        return spec

    def _check_open(self, battle: BattleView) -> None:
        if battle.state == "voted" or battle.revealed_at is not None:
            raise BattleOver("You voted on this battle and the names are revealed. Start a new round.")
        if self.is_generating(battle.id):
            raise Busy("Wait for both answers to finish.")

    def is_generating(self, battle_id: str) -> bool:
        """Whether an answer of this battle is streaming now (in this process)."""
        with self._busy_lock:
            return battle_id in self._busy

    @contextmanager
    def _generating(self, battle_id: str) -> Iterator[None]:
        with self._busy_lock:
            if battle_id in self._busy:
                raise Busy("Wait for both answers to finish.")
            self._busy.add(battle_id)
        try:
            yield
        finally:
            with self._busy_lock:
                self._busy.discard(battle_id)

    def _reveal(self, battle: BattleView) -> tuple[Contender, Contender | None]:
        self.store.battles.mark_revealed(battle.id)

        def contender(name: str | None) -> Contender | None:
            if name is None:
                return None
            try:
                return Contender(name, self.store.registry.get(name).description)
            except NotFound:
                return Contender(name, "")

        left = contender(battle.model_a)
        assert left is not None
        return left, contender(battle.model_b)

    @staticmethod
    def _conversation(battle: BattleView | None, side: int, upto: int) -> list[ChatMessage]:
        messages: list[ChatMessage] = []
        for turn in battle.turns if battle else ():
            if turn.index >= upto:
                break
            answer = turn.answer_a if side == 0 else turn.answer_b
            messages += [ChatMessage("user", turn.user_message), ChatMessage("assistant", answer or "")]
        return messages

    def _plan_turn(
        self,
        battle: BattleView | None,
        mode: str,
        specs: list[ModelSpec],
        user_text: str,
        overrides: dict[str, Any],
        *,
        regenerate: bool,
    ) -> TurnPlan:
        """Everything a turn needs before it streams; raises (storing nothing) when it cannot run.

        In an anonymous battle nothing about the turn may depend on which model is on which side: both answers
        get the same cap (the arena's, or the room the fuller conversation leaves), and decoding is sampled at
        `anonymous_min_temperature` at least. A contender's own, lower cap would cut its answers at a length
        that names it, and a greedy answer can be replayed in direct chat to tell the sides apart.
        """
        last = battle.last_turn if battle else 0
        index = last if regenerate else last + 1
        backends = [self.backend_for(spec) for spec in specs]
        requests, rooms = [], []
        for side, (spec, backend) in enumerate(zip(specs, backends, strict=True)):
            history = self._conversation(battle, side, index)
            history.append(ChatMessage("user", user_text))
            request, room = self._prepare(spec, backend, history, overrides)
            requests.append(request)
            rooms.append(room)
        cap = self.config.max_new_tokens
        if mode == "anonymous":
            common = min(cap, *rooms)
            floor = self.config.anonymous_min_temperature
            requests = [_anonymous(r, common, floor) for r in requests]
            bound = tuple(common < cap for _ in requests)
        else:
            bound = tuple(room < min(r.params.max_new_tokens, cap) for r, room in zip(requests, rooms, strict=True))
            requests = [
                replace(r, params=replace(r.params, max_new_tokens=min(r.params.max_new_tokens, cap, room)))
                for r, room in zip(requests, rooms, strict=True)
            ]
        return TurnPlan(
            index=index, specs=specs, backends=backends, requests=requests, regenerate=regenerate, room_bound=bound
        )

    def _prepare(
        self, spec: ModelSpec, backend: ChatBackend, conversation: list[ChatMessage], overrides: dict[str, Any]
    ) -> tuple[GenerationRequest, int]:
        """The request for one side, and the room its conversation leaves for the answer within the token limit."""
        system = overrides.get("system_prompt")
        if system:
            conversation = [ChatMessage("system", str(system)), *conversation]
        params = {k: v for k, v in overrides.items() if k != "system_prompt" and v is not None}
        request = spec.build_request(conversation, **params)
        prompt_tokens = backend.count_tokens(request.messages)
        room = self.config.max_conversation_tokens - prompt_tokens
        if room < MIN_ANSWER_TOKENS:
            raise ConversationTooLong(
                f"This conversation has reached its limit of {self.config.max_conversation_tokens:,} tokens. "
                "Vote on the last answers, or start a new round."
            )
        return request, room

    def _stream_turn(
        self, battle: BattleView, user_text: str, notices: tuple[str, ...], plan: TurnPlan
    ) -> Iterator[TurnUpdate]:
        index, backends, requests = plan.index, plan.backends, plan.requests
        two_sided = len(plan.specs) == 2
        texts = ["", ""]
        finals: list[StreamChunk | None] = [None, None]
        latency: list[float | None] = [None, None]
        started = time.monotonic()
        finished = False
        with self._generating(battle.id):
            try:
                if two_sided:
                    stream = stream_pair(backends[0], requests[0], backends[1], requests[1])
                else:
                    stream = ((0, chunk) for chunk in backends[0].stream(requests[0]))
                for side, chunk in stream:
                    texts[side] += chunk.text
                    if chunk.finish_reason is not None:
                        finals[side] = chunk
                        latency[side] = time.monotonic() - started
                    yield TurnUpdate(
                        battle.id, index, texts[0], texts[1] if two_sided else None, user_message=user_text
                    )
                finished = True
            finally:
                # Runs on normal end and when the browser goes away mid-stream: what was said is kept.
                final_notices = self._store_turn(
                    battle, index, user_text, texts, finals, latency, requests, plan, finished
                )
        errors = [f.error if f and f.finish_reason == "error" else None for f in finals]
        if battle.mode == "anonymous":
            # A backend's message may name its served model; the full text is stored and shown after the vote.
            errors = [ANONYMOUS_ERROR if e else None for e in errors]
        yield TurnUpdate(
            battle.id,
            index,
            texts[0],
            texts[1] if two_sided else None,
            done=True,
            notices=notices + final_notices,
            error_a=errors[0],
            error_b=errors[1],
            user_message=user_text,
        )

    def _store_turn(
        self,
        battle: BattleView,
        index: int,
        user_text: str,
        texts: list[str],
        finals: list[StreamChunk | None],
        latency: list[float | None],
        requests: list[GenerationRequest],
        plan: TurnPlan,
        finished: bool,
    ) -> tuple[str, ...]:
        two_sided = len(requests) == 2
        regenerate, room_bound = plan.regenerate, plan.room_bound

        def finish(i: int) -> str:
            final = finals[i]
            return final.finish_reason if final and final.finish_reason else ("error" if finished else "cancelled")

        def error(i: int) -> str | None:
            final = finals[i]
            if final is not None and final.finish_reason == "error":
                return final.error or "the model failed to answer"
            if final is None and finished:
                return "the answer ended without a final chunk"
            return None

        sides = [0, 1] if two_sided else [0]
        turn = NewTurn(
            user_message=user_text,
            answer_a=storable(texts[0]) or "",
            answer_b=storable(texts[1]) if two_sided else None,
            prompt_tokens_a=finals[0].prompt_tokens if finals[0] else 0,
            prompt_tokens_b=finals[1].prompt_tokens if two_sided and finals[1] else 0,
            completion_tokens_a=finals[0].completion_tokens if finals[0] else 0,
            completion_tokens_b=finals[1].completion_tokens if two_sided and finals[1] else 0,
            finish_a=finish(0),
            finish_b=finish(1) if two_sided else None,
            error_a=storable(error(0)),
            error_b=storable(error(1)) if two_sided else None,
            latency_a=latency[0],
            latency_b=latency[1],
        )
        leaks = self._identity_matcher().find(user_text, *texts)
        probes = find_identity_probes(user_text)
        # Only a cut the conversation's limit caused: a model's own cap is not the conversation's limit.
        length_hit = any(
            finals[i] is not None
            and finals[i].finish_reason == "length"  # type: ignore[union-attr]
            and room_bound[i]
            for i in sides
        )
        notes: list[str] = []
        if leaks:
            notes.append(f"{LEAK_NOTE}{', '.join(leaks)}")
        if probes:
            notes.append(f"{PROBE_NOTE}{', '.join(probes)}")
        # A probe reuses the identity-leak flag, so everything that keeps leaked battles out keeps these out too.
        self.store.battles.add_turn(
            battle.id,
            turn,
            regenerate=regenerate,
            identity_leak=bool(leaks or probes),
            length_limit=length_hit,
            note="\n".join(notes),
        )
        notices: list[str] = []
        if leaks and battle.mode == "anonymous":
            notices.append(
                f"The conversation names a model or vendor ({', '.join(leaks)}), which could reveal who is who: "
                "you can still vote, but the vote will not count in the ratings."
            )
        if probes and battle.mode == "anonymous":
            asked = ", ".join(f"“{p}”" for p in probes)
            notices.append(
                f"You asked the models who they are ({asked}): their answers could reveal who is who, so you can "
                "still vote, but the vote will not count in the ratings."
            )
        if any(error(i) for i in sides):
            notices.append("A model failed to answer; this battle's vote will not count. Start a new round.")
        if length_hit:
            notices.append(
                f"The conversation reached its limit of {self.config.max_conversation_tokens:,} tokens and an answer "
                "was cut short. Vote now, or start a new round."
            )
        return tuple(notices)


__all__ = [
    "AlreadyVoted",
    "ArenaConfig",
    "ArenaError",
    "ArenaService",
    "BattleOver",
    "Busy",
    "Caller",
    "Contender",
    "ConversationTooLong",
    "InputError",
    "MessageRefused",
    "NotYourBattle",
    "NothingToVote",
    "RateLimited",
    "TurnUpdate",
    "VoteOutcome",
]


def _anonymous(request: GenerationRequest, max_new_tokens: int, min_temperature: float) -> GenerationRequest:
    params = replace(
        request.params, max_new_tokens=max_new_tokens, temperature=max(request.params.temperature, min_temperature)
    )
    return replace(request, params=params)


def _contender_names(battle: BattleView) -> list[str]:
    return [battle.model_a] + ([battle.model_b] if battle.model_b else [])
