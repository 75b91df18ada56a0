"""Battles, their turns and the votes on them: the arena's write path, one transaction per call.

Facts about a vote are computed here, once, when the vote is written, and stored on the vote row (see `facts`),
so that the leaderboard reads one table and no answer text:
- facts.eligibility's verdict on its battle, rewritten in the same transaction whenever the battle's flags
  change, so every reader sees the same set of votes and why the others are out;
- the battle's pair and mode, the category of its first user message (facts.categories), and each side's style
  summed over the current turns up to the voted one, as the voter saw them (facts.style).

Text is stored as given: the services clean user and model text before it reaches the store.
"""

from __future__ import annotations

import math
import numbers
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facts.categories import Classifier, classify_prompt
from facts.eligibility import BattleFacts, VoterFacts, exclusion_reasons, joined, verdict, voter_reasons
from facts.style import StyleFeatures, style_features, unique_token_share
from facts.vocabulary import (
    ANONYMOUS,
    BATTLE_MODES,
    CRITERIA,
    DIRECT,
    HARM_CATEGORIES,
    HARMLESSNESS,
    HELPFULNESS,
    HUMAN,
    STRENGTHS,
    TIES,
    WINNERS,
    is_source,
)
from store.db import Database
from store.errors import Conflict, DuplicateVote, NotFound, is_unique_violation
from store.tables import AddressDay, Battle, FlaggedSource, Turn, Vote, utcnow
from store.views import BattleView, NewTurn, TurnView, VoteView, column_values, view_of


class Battles:
    def __init__(self, db: Database, classifier: Classifier = classify_prompt) -> None:
        self._db = db
        self._classify = classifier

    def create(
        self,
        *,
        mode: str,
        model_a: str,
        model_b: str | None,
        swapped: bool,
        params_a: Mapping[str, Any],
        params_b: Mapping[str, Any],
        session_id: str,
        voter_id: str,
        battle_id: str | None = None,
        criterion: str = HELPFULNESS,
        pair_probability: float | None = None,
        pool_size: int | None = None,
    ) -> BattleView:
        """Store a new battle (state "active", no turn yet). A two-sided mode needs `model_b`. `criterion`: what
        its votes judge (harmlessness: a red-team battle, anonymous and two-sided).

        `pair_probability` and `pool_size`: how an anonymous battle's pair was drawn (the probability of the
        unordered pair under the sampling policy, in (0, 1], and the number of contenders, 2 or more); both or
        neither, anonymous battles only. Every vote on the battle carries them (the ratings weigh it by them).

        `battle_id` defaults to a new uuid4 string; pass one only to import or replay battles.
        """
        if mode not in BATTLE_MODES:
            raise ValueError(f"unknown battle mode {mode!r}; expected one of {BATTLE_MODES}")
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; expected one of {CRITERIA}")
        if criterion == HARMLESSNESS and mode == DIRECT:
            raise ValueError("a red-team battle needs two models: direct chat has no votes")
        if mode != DIRECT and not model_b:
            raise ValueError(f"a {mode!r} battle needs two models; model_b is missing")
        check_propensity(mode, pair_probability, pool_size)
        now = utcnow()
        battle = Battle(
            id=battle_id or str(uuid.uuid4()),
            mode=mode,
            criterion=criterion,
            model_a=model_a,
            model_b=model_b,
            swapped=swapped,
            params_a=dict(params_a),
            params_b=dict(params_b),
            session_id=session_id,
            voter_id=voter_id,
            state="active",
            flag_error=False,
            flag_identity_leak=False,
            flag_length_limit=False,
            flag_notes="",
            tokens_a=0,
            tokens_b=0,
            created_at=now,
            updated_at=now,
            pair_probability=None if pair_probability is None else float(pair_probability),
            pool_size=None if pool_size is None else int(pool_size),
        )
        with self._db.writing() as session:
            session.add(battle)
            session.flush()
            return view_of(BattleView, battle, turns=(), votes=())

    def get(self, battle_id: str) -> BattleView:
        with self._db.reading() as session:
            return _load_view(session, _battle(session, battle_id))

    def add_turn(
        self,
        battle_id: str,
        turn: NewTurn,
        *,
        regenerate: bool = False,
        identity_leak: bool = False,
        length_limit: bool = False,
        note: str = "",
    ) -> BattleView:
        """Append a turn, or with `regenerate` replace the last one by a new attempt at the same index.

        The replaced attempt stays in the table (superseded) but leaves the view. Regenerating is a Conflict
        when there is no turn yet or the last turn already has a human vote. The battle's token counts become
        this turn's prompt + completion tokens per side (the conversation length each side saw), flags are
        OR-ed in (rewriting the verdict of the battle's votes), and an error on either side puts the battle in
        state "error".
        """
        try:
            with self._db.writing() as session:
                battle = _battle(session, battle_id, for_update=True)
                index, attempt = _next_turn_slot(session, battle_id, regenerate)
                now = utcnow()
                session.add(
                    Turn(
                        battle_id=battle_id,
                        index=index,
                        attempt=attempt,
                        superseded=False,
                        created_at=now,
                        **column_values(turn, NewTurn),
                    )
                )
                battle.tokens_a = turn.prompt_tokens_a + turn.completion_tokens_a
                battle.tokens_b = turn.prompt_tokens_b + turn.completion_tokens_b
                _apply_flags(
                    session,
                    battle,
                    error=bool(turn.error_a or turn.error_b),
                    identity_leak=identity_leak,
                    length_limit=length_limit,
                    note=note,
                    now=now,
                )
                session.flush()
                return _load_view(session, battle)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict(f"battle {battle_id} got another turn at the same time; reload it") from exc
            raise

    def flag(
        self,
        battle_id: str,
        *,
        error: bool = False,
        identity_leak: bool = False,
        length_limit: bool = False,
        note: str = "",
    ) -> BattleView:
        """OR flags into the battle (never clears one); `error` also puts it in state "error". The verdict of
        every vote already on the battle is rewritten in the same transaction."""
        with self._db.writing() as session:
            battle = _battle(session, battle_id, for_update=True)
            _apply_flags(
                session,
                battle,
                error=error,
                identity_leak=identity_leak,
                length_limit=length_limit,
                note=note,
                now=utcnow(),
            )
            session.flush()
            return _load_view(session, battle)

    def mark_revealed(self, battle_id: str) -> BattleView:
        """Record when the names were shown; the first reveal time is kept."""
        with self._db.writing() as session:
            battle = _battle(session, battle_id, for_update=True)
            if battle.revealed_at is None:
                battle.revealed_at = battle.updated_at = utcnow()
            session.flush()
            return _load_view(session, battle)

    def record_vote(
        self,
        *,
        battle_id: str,
        turn: int,
        winner: str,
        voter_id: str,
        source: str = HUMAN,
        strength: str | None = None,
        client_id: str | None = None,
        network_id: str | None = None,
        daily_cap: int = 0,
        harm_category: str | None = None,
    ) -> VoteView:
        """Store a verdict on a current turn, with its eligibility verdict. One per (battle, turn, source): a
        second is DuplicateVote.

        A human vote from `client_id` (a salted hash of the address) counts against that address's `daily_cap`
        counted votes per UTC day (0: no cap); past it, it is stored with the reason. A vote from an address or
        network the stuffing screen flagged is stored with that reason.

        A human vote also moves the battle to state "voted" (unless it is in "error"), in the same transaction:
        when the vote insert fails, the state change is rolled back with it.
        """
        check_verdict(winner, strength)
        check_source(source)
        if harm_category is not None and harm_category not in HARM_CATEGORIES:
            raise ValueError(f"unknown harm category {harm_category!r}; expected one of {', '.join(HARM_CATEGORIES)}")
        now = utcnow()
        values: dict[str, Any] = {
            "battle_id": battle_id,
            "turn": turn,
            "winner": winner,
            "strength": strength,
            "voter_id": voter_id,
            "source": source,
            "created_at": now,
            "strength_at": now if strength is not None else None,
            "client_id": client_id,
            "network_id": network_id,
            "harm_category": harm_category,
        }
        try:
            with self._db.writing_core() as connection:
                values = insert_vote(connection, values, self._classify, daily_cap=daily_cap)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise DuplicateVote(f"turn {turn} of battle {battle_id} already has a {source} vote") from exc
            raise
        return view_of(VoteView, values)

    def set_vote_strength(self, vote_id: int, strength: str) -> VoteView:
        """Add "how much better" to a decisive vote, once. Conflict for a tie or a strength already set."""
        if strength not in STRENGTHS:
            raise ValueError(f"unknown strength {strength!r}; expected one of {STRENGTHS}")
        with self._db.writing() as session:
            # One conditional UPDATE, so two concurrent calls cannot both succeed.
            changed = session.scalar(
                update(Vote)
                .where(Vote.id == vote_id, Vote.strength.is_(None), Vote.winner.not_in(TIES))
                .values(strength=strength, strength_at=utcnow())
                .returning(Vote.id)
            )
            vote = session.get(Vote, vote_id, populate_existing=True)
            if vote is None:
                raise NotFound(f"no vote {vote_id}")
            if changed is None:
                reason = "a tie has no strength" if vote.winner in TIES else "its strength is already set"
                raise Conflict(f"cannot set the strength of vote {vote_id}: {reason}")
            return view_of(VoteView, vote)


# --- the vote path (statements built once: building them per call costs more than SQLite) --------------------

# Locked: a flag written concurrently either comes first (and this vote reads it) or waits for this vote (and
# rewrites its verdict).
_BATTLE_FACTS = (
    select(
        Battle.mode,
        Battle.flag_identity_leak,
        Battle.flag_error,
        Battle.flag_notes,
        Battle.model_a,
        Battle.model_b,
        Battle.criterion,
        Battle.pair_probability,
        Battle.pool_size,
    )
    .where(Battle.id == bindparam("battle_id"))
    .with_for_update()
)
# The battle's current turns up to the voted one, in order: the conversation the voter saw.
_SEEN = (
    select(Turn.index, Turn.user_message, Turn.answer_a, Turn.answer_b)
    .where(Turn.battle_id == bindparam("battle_id"), Turn.index <= bindparam("turn"), Turn.superseded.is_(False))
    .order_by(Turn.index)
)
# Conditional, so that an error flagged concurrently is not overwritten.
_MARK_VOTED = (
    update(Battle)
    .where(Battle.id == bindparam("battle_id"), Battle.state != "error")
    .values(state="voted", updated_at=bindparam("now"))
)
_INSERT_VOTE = insert(Vote).returning(Vote.id)


def insert_vote(
    connection: Connection, values: dict[str, Any], classifier: Classifier = classify_prompt, *, daily_cap: int = 0
) -> dict[str, Any]:
    """Insert one vote after checking its battle and turn, with its facts: the eligibility verdict (the battle's
    and the voter's), pair and mode, the first message's category and each side's style up to the voted turn. A
    human vote also marks the battle voted. Returns the stored values, id included."""
    battle_id, turn = values["battle_id"], values["turn"]
    battle = connection.execute(_BATTLE_FACTS, {"battle_id": battle_id}).first()
    if battle is None:
        raise NotFound(f"no battle {battle_id}")
    seen = connection.execute(_SEEN, {"battle_id": battle_id, "turn": turn}).all()
    if not seen or seen[-1][0] != turn:
        raise ValueError(f"battle {battle_id} has no turn {turn}")
    if values["source"] == HUMAN:
        connection.execute(_MARK_VOTED, {"battle_id": battle_id, "now": values["created_at"]})
    criterion = battle.criterion
    if values.get("harm_category") is not None and criterion != HARMLESSNESS:
        raise ValueError("a harm category goes with a vote in a red-team battle only")
    facts = BattleFacts(*battle[:4])
    voter = _voter_facts(connection, values, counts=not exclusion_reasons(facts), daily_cap=daily_cap)
    stored = {
        **values,
        "excluded_reason": verdict(facts, voter),
        "voter_reason": joined(voter_reasons(voter)),
        "model_a": battle.model_a,
        "model_b": battle.model_b,
        "mode": battle.mode,
        "criterion": criterion,
        "harm_category": values.get("harm_category"),
        "pair_probability": battle.pair_probability,
        "pool_size": battle.pool_size,
        **vote_facts(seen, classifier),
    }
    # The unique constraint, not an earlier SELECT, decides between racing voters.
    return {**stored, "id": int(connection.execute(_INSERT_VOTE, stored).scalar_one())}


def _voter_facts(connection: Connection, values: dict[str, Any], *, counts: bool, daily_cap: int) -> VoterFacts:
    """The voter's side of the verdict: a flagged address or network, or the day's cap already reached. Only a
    vote that would count uses up the address's share."""
    client, network = values.get("client_id"), values.get("network_id")
    if values["source"] != HUMAN or not client:
        return VoterFacts()
    keys = [key for key in (client, network) if key]
    stuffing = connection.execute(select(exists().where(FlaggedSource.key.in_(keys)))).scalar_one()
    if stuffing or not counts or daily_cap <= 0:
        return VoterFacts(stuffing=bool(stuffing))
    day = values["created_at"].strftime("%Y-%m-%d")
    # One atomic statement: two replicas counting the same address both see the other's increment.
    dialect = sqlite_insert if connection.dialect.name == "sqlite" else postgresql_insert
    upsert = dialect(AddressDay).values(client_id=client, day=day, votes=1)
    upsert = upsert.on_conflict_do_update(
        index_elements=[AddressDay.client_id, AddressDay.day], set_={"votes": AddressDay.votes + 1}
    ).returning(AddressDay.votes)
    return VoterFacts(over_daily_cap=connection.execute(upsert).scalar_one() > daily_cap)


def vote_facts(seen: Sequence[Any], classifier: Classifier = classify_prompt) -> dict[str, Any]:
    """The text-derived facts of a vote from the turns the voter saw (index, user message, answer a, answer b),
    in order: the category of the first message, each side's style summed over the answers, and each side's
    unique-token share in the voted (last) turn's answer."""
    side_a = sum((style_features(row[2] or "") for row in seen), StyleFeatures())
    side_b = sum((style_features(row[3] or "") for row in seen), StyleFeatures())
    category = classifier(seen[0][1]) if seen and seen[0][0] == 1 else None
    voted = seen[-1] if seen else (None, None, None, None)
    return {
        "category": category,
        **side_a.columns("a"),
        **side_b.columns("b"),
        "unique_a": unique_token_share(voted[2]),
        "unique_b": unique_token_share(voted[3]),
    }


def check_propensity(mode: str, pair_probability: float | None, pool_size: int | None) -> None:
    """A drawn pair's probability and pool size: both or neither, only for an anonymous battle, a probability in
    (0, 1] and a pool of two or more whose uniform probability the pair's could be mixed from."""
    if pair_probability is None and pool_size is None:
        return
    if pair_probability is None or pool_size is None:
        raise ValueError("a drawn pair stores its probability and its pool size together")
    if mode != ANONYMOUS:
        raise ValueError(f"only anonymous battles draw their pair; a {mode!r} battle stores no pair probability")
    if isinstance(pool_size, bool) or not isinstance(pool_size, numbers.Integral) or pool_size < 2:
        raise ValueError(f"a pool of contenders holds two or more, not {pool_size!r}")
    probability = float(pair_probability)
    if not (math.isfinite(probability) and 0.0 < probability <= 1.0):
        raise ValueError(f"a pair probability is in (0, 1], not {pair_probability!r}")


def check_verdict(winner: str, strength: str | None) -> None:
    if winner not in WINNERS:
        raise ValueError(f"unknown winner {winner!r}; expected one of {WINNERS}")
    if strength is None:
        return
    if strength not in STRENGTHS:
        raise ValueError(f"unknown strength {strength!r}; expected one of {STRENGTHS}")
    if winner in TIES:
        raise ValueError(f"a {winner!r} vote cannot have a strength (got {strength!r})")


def check_source(source: str) -> None:
    if not is_source(source):
        raise ValueError(f"vote source must be {HUMAN!r} or 'judge:<name>', at most 64 characters; got {source!r}")


# --- helpers --------------------------------------------------------------------------------------------------


def _battle(session: Session, battle_id: str, *, for_update: bool = False) -> Battle:
    query = select(Battle).where(Battle.id == battle_id)
    if for_update:
        # Serialises writers of one battle on PostgreSQL; SQLite's BEGIN IMMEDIATE already does.
        query = query.with_for_update()
    battle = session.scalar(query)
    if battle is None:
        raise NotFound(f"no battle {battle_id}")
    return battle


def _next_turn_slot(session: Session, battle_id: str, regenerate: bool) -> tuple[int, int]:
    """(index, attempt) of the turn to insert; with `regenerate`, supersedes the current last attempt."""
    last_index = session.scalar(select(func.max(Turn.index)).where(Turn.battle_id == battle_id)) or 0
    if not regenerate:
        return last_index + 1, 0
    if last_index == 0:
        raise Conflict(f"battle {battle_id} has no turn to regenerate")
    voted = session.scalar(
        select(exists().where(Vote.battle_id == battle_id, Vote.turn == last_index, Vote.source == HUMAN))
    )
    if voted:
        raise Conflict(f"turn {last_index} of battle {battle_id} has a vote; it can no longer be regenerated")
    last_attempt = session.scalar(
        select(func.max(Turn.attempt)).where(Turn.battle_id == battle_id, Turn.index == last_index)
    )
    session.execute(
        update(Turn)
        .where(Turn.battle_id == battle_id, Turn.index == last_index, Turn.superseded.is_(False))
        .values(superseded=True)
    )
    return last_index, (last_attempt or 0) + 1


def _apply_flags(
    session: Session,
    battle: Battle,
    *,
    error: bool,
    identity_leak: bool,
    length_limit: bool,
    note: str,
    now: datetime,
) -> None:
    battle.flag_error = battle.flag_error or error
    battle.flag_identity_leak = battle.flag_identity_leak or identity_leak
    battle.flag_length_limit = battle.flag_length_limit or length_limit
    if error:
        battle.state = "error"
    if note:
        battle.flag_notes = f"{battle.flag_notes}\n{note}" if battle.flag_notes else note
    battle.updated_at = now
    # The rule is about the battle: every vote on it shares its verdict, rewritten in this same transaction.
    # Also when the flags did not change: a vote written by an older version (say, during a rolling upgrade)
    # is brought in line.
    facts = _facts(battle)
    for vote_id, voter_reason, stored in session.execute(
        select(Vote.id, Vote.voter_reason, Vote.excluded_reason).where(Vote.battle_id == battle.id)
    ):
        if stored != (wanted := verdict(facts, voter_reason)):
            session.execute(update(Vote).where(Vote.id == vote_id).values(excluded_reason=wanted))


def _facts(battle: Battle) -> BattleFacts:
    return BattleFacts(battle.mode, battle.flag_identity_leak, battle.flag_error, battle.flag_notes or "")


def _load_view(session: Session, battle: Battle) -> BattleView:
    turns = session.scalars(
        select(Turn).where(Turn.battle_id == battle.id, Turn.superseded.is_(False)).order_by(Turn.index)
    )
    votes = session.scalars(select(Vote).where(Vote.battle_id == battle.id).order_by(Vote.turn, Vote.id))
    return view_of(
        BattleView,
        battle,
        turns=tuple(view_of(TurnView, t) for t in turns),
        votes=tuple(view_of(VoteView, v) for v in votes),
    )
