"""What the store hands out and takes in: frozen dataclasses, never live ORM rows (safe across threads).

Each view is one definition: its fields are named as the table's columns, and `view_of` fills them from a row
by name (times as aware UTC). A new column is one table change, one field here and a migration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from facts.vocabulary import HUMAN
from store.db import utc

View = TypeVar("View")


def view_of(cls: type[View], row: Any, **given: Any) -> View:
    """An instance of the dataclass `cls` from an ORM row or a mapping, field by field, by name; `given` fields
    are taken as they are (e.g. a battle's turns)."""
    values: dict[str, Any] = {}
    get = row.__getitem__ if isinstance(row, Mapping) else lambda name: getattr(row, name)
    for field in fields(cls):  # type: ignore[arg-type]
        if field.name in given:
            values[field.name] = given[field.name]
            continue
        value = get(field.name)
        values[field.name] = utc(value) if isinstance(value, datetime) else value
    return cls(**values)


def column_values(item: Any, cls: type[Any]) -> dict[str, Any]:
    """The fields `cls` declares, taken from `item`, as column values (for `insert` or an ORM constructor). By
    the class, not the item: a TurnView handed back as a NewTurn gives only the NewTurn fields."""
    return {field.name: getattr(item, field.name) for field in fields(cls)}


# --- battles, turns, votes ------------------------------------------------------------------------------------


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
class TurnView(NewTurn):
    index: int = 0
    attempt: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True)
class VoteView:
    id: int
    battle_id: str
    turn: int
    winner: str
    strength: str | None
    voter_id: str
    source: str
    excluded_reason: str | None  # facts.eligibility's verdict on the battle; None: the vote counts
    created_at: datetime
    strength_at: datetime | None
    criterion: str  # helpfulness, or harmlessness in a red-team battle (its battle's criterion)
    harm_category: str | None  # a red-team vote's harm category, when the voter gave one


@dataclass(frozen=True)
class BattleView:
    """A battle as stored. `turns` holds only the current attempt of each turn, in order."""

    id: str
    mode: str
    model_a: str
    model_b: str | None
    swapped: bool
    criterion: str  # what its votes judge: helpfulness, or harmlessness in a red-team battle
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
    # How an anonymous battle's pair was drawn (arena.sampling): its probability then and the pool's size; None for
    # direct chat, side-by-side, older and imported battles.
    pair_probability: float | None = None
    pool_size: int | None = None

    @property
    def last_turn(self) -> int:
        """Index of the last turn, 0 before the first one."""
        return self.turns[-1].index if self.turns else 0

    def vote_for(self, turn: int, source: str = HUMAN) -> VoteView | None:
        return next((v for v in self.votes if v.turn == turn and v.source == source), None)


# --- judgments ------------------------------------------------------------------------------------------------


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


# --- registry -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncReport:
    """What `Registry.sync` changed, by model name."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    # In the file, but the name belongs to a runtime-registered model, which sync never touches.
    skipped: tuple[str, ...] = ()
    # In the file and enabled there, but disabled in the database (by an operator, or because the entry
    # once left the file): sync cannot tell which, so it leaves them disabled.
    kept_disabled: tuple[str, ...] = ()


# --- training runs --------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class NewRewardEvaluation:
    """One reward model's score on one evaluation set; `report` is the set's JSON report."""

    reward_model: str
    eval_set: str
    fingerprint: str
    pairs: int
    accuracy: float
    low: float | None  # None: no interval (one prompt)
    high: float | None
    report: Mapping[str, Any]


@dataclass(frozen=True)
class RewardEvaluationView:
    id: str
    reward_model: str
    eval_set: str
    fingerprint: str
    pairs: int
    accuracy: float
    low: float | None
    high: float | None
    report: Mapping[str, Any]
    created_at: datetime


# --- static benchmarks (python -m evals) -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewBenchmarkRun:
    """What identifies a run: a stored run with the same model, fingerprint, benchmark, version and grader is
    resumed, not started again."""

    model: str
    model_fingerprint: str
    benchmark: str
    version: str
    grader: str
    settings: Mapping[str, Any]
    items_total: int


@dataclass(frozen=True)
class BenchmarkSummary:
    """A run's figures over every item stored so far (computed by the benchmark, stored with the items)."""

    n: int
    failures: int
    score: float | None
    low: float | None
    high: float | None
    report: Mapping[str, Any]


@dataclass(frozen=True)
class BenchmarkRunView:
    id: str
    model: str
    model_fingerprint: str
    benchmark: str
    version: str
    grader: str
    settings: Mapping[str, Any]
    items_total: int
    items_done: int
    failures: int
    n: int
    score: float | None
    low: float | None
    high: float | None
    report: Mapping[str, Any]
    superseded: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewBenchmarkItem:
    item_key: str
    output: str
    verdict: str
    score: float | None  # None: not scored (error, unreadable verdict)
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class BenchmarkItemView:
    item_key: str
    output: str
    verdict: str
    score: float | None
    detail: Mapping[str, Any]
    created_at: datetime


# --- saved training examples (direct chat) ---------------------------------------------------------------------


@dataclass(frozen=True)
class NewSftExample:
    """A direct-chat answer to save as a training example: the conversation up to and including it (as the server
    recorded it), the model's answer, and the person's edit of it (None: saved as the model wrote it)."""

    set_name: str
    battle_id: str
    turn: int
    attempt: int
    messages: Sequence[Mapping[str, str]]
    original_answer: str
    edited_answer: str | None
    model: str
    saved_by: str


@dataclass(frozen=True)
class SftExampleView(NewSftExample):
    id: str = ""
    version: int = 1
    created_at: datetime | None = None

    @property
    def answer(self) -> str:
        """The answer trained on: the person's edit when there is one."""
        return self.original_answer if self.edited_answer is None else self.edited_answer


@dataclass(frozen=True)
class SftSetSummary:
    """One saved set: its answers (newest version of each), how many of them the person edited, the last save."""

    set_name: str
    examples: int
    edited: int
    versions: int
    last_saved_at: datetime | None


# --- scheduler ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRunView:
    id: int
    job: str
    status: str
    replica: str | None
    requested_by: str | None
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    result: Mapping[str, Any] | None


# --- leaderboard snapshots ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoteWatermark:
    """Where the votes stand: the highest vote id, how many votes there are, and how many do not count (a flag
    raised on a battle after its votes changes that without a new vote)."""

    last_vote_id: int
    votes_total: int
    excluded_total: int = 0


@dataclass(frozen=True)
class Snapshot:
    id: int
    created_at: datetime
    last_vote_id: int
    votes_total: int
    excluded_total: int
    seconds: float
    payload: dict[str, Any]
