"""Data access for the arena: the model registry, battles, turns and votes.

Every write method runs in ONE transaction (on SQLite, a BEGIN IMMEDIATE one; see arena.db.engine), and
every method returns frozen snapshots, never live ORM objects, so callers can keep them across threads.

Text is stored as given. NUL characters and lone surrogates (which PostgreSQL, or the UTF-8 encoder, would
reject) are not handled here: the service layer cleans user and model text before it reaches Storage.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from arena.db.engine import make_engine, writer
from arena.db.migrate import migrate
from arena.db.tables import (
    BATTLE_MODES,
    STRENGTHS,
    TRAINING_KINDS,
    WINNERS,
    Battle,
    Judgment,
    ModelRecord,
    TrainingRun,
    Turn,
    Vote,
    utcnow,
)
from models.registry import ModelSpec

HUMAN = "human"
JUDGE_PREFIX = "judge:"
TIES = ("tie", "tie (bothbad)")
ORIGINS = ("config", "runtime")
_SOURCE_MAX_LEN = 64
_SYNC_ATTEMPTS = 3


class StorageError(Exception):
    """Base class of the errors Storage raises on purpose."""


class NotFound(StorageError):
    """No battle, vote or model with that key."""


class DuplicateVote(StorageError):
    """This turn of this battle already has a vote from this source."""


class Conflict(StorageError):
    """The current state of the stored data does not allow this change."""


@dataclass(frozen=True)
class NewTurn:
    """One finished turn to store: the user's message and both answers (answer_b None in direct chat)."""

    user_message: str
    answer_a: str = ""
    answer_b: str | None = None
    prompt_tokens_a: int = 0
    prompt_tokens_b: int = 0
    completion_tokens_a: int = 0
    completion_tokens_b: int = 0
    finish_a: str | None = None
    finish_b: str | None = None
    error_a: str | None = None
    error_b: str | None = None
    latency_a: float | None = None
    latency_b: float | None = None


@dataclass(frozen=True)
class NewJudgment:
    """One judge call on a turn: `order` original (model_a shown first) or swapped; verdict None = unreadable."""

    order: str
    raw_text: str = ""
    verdict: str | None = None
    error: str | None = None
    latency: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class TurnView:
    index: int
    attempt: int
    user_message: str
    answer_a: str
    answer_b: str | None
    prompt_tokens_a: int
    prompt_tokens_b: int
    completion_tokens_a: int
    completion_tokens_b: int
    finish_a: str | None
    finish_b: str | None
    error_a: str | None
    error_b: str | None
    latency_a: float | None
    latency_b: float | None
    created_at: datetime


@dataclass(frozen=True)
class VoteView:
    id: int
    battle_id: str
    turn: int
    winner: str
    strength: str | None
    voter_id: str
    source: str
    excluded_reason: str | None
    created_at: datetime
    strength_at: datetime | None


@dataclass(frozen=True)
class BattleView:
    """A battle as stored. `turns` holds only the current attempt of each turn, in order."""

    id: str
    mode: str
    model_a: str
    model_b: str | None
    swapped: bool
    params_a: dict[str, Any]
    params_b: dict[str, Any]
    session_id: str
    voter_id: str
    state: str
    flag_error: bool
    flag_identity_leak: bool
    flag_length_limit: bool
    flag_notes: str
    tokens_a: int
    tokens_b: int
    created_at: datetime
    revealed_at: datetime | None
    turns: tuple[TurnView, ...] = ()
    votes: tuple[VoteView, ...] = ()

    @property
    def last_turn(self) -> int:
        """Index of the last turn, 0 before the first one."""
        return self.turns[-1].index if self.turns else 0

    def vote_for(self, turn: int, source: str = HUMAN) -> VoteView | None:
        return next((v for v in self.votes if v.turn == turn and v.source == source), None)


@dataclass(frozen=True)
class SyncReport:
    """What `sync_models` changed, by model name."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    # In the file, but the name belongs to a runtime-registered model, which sync never touches.
    skipped: tuple[str, ...] = ()
    # In the file and enabled there, but disabled in the database (by an operator, or because the entry
    # once left the file): sync cannot tell which, so it leaves them disabled.
    kept_disabled: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewTrainingRun:
    """A finished training run to store; `report` is its JSON report."""

    kind: str  # reward | rlhf | sft
    recipe: str
    out_dir: str
    gate_passed: bool
    report: Mapping[str, Any]
    started_at: datetime
    method: str | None = None


@dataclass(frozen=True)
class TrainingRunView:
    id: str
    kind: str
    recipe: str
    method: str | None
    out_dir: str
    gate_passed: bool
    registered_model: str | None
    report: Mapping[str, Any]
    started_at: datetime
    finished_at: datetime


class Storage:
    """The arena's database. Thread-safe: each call opens its own session from the engine's pool."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(self._writer, expire_on_commit=False)
        # SQLite has one write lock per file. Threads waiting in its busy handler poll with sleeps of up to
        # 100 ms, which wastes the lock's idle time and makes tail latency long; queueing this process's
        # writers on a Python lock first hands the lock over at once. Other processes still queue in SQLite.
        # Not re-entrant: a write method never calls another one.
        self._write_queue: AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> Storage:
        """Open (and create or upgrade) the database at `url`."""
        engine = make_engine(url, **engine_options)
        try:
            migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    def dispose(self) -> None:
        """Close pooled connections (at shutdown, or at the end of a test)."""
        self._engine.dispose()

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """An ORM session in one write transaction, committed at the end of the block."""
        with self._write_queue, self._write.begin() as session:
            yield session

    @contextmanager
    def _writing_core(self) -> Iterator[Connection]:
        """A connection in one write transaction, for the hot paths where ORM overhead shows."""
        with self._write_queue, self._writer.begin() as connection:
            yield connection

    # --- model registry -------------------------------------------------------------------------------

    def sync_models(self, specs: Iterable[ModelSpec]) -> SyncReport:
        """Make the config-origin rows match the registry file; runtime rows are never touched.

        Retried when a concurrent start inserted the same names first (PostgreSQL READ COMMITTED).
        """
        specs = list(specs)
        names = [s.name for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names listed twice: {', '.join(duplicates)}")
        attempt = 1
        while True:
            try:
                with self._writing() as session:
                    return _sync_models(session, specs)
            except IntegrityError as exc:
                if not _is_unique_violation(exc) or attempt >= _SYNC_ATTEMPTS:
                    raise
                attempt += 1

    def register_model(self, spec: ModelSpec, origin: str = "runtime") -> ModelSpec:
        """Add a model (a new checkpoint, say). Conflict when the name is taken."""
        if origin not in ORIGINS:
            raise ValueError(f"unknown model origin {origin!r}; expected one of {ORIGINS}")
        try:
            with self._writing() as session:
                if session.scalar(select(exists().where(ModelRecord.name == spec.name))):
                    raise Conflict(f"a model named {spec.name!r} is already registered")
                record = _new_model_record(spec, origin, utcnow())
                session.add(record)
                session.flush()
                return _model_spec(record)
        except IntegrityError as exc:
            if _is_unique_violation(exc):
                raise Conflict(f"a model named {spec.name!r} is already registered") from exc
            raise

    def list_models(self, *, enabled_only: bool = True, anonymous_only: bool = False) -> list[ModelSpec]:
        """Registered models in registration order, each with its current `enabled` flag."""
        query = select(ModelRecord).order_by(ModelRecord.id)
        if enabled_only:
            query = query.where(ModelRecord.enabled.is_(True))
        if anonymous_only:
            query = query.where(ModelRecord.anonymous.is_(True))
        with self._read.begin() as session:
            return [_model_spec(r) for r in session.scalars(query)]

    def get_model(self, name: str) -> ModelSpec:
        with self._read.begin() as session:
            return _model_spec(_model_record(session, name))

    def set_model_enabled(self, name: str, enabled: bool) -> ModelSpec:
        with self._writing() as session:
            record = _model_record(session, name)
            record.enabled = enabled
            record.updated_at = utcnow()
            session.flush()
            return _model_spec(record)

    # --- battles and turns ----------------------------------------------------------------------------

    def create_battle(
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
    ) -> BattleView:
        """Store a new battle (state "active", no turn yet). A two-sided mode needs `model_b`.

        `battle_id` defaults to a new uuid4 string; pass one only to import or replay battles.
        """
        if mode not in BATTLE_MODES:
            raise ValueError(f"unknown battle mode {mode!r}; expected one of {BATTLE_MODES}")
        if mode != "direct" and not model_b:
            raise ValueError(f"a {mode!r} battle needs two models; model_b is missing")
        now = utcnow()
        battle = Battle(
            id=battle_id or str(uuid.uuid4()),
            mode=mode,
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
        )
        with self._writing() as session:
            session.add(battle)
            session.flush()
            return _battle_view(battle, (), ())

    def get_battle(self, battle_id: str) -> BattleView:
        with self._read.begin() as session:
            return _load_battle_view(session, _battle(session, battle_id))

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
        OR-ed in, and an error on either side puts the battle in state "error".
        """
        try:
            with self._writing() as session:
                battle = _battle(session, battle_id, for_update=True)
                index, attempt = _next_turn_slot(session, battle_id, regenerate)
                now = utcnow()
                session.add(_new_turn_record(battle_id, index, attempt, turn, now))
                battle.tokens_a = turn.prompt_tokens_a + turn.completion_tokens_a
                battle.tokens_b = turn.prompt_tokens_b + turn.completion_tokens_b
                _apply_flags(
                    battle,
                    error=bool(turn.error_a or turn.error_b),
                    identity_leak=identity_leak,
                    length_limit=length_limit,
                    note=note,
                    now=now,
                )
                session.flush()
                return _load_battle_view(session, battle)
        except IntegrityError as exc:
            if _is_unique_violation(exc):
                raise Conflict(f"battle {battle_id} got another turn at the same time; reload it") from exc
            raise

    def flag_battle(
        self,
        battle_id: str,
        *,
        error: bool = False,
        identity_leak: bool = False,
        length_limit: bool = False,
        note: str = "",
    ) -> BattleView:
        """OR flags into the battle (never clears one); `error` also puts it in state "error"."""
        with self._writing() as session:
            battle = _battle(session, battle_id, for_update=True)
            _apply_flags(
                battle,
                error=error,
                identity_leak=identity_leak,
                length_limit=length_limit,
                note=note,
                now=utcnow(),
            )
            session.flush()
            return _load_battle_view(session, battle)

    def mark_revealed(self, battle_id: str) -> BattleView:
        """Record when the names were shown; the first reveal time is kept."""
        with self._writing() as session:
            battle = _battle(session, battle_id, for_update=True)
            if battle.revealed_at is None:
                battle.revealed_at = battle.updated_at = utcnow()
            session.flush()
            return _load_battle_view(session, battle)

    # --- votes ----------------------------------------------------------------------------------------

    def record_vote(
        self,
        *,
        battle_id: str,
        turn: int,
        winner: str,
        voter_id: str,
        source: str = HUMAN,
        strength: str | None = None,
        excluded_reason: str | None = None,
    ) -> VoteView:
        """Store a verdict on a current turn. One per (battle, turn, source): a second is DuplicateVote.

        A human vote also moves the battle to state "voted" (unless it is in "error"), in the same
        transaction: when the vote insert fails, the state change is rolled back with it.
        """
        _check_verdict(winner, strength)
        _check_source(source)
        now = utcnow()
        values: dict[str, Any] = {
            "battle_id": battle_id,
            "turn": turn,
            "winner": winner,
            "strength": strength,
            "voter_id": voter_id,
            "source": source,
            "excluded_reason": excluded_reason,
            "created_at": now,
            "strength_at": now if strength is not None else None,
        }
        try:
            with self._writing_core() as connection:
                vote_id = _insert_vote(connection, values)
        except IntegrityError as exc:
            if _is_unique_violation(exc):
                raise DuplicateVote(f"turn {turn} of battle {battle_id} already has a {source} vote") from exc
            raise
        return VoteView(id=vote_id, **values)

    # --- judge ------------------------------------------------------------------------------------------

    def unjudged_turns(self, *, judge: str, prompt_version: str, limit: int = 100) -> list[tuple[str, int]]:
        """(battle id, turn) of current two-sided turns without a judgment by this judge and prompt version,
        oldest first; turns whose answers failed are skipped (there is nothing fair to judge)."""
        judged = (
            select(Judgment.id)
            .where(
                Judgment.battle_id == Turn.battle_id,
                Judgment.turn == Turn.index,
                Judgment.judge == judge,
                Judgment.prompt_version == prompt_version,
            )
            .exists()
        )
        query = (
            select(Turn.battle_id, Turn.index)
            .join(Battle, Battle.id == Turn.battle_id)
            .where(
                Battle.model_b.is_not(None),
                Turn.superseded.is_(False),
                Turn.error_a.is_(None),
                Turn.error_b.is_(None),
                ~judged,
            )
            .order_by(Turn.created_at, Turn.id)
            .limit(limit)
        )
        with self._engine.connect() as connection:
            return [(str(battle_id), int(index)) for battle_id, index in connection.execute(query)]

    def record_judgments(
        self,
        *,
        battle_id: str,
        turn: int,
        judge: str,
        judge_model: str,
        prompt_version: str,
        scale: str,
        judgments: Iterable[NewJudgment],
        outcome: str,
        vote: tuple[str, str | None, str | None] | None,
    ) -> VoteView | None:
        """Store a judge's calls on one turn and, when they give one, its vote (winner, strength, excluded
        reason) as source `judge`, all in one transaction. DuplicateVote when the turn was judged already."""
        _check_source(judge)
        if vote is not None:
            _check_verdict(vote[0], vote[1])
        now = utcnow()
        rows = [
            {
                "battle_id": battle_id, "turn": turn, "judge": judge, "judge_model": judge_model,
                "prompt_version": prompt_version, "scale": scale, "outcome": outcome, "created_at": now,
                **asdict(j),
            }
            for j in judgments
        ]  # fmt: skip
        values: dict[str, Any] | None = None
        try:
            with self._writing_core() as connection:
                if rows:
                    connection.execute(insert(Judgment), rows)
                if vote is not None:
                    winner, strength, excluded_reason = vote
                    values = {
                        "battle_id": battle_id, "turn": turn, "winner": winner, "strength": strength,
                        "voter_id": judge_model, "source": judge, "excluded_reason": excluded_reason,
                        "created_at": now, "strength_at": now if strength is not None else None,
                    }  # fmt: skip
                    vote_id = _insert_vote(connection, values)
        except IntegrityError as exc:
            if _is_unique_violation(exc):
                raise DuplicateVote(f"turn {turn} of battle {battle_id} was already judged by {judge}") from exc
            raise
        return None if values is None else VoteView(id=vote_id, **values)

    def set_vote_strength(self, vote_id: int, strength: str) -> VoteView:
        """Add "how much better" to a decisive vote, once. Conflict for a tie or a strength already set."""
        if strength not in STRENGTHS:
            raise ValueError(f"unknown strength {strength!r}; expected one of {STRENGTHS}")
        with self._writing() as session:
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
            return _vote_view(vote)

    def count_decisive_votes(self, since: datetime | None = None, source: str | None = HUMAN) -> int:
        """Votes with a winner (not a tie), not flagged, after `since`: what the retrain trigger counts."""
        query = select(func.count()).select_from(Vote).where(Vote.winner.not_in(TIES), Vote.excluded_reason.is_(None))
        if since is not None:
            query = query.where(Vote.created_at > since)
        if source is not None:
            query = query.where(Vote.source == source)
        with self._read.begin() as session:
            return int(session.scalar(query) or 0)

    def count_votes(self, source: str | None = None) -> int:
        query = select(func.count()).select_from(Vote)
        if source is not None:
            query = query.where(Vote.source == source)
        with self._read.begin() as session:
            return int(session.scalar(query) or 0)

    # --- training runs --------------------------------------------------------------------------------

    def record_training_run(
        self, run: NewTrainingRun, register: ModelSpec | None = None, *, version_prefix: str | None = None
    ) -> TrainingRunView:
        """Store a run's report and, when `register` is given, its contender, in ONE transaction: a crash or a
        name clash leaves neither row, so no checkpoint is ever half-registered.

        With `version_prefix`, the contender is named `<prefix>-v<N>`, N one above the highest version of that
        prefix ever registered (disabled ones included, so a name is never reused for other weights).
        """
        if run.kind not in TRAINING_KINDS:
            raise ValueError(f"unknown training kind {run.kind!r}; expected one of {TRAINING_KINDS}")
        attempt = 1
        while True:
            try:
                with self._writing() as session:
                    name = None
                    if register is not None:
                        spec = register
                        if version_prefix is not None:
                            spec = spec.model_copy(update={"name": _next_version(session, version_prefix)})
                            spec = ModelSpec.model_validate(spec.model_dump())  # the new name must be valid too
                        if session.scalar(select(exists().where(ModelRecord.name == spec.name))):
                            raise Conflict(f"a model named {spec.name!r} is already registered")
                        session.add(_new_model_record(spec, "runtime", utcnow()))
                        name = spec.name
                    record = TrainingRun(
                        id=str(uuid.uuid4()),
                        kind=run.kind,
                        recipe=run.recipe,
                        method=run.method,
                        out_dir=run.out_dir,
                        gate_passed=run.gate_passed,
                        registered_model=name,
                        report=dict(run.report),
                        started_at=run.started_at,
                        finished_at=utcnow(),
                    )
                    session.add(record)
                    session.flush()
                    return _training_run_view(record)
            except IntegrityError as exc:
                # Two runs finishing at once can pick the same version; the loser takes the next one.
                if not _is_unique_violation(exc) or version_prefix is None or attempt >= _SYNC_ATTEMPTS:
                    raise
                attempt += 1

    def list_training_runs(self, kind: str | None = None) -> list[TrainingRunView]:
        """Stored runs, oldest first."""
        query = select(TrainingRun).order_by(TrainingRun.finished_at, TrainingRun.id)
        if kind is not None:
            query = query.where(TrainingRun.kind == kind)
        with self._read.begin() as session:
            return [_training_run_view(r) for r in session.scalars(query)]


# --- prepared statements of the vote path (built once: building them per call costs more than SQLite) ---

_BATTLE_STATE = select(Battle.state).where(Battle.id == bindparam("battle_id"))
_TURN_EXISTS = select(
    exists().where(
        Turn.battle_id == bindparam("battle_id"), Turn.index == bindparam("turn"), Turn.superseded.is_(False)
    )
)
# Conditional, so that an error flagged concurrently is not overwritten.
_MARK_VOTED = (
    update(Battle)
    .where(Battle.id == bindparam("battle_id"), Battle.state != "error")
    .values(state="voted", updated_at=bindparam("now"))
)
_INSERT_VOTE = insert(Vote).returning(Vote.id)


# --- validation -------------------------------------------------------------------------------------------


def _insert_vote(connection: Connection, values: dict[str, Any]) -> int:
    """Insert one vote after checking its battle and turn; a human vote also marks the battle voted."""
    battle_id, turn = values["battle_id"], values["turn"]
    if connection.scalar(_BATTLE_STATE, {"battle_id": battle_id}) is None:
        raise NotFound(f"no battle {battle_id}")
    if not connection.scalar(_TURN_EXISTS, {"battle_id": battle_id, "turn": turn}):
        raise ValueError(f"battle {battle_id} has no turn {turn}")
    if values["source"] == HUMAN:
        connection.execute(_MARK_VOTED, {"battle_id": battle_id, "now": values["created_at"]})
    # The unique constraint, not an earlier SELECT, decides between racing voters.
    return int(connection.execute(_INSERT_VOTE, values).scalar_one())


def _check_verdict(winner: str, strength: str | None) -> None:
    if winner not in WINNERS:
        raise ValueError(f"unknown winner {winner!r}; expected one of {WINNERS}")
    if strength is None:
        return
    if strength not in STRENGTHS:
        raise ValueError(f"unknown strength {strength!r}; expected one of {STRENGTHS}")
    if winner in TIES:
        raise ValueError(f"a {winner!r} vote cannot have a strength (got {strength!r})")


def _check_source(source: str) -> None:
    valid = source == HUMAN or (source.startswith(JUDGE_PREFIX) and len(source) > len(JUDGE_PREFIX))
    if not valid or len(source) > _SOURCE_MAX_LEN:
        raise ValueError(
            f"vote source must be {HUMAN!r} or 'judge:<name>', at most {_SOURCE_MAX_LEN} characters; got {source!r}"
        )


def _is_unique_violation(exc: IntegrityError) -> bool:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    # sqlite3 (Python 3.11+) names the extended result code.
    return getattr(orig, "sqlite_errorname", "") in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


# --- registry helpers -------------------------------------------------------------------------------------


def _sync_models(session: Session, specs: list[ModelSpec]) -> SyncReport:
    records = {r.name: r for r in session.scalars(select(ModelRecord))}
    now = utcnow()
    added: list[str] = []
    updated: list[str] = []
    skipped: list[str] = []
    kept_disabled: list[str] = []
    for spec in specs:
        record = records.get(spec.name)
        if record is None:
            session.add(_new_model_record(spec, "config", now))
            added.append(spec.name)
        elif record.origin != "config":
            skipped.append(spec.name)
        else:
            if _update_model_record(record, spec, now):
                updated.append(spec.name)
            if spec.enabled and not record.enabled:
                kept_disabled.append(spec.name)
    in_file = {s.name for s in specs}
    disabled: list[str] = []
    for record in records.values():
        if record.origin == "config" and record.name not in in_file and record.enabled:
            record.enabled = False
            record.updated_at = now
            disabled.append(record.name)
    return SyncReport(tuple(added), tuple(updated), tuple(disabled), tuple(skipped), tuple(kept_disabled))


def _new_model_record(spec: ModelSpec, origin: str, now: datetime) -> ModelRecord:
    return ModelRecord(
        name=spec.name,
        backend=spec.backend,
        weights=spec.weights,
        spec=spec.model_dump(mode="json"),
        description=spec.description,
        anonymous=spec.anonymous,
        enabled=spec.enabled,
        provenance=spec.provenance,
        origin=origin,
        created_at=now,
        updated_at=now,
    )


def _update_model_record(record: ModelRecord, spec: ModelSpec, now: datetime) -> bool:
    """Copy the file's entry into the row; `enabled` only ever goes down. True when anything changed."""
    fields = {
        "spec": spec.model_dump(mode="json"),
        "backend": spec.backend,
        "weights": spec.weights,
        "description": spec.description,
        "anonymous": spec.anonymous,
        "provenance": spec.provenance,
    }
    if not spec.enabled:
        fields["enabled"] = False
    changed = {k: v for k, v in fields.items() if getattr(record, k) != v}
    for key, value in changed.items():
        setattr(record, key, value)
    if changed:
        record.updated_at = now
    return bool(changed)


def _model_record(session: Session, name: str) -> ModelRecord:
    record = session.scalar(select(ModelRecord).where(ModelRecord.name == name))
    if record is None:
        raise NotFound(f"no model named {name!r}")
    return record


def _model_spec(record: ModelRecord) -> ModelSpec:
    return ModelSpec.model_validate({**record.spec, "enabled": record.enabled})


# --- battle helpers ---------------------------------------------------------------------------------------


def _battle(session: Session, battle_id: str, *, for_update: bool = False) -> Battle:
    query = select(Battle).where(Battle.id == battle_id)
    if for_update:
        # Serialises writers of one battle on PostgreSQL; SQLite's BEGIN IMMEDIATE already does.
        query = query.with_for_update()
    battle = session.scalar(query)
    if battle is None:
        raise NotFound(f"no battle {battle_id}")
    return battle


def _current_turn(battle_id: str, index: int) -> tuple[Any, ...]:
    return (Turn.battle_id == battle_id, Turn.index == index, Turn.superseded.is_(False))


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
    session.execute(update(Turn).where(*_current_turn(battle_id, last_index)).values(superseded=True))
    return last_index, (last_attempt or 0) + 1


def _new_turn_record(battle_id: str, index: int, attempt: int, turn: NewTurn, now: datetime) -> Turn:
    return Turn(
        battle_id=battle_id,
        index=index,
        attempt=attempt,
        superseded=False,
        user_message=turn.user_message,
        answer_a=turn.answer_a,
        answer_b=turn.answer_b,
        prompt_tokens_a=turn.prompt_tokens_a,
        prompt_tokens_b=turn.prompt_tokens_b,
        completion_tokens_a=turn.completion_tokens_a,
        completion_tokens_b=turn.completion_tokens_b,
        finish_a=turn.finish_a,
        finish_b=turn.finish_b,
        error_a=turn.error_a,
        error_b=turn.error_b,
        latency_a=turn.latency_a,
        latency_b=turn.latency_b,
        created_at=now,
    )


def _apply_flags(
    battle: Battle, *, error: bool, identity_leak: bool, length_limit: bool, note: str, now: datetime
) -> None:
    battle.flag_error = battle.flag_error or error
    battle.flag_identity_leak = battle.flag_identity_leak or identity_leak
    battle.flag_length_limit = battle.flag_length_limit or length_limit
    if error:
        battle.state = "error"
    if note:
        battle.flag_notes = f"{battle.flag_notes}\n{note}" if battle.flag_notes else note
    battle.updated_at = now


# --- snapshots --------------------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _load_battle_view(session: Session, battle: Battle) -> BattleView:
    turns = session.scalars(
        select(Turn).where(Turn.battle_id == battle.id, Turn.superseded.is_(False)).order_by(Turn.index)
    )
    votes = session.scalars(select(Vote).where(Vote.battle_id == battle.id).order_by(Vote.turn, Vote.id))
    return _battle_view(battle, tuple(_turn_view(t) for t in turns), tuple(_vote_view(v) for v in votes))


def _battle_view(battle: Battle, turns: tuple[TurnView, ...], votes: tuple[VoteView, ...]) -> BattleView:
    return BattleView(
        id=battle.id,
        mode=battle.mode,
        model_a=battle.model_a,
        model_b=battle.model_b,
        swapped=battle.swapped,
        params_a=dict(battle.params_a),
        params_b=dict(battle.params_b),
        session_id=battle.session_id,
        voter_id=battle.voter_id,
        state=battle.state,
        flag_error=battle.flag_error,
        flag_identity_leak=battle.flag_identity_leak,
        flag_length_limit=battle.flag_length_limit,
        flag_notes=battle.flag_notes,
        tokens_a=battle.tokens_a,
        tokens_b=battle.tokens_b,
        created_at=_utc(battle.created_at),
        revealed_at=_utc_or_none(battle.revealed_at),
        turns=turns,
        votes=votes,
    )


def _turn_view(turn: Turn) -> TurnView:
    return TurnView(
        index=turn.index,
        attempt=turn.attempt,
        user_message=turn.user_message,
        answer_a=turn.answer_a,
        answer_b=turn.answer_b,
        prompt_tokens_a=turn.prompt_tokens_a,
        prompt_tokens_b=turn.prompt_tokens_b,
        completion_tokens_a=turn.completion_tokens_a,
        completion_tokens_b=turn.completion_tokens_b,
        finish_a=turn.finish_a,
        finish_b=turn.finish_b,
        error_a=turn.error_a,
        error_b=turn.error_b,
        latency_a=turn.latency_a,
        latency_b=turn.latency_b,
        created_at=_utc(turn.created_at),
    )


def _vote_view(vote: Vote) -> VoteView:
    return VoteView(
        id=vote.id,
        battle_id=vote.battle_id,
        turn=vote.turn,
        winner=vote.winner,
        strength=vote.strength,
        voter_id=vote.voter_id,
        source=vote.source,
        excluded_reason=vote.excluded_reason,
        created_at=_utc(vote.created_at),
        strength_at=_utc_or_none(vote.strength_at),
    )


# --- training-run helpers ---------------------------------------------------------------------------------


def _next_version(session: Session, prefix: str) -> str:
    pattern = re.compile(rf"^{re.escape(prefix)}-v(\d+)$")
    names = session.scalars(select(ModelRecord.name).where(ModelRecord.name.startswith(f"{prefix}-v", autoescape=True)))
    versions = [int(m.group(1)) for m in map(pattern.match, names) if m]
    return f"{prefix}-v{max(versions, default=0) + 1}"


def _training_run_view(record: TrainingRun) -> TrainingRunView:
    return TrainingRunView(
        id=record.id,
        kind=record.kind,
        recipe=record.recipe,
        method=record.method,
        out_dir=record.out_dir,
        gate_passed=record.gate_passed,
        registered_model=record.registered_model,
        report=record.report,
        started_at=_utc(record.started_at),
        finished_at=_utc(record.finished_at),
    )
