"""ORM tables. The schema is created and changed only by the Alembic migrations in store/migrations.

Naming: in a battle, `model_a` is the contender shown on the left ("Model A") and `model_b` the one on the
right, as in Chatbot Arena's clean-battle schema. Names are hidden from the browser until the vote.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from facts.style import STYLE_COLUMNS
from facts.vocabulary import BATTLE_MODES, CRITERIA, HARM_CATEGORIES, HELPFULNESS, STRENGTHS, WINNERS

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BATTLE_STATES = ("active", "voted", "error", "closed")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ModelRecord(Base):
    """A registered contender (seeded from models.yaml; checkpoints are added at run time)."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    backend: Mapped[str] = mapped_column(String(32))
    weights: Mapped[str] = mapped_column(Text)
    # The full validated ModelSpec as JSON: generation parameters, system prompt, quantization, options.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text, default="")
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Retired from anonymous battles by an operator (or the registry file): never sampled, still on the
    # leaderboard with its votes and still offered by name in direct chat and side-by-side.
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    provenance: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(32), default="config")  # config | runtime
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Battle(Base):
    """One conversation with two contenders (or one, in direct chat)."""

    __tablename__ = "battles"
    __table_args__ = (
        CheckConstraint(f"mode IN {BATTLE_MODES!r}", name="mode"),
        CheckConstraint(f"state IN {BATTLE_STATES!r}", name="state"),
        Index("ix_battles_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    # What its votes judge (facts.vocabulary.CRITERIA): harmlessness for a red-team battle. Checked by the store
    # when a battle is created (a CHECK here would rebuild the battles table on SQLite, cascading to its turns).
    criterion: Mapped[str] = mapped_column(String(16), default=HELPFULNESS, server_default=HELPFULNESS)
    model_a: Mapped[str] = mapped_column(String(128))  # shown on the left
    model_b: Mapped[str | None] = mapped_column(String(128), nullable=True)  # shown on the right
    # True when left/right randomisation swapped the pair the sampler returned.
    swapped: Mapped[bool] = mapped_column(Boolean, default=False)
    params_a: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params_b: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    session_id: Mapped[str] = mapped_column(String(64), index=True)  # hash of the browser session
    voter_id: Mapped[str] = mapped_column(String(64), index=True)  # salted hash of IP + session
    state: Mapped[str] = mapped_column(String(16), default="active")
    flag_error: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_identity_leak: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_length_limit: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_notes: Mapped[str] = mapped_column(Text, default="")
    tokens_a: Mapped[int] = mapped_column(Integer, default=0)  # conversation length as side A sees it
    tokens_b: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    revealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # How an anonymous battle's pair was drawn (arena.sampling): the probability its unordered pair had under the
    # sampling policy then (burn-in and the uniform floor included) and how many contenders it was drawn from.
    # NULL for direct chat and side-by-side, for battles from before they were stored, and for imported ones.
    pair_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    pool_size: Mapped[int | None] = mapped_column(Integer, nullable=True)

    turns: Mapped[list[Turn]] = relationship(
        back_populates="battle", order_by="(Turn.index, Turn.attempt)", cascade="all, delete-orphan"
    )
    votes: Mapped[list[Vote]] = relationship(back_populates="battle", cascade="all, delete-orphan")

    @property
    def anonymous(self) -> bool:
        return self.mode == "anonymous"


class Turn(Base):
    """One user message and both answers. A regeneration adds a new attempt; the old one is kept."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("battle_id", "index", "attempt", name="uq_turns_battle_index_attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)  # 1-based turn number
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # 0 = first answer, 1.. = regenerations
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    user_message: Mapped[str] = mapped_column(Text)
    answer_a: Mapped[str] = mapped_column(Text, default="")
    answer_b: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt_tokens_a: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens_b: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens_a: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens_b: Mapped[int] = mapped_column(Integer, default=0)
    finish_a: Mapped[str | None] = mapped_column(String(16), nullable=True)
    finish_b: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error_a: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_b: Mapped[str | None] = mapped_column(Text, nullable=True)
    latency_a: Mapped[float | None] = mapped_column(nullable=True)  # seconds to the last token
    latency_b: Mapped[float | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    battle: Mapped[Battle] = relationship(back_populates="turns")


class Vote(Base):
    """A verdict on one turn of a battle, from a person or a judge. One per (battle, turn, source)."""

    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("battle_id", "turn", "source", name="uq_votes_battle_turn_source"),
        CheckConstraint(f"winner IN {WINNERS!r}", name="winner"),
        CheckConstraint(f"strength IS NULL OR strength IN {STRENGTHS!r}", name="strength"),
        CheckConstraint(f"criterion IN {CRITERIA!r}", name="criterion"),
        CheckConstraint(f"harm_category IS NULL OR harm_category IN {tuple(HARM_CATEGORIES)!r}", name="harm_category"),
        Index("ix_votes_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id", ondelete="CASCADE"), index=True)
    turn: Mapped[int] = mapped_column(Integer)
    winner: Mapped[str] = mapped_column(String(16))
    strength: Mapped[str | None] = mapped_column(String(16), nullable=True)  # decisive votes only
    voter_id: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(64), default="human")  # human | judge:<name>
    # What the vote judges, as its battle said when it was written: helpfulness, or harmlessness in a red-team
    # battle; readers ask for one and never pool them.
    criterion: Mapped[str] = mapped_column(String(16), default=HELPFULNESS, server_default=HELPFULNESS)
    # The harm a red-team attempt went for, when the voter said (facts.vocabulary.HARM_CATEGORIES).
    harm_category: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Why this vote does not count (facts.eligibility's verdict on its battle; NULL = counts). Written with the
    # vote and rewritten in the same transaction whenever the battle's flags change.
    excluded_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    strength_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Facts about the vote, written with it, so that the leaderboard reads this table alone and no answer text:
    # the pair and the mode as the battle had them, the category of its first message (facts.categories), and
    # each side's style summed over the turns the voter saw (facts.style). NULL only before the backfill.
    model_a: Mapped[str | None] = mapped_column(String(128), nullable=True)
    model_b: Mapped[str | None] = mapped_column(String(128), nullable=True)
    mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    len_a: Mapped[int | None] = mapped_column(Integer, nullable=True)
    len_b: Mapped[int | None] = mapped_column(Integer, nullable=True)
    header_a: Mapped[int | None] = mapped_column(Integer, nullable=True)
    header_b: Mapped[int | None] = mapped_column(Integer, nullable=True)
    list_a: Mapped[int | None] = mapped_column(Integer, nullable=True)
    list_b: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bold_a: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bold_b: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Each side's unique-token share in the voted turn's answer (facts.style.unique_token_share), for the judge
    # audit; NULL for an answer without a token, and before the backfill.
    unique_a: Mapped[float | None] = mapped_column(Float, nullable=True)
    unique_b: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Its battle's pair_probability and pool_size (copied with the pair, so the votes reader reads this table
    # alone): what facts.propensity weighs the vote by. NULL: weight 1 (drawn uniformly, or not a drawn pair).
    pair_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    pool_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Where a human vote came from, as salted hashes (never the address): the client address and its network
    # (IPv4 /24, IPv6 /48), for the daily cap and the stuffing screen. NULL for judges and older votes.
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    network_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # The reasons about the voter (facts.eligibility.VoterFacts) that are part of excluded_reason, kept apart so
    # that rewriting the battle's verdict keeps them.
    voter_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    battle: Mapped[Battle] = relationship(back_populates="votes")


class AddressDay(Base):
    """Counted human votes per client address and UTC day: the daily cap's counter, incremented in the vote's
    own transaction by one atomic upsert, so that replicas racing on one address cannot both pass the cap."""

    __tablename__ = "address_days"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    votes: Mapped[int] = mapped_column(Integer, default=0)


class FlaggedSource(Base):
    """An address or network the stuffing screen found (leaderboard.stuffing): its votes, past and future, do
    not count. `evidence` says why, for the operator."""

    __tablename__ = "flagged_sources"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # the salted hash (client_id or network_id)
    kind: Mapped[str] = mapped_column(String(16))  # address | network
    evidence: Mapped[str] = mapped_column(Text, default="")
    flagged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LeaderboardSnapshot(Base):
    """A computation over the votes (the leaderboard, the judge audit), stored so that pages read it instead of
    recomputing on a visit."""

    __tablename__ = "leaderboard_snapshots"
    __table_args__ = (Index("ix_leaderboard_snapshots_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What was computed: "leaderboard" (the page's payload) or "judge_audit" (the audit tab's report).
    kind: Mapped[str] = mapped_column(String(32), default="leaderboard", server_default="leaderboard")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The highest vote id and the vote count it was computed from: "enough new votes" compares against these.
    last_vote_id: Mapped[int] = mapped_column(Integer, default=0)
    votes_total: Mapped[int] = mapped_column(Integer, default=0)
    # Votes that did not count then: a battle flagged later changes it without a new vote.
    excluded_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    seconds: Mapped[float] = mapped_column(default=0.0)  # how long the computation took
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class Judgment(Base):
    """One LLM-judge call on one battle turn in one order: the raw text and the verdict read from it."""

    __tablename__ = "judgments"
    __table_args__ = (
        UniqueConstraint("battle_id", "turn", "judge", "prompt_version", "order", name="uq_judgments_once"),
        CheckConstraint("\"order\" IN ('original', 'swapped')", name="order"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id", ondelete="CASCADE"), index=True)
    turn: Mapped[int] = mapped_column(Integer)
    judge: Mapped[str] = mapped_column(String(64))  # the vote source: judge:<name>
    judge_model: Mapped[str] = mapped_column(String(128))  # the registry model that judged
    prompt_version: Mapped[str] = mapped_column(String(64))
    scale: Mapped[str] = mapped_column(String(16))
    order: Mapped[str] = mapped_column(String(8))  # original: model_a shown first; swapped: model_b first
    raw_text: Mapped[str] = mapped_column(Text, default="")
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: no readable verdict
    # Both orders together: consistent (a vote), inconsistent (a tie vote) or parse_failure (no vote).
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    latency: Mapped[float | None] = mapped_column(nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


TRAINING_KINDS = ("reward", "rlhf", "sft")


class TrainingRun(Base):
    """One finished training run (reward model, RLHF or SFT): its report, and the contender it registered."""

    __tablename__ = "training_runs"
    __table_args__ = (CheckConstraint(f"kind IN {TRAINING_KINDS!r}", name="kind"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    recipe: Mapped[str] = mapped_column(String(128))
    method: Mapped[str | None] = mapped_column(String(16), nullable=True)  # dpo | grpo | rloo | sft
    out_dir: Mapped[str] = mapped_column(Text)
    gate_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set only when the run's checkpoint was registered, in the same transaction as the models row.
    registered_model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RewardEvaluation(Base):
    """One reward model scored on one evaluation set (training.evaluate reward-model): the figures the reward-model
    leaderboard shows, and the whole report."""

    __tablename__ = "reward_evaluations"
    __table_args__ = (Index("ix_reward_evaluations_model_set", "reward_model", "eval_set"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reward_model: Mapped[str] = mapped_column(String(512))  # a run folder, a model folder or a hub id
    eval_set: Mapped[str] = mapped_column(String(256))
    fingerprint: Mapped[str] = mapped_column(String(64))  # of the scored pairs: results on other pairs differ
    pairs: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float] = mapped_column(Float)
    # None when no interval can be measured (every pair under one prompt: training.evidence)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)
    high: Mapped[float | None] = mapped_column(Float, nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BenchmarkRun(Base):
    """One model's run of one static benchmark (python -m evals): its settings and, kept current as items are
    stored, its score with an interval. Items are stored as they finish, so a stopped run resumes; a forced rerun
    supersedes the old run rather than deleting it."""

    __tablename__ = "benchmark_runs"
    __table_args__ = (Index("ix_benchmark_runs_model_benchmark", "model", "benchmark"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model: Mapped[str] = mapped_column(String(128))  # the registry name
    # Of what makes the model's answers (weights, decoding, system prompt): a changed spec is a new run.
    model_fingerprint: Mapped[str] = mapped_column(String(64))
    benchmark: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(128))  # the data and prompts: a new version is a new run
    grader: Mapped[str] = mapped_column(String(256))  # who scored it: a detector, a judge, a harness
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    items_total: Mapped[int] = mapped_column(Integer)  # items in the benchmark
    items_done: Mapped[int] = mapped_column(Integer, default=0)  # stored, failures included
    failures: Mapped[int] = mapped_column(Integer, default=0)  # stored without a score (error, parse failure)
    n: Mapped[int] = mapped_column(Integer, default=0)  # items the score is over
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)
    high: Mapped[float | None] = mapped_column(Float, nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)  # per category, per turn, counts
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BenchmarkItem(Base):
    """One benchmark item's result in a run: the model's output, the grader's verdict and score (None when it could
    not be scored: an error or an unreadable verdict, counted, never guessed)."""

    __tablename__ = "benchmark_items"
    __table_args__ = (UniqueConstraint("run_id", "item_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("benchmark_runs.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(128))
    output: Mapped[str] = mapped_column(Text, default="")
    verdict: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SftExample(Base):
    """A direct-chat answer a person saved as a supervised (SFT) training example, with their edit of it.

    Copied from the server's record of the conversation when saved (the battle's turns), so the example stays what
    the person saw even if the battle changes later; deleted with its battle. Each distinct edit of one answer is a
    new version; exports take the newest version of each answer (store.sft_examples)."""

    __tablename__ = "sft_examples"
    __table_args__ = (
        UniqueConstraint("set_name", "battle_id", "turn", "attempt", "version"),
        Index("ix_sft_examples_set_name_created_at", "set_name", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    set_name: Mapped[str] = mapped_column(String(64))
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id", ondelete="CASCADE"), index=True)
    turn: Mapped[int] = mapped_column(Integer)  # the saved answer's turn index (1-based)
    attempt: Mapped[int] = mapped_column(Integer)  # which attempt of that turn (a regeneration is a new attempt)
    version: Mapped[int] = mapped_column(Integer)  # 1, then one more per distinct edit of the same answer
    # The conversation up to and including the saved answer as the model gave it: [{"role", "content"}, ...].
    messages: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    original_answer: Mapped[str] = mapped_column(Text)
    edited_answer: Mapped[str | None] = mapped_column(Text, nullable=True)  # None: saved as the model wrote it
    model: Mapped[str] = mapped_column(String(128))
    saved_by: Mapped[str] = mapped_column(String(64), index=True)  # the voter hash (salted address + session)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


JOB_STATUSES = ("requested", "running", "succeeded", "failed", "skipped")


class SchedulerLease(Base):
    """Who runs the scheduler: one row per lease; a replica acts only while it holds an unexpired one."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobRun(Base):
    """One run of a scheduled job (or a request to run one now, from the Admin tab)."""

    __tablename__ = "job_runs"
    __table_args__ = (CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    replica: Mapped[str | None] = mapped_column(String(128), nullable=True)  # who ran it
    requested_by: Mapped[str | None] = mapped_column(String(128), nullable=True)  # "admin" for run-now
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # what it produced


# The style columns of `votes`, in facts.style's order.
VOTE_STYLE_COLUMNS = tuple(getattr(Vote, column) for column in STYLE_COLUMNS)
