"""The arena's data: the only package that speaks SQL.

    store = Store.open(url)            # create or upgrade the database, then use it
    store = Store.open_existing(url)   # a read-only tool: never creates a database, never migrates
    store.registry      models: sync from the registry file, register checkpoints, enable/disable
    store.battles       battles, turns and votes: the arena's write path (facts stored with each row)
    store.judgments     LLM-judge calls and the judge's votes
    store.votes         THE votes reader (clean-battle frames), counts, the watermark
    store.training_runs training reports and the contenders they registered
    store.reward_evaluations  reward models' scores on evaluation sets (the reward-model leaderboard)
    store.benchmark_runs      static-benchmark runs and their items (python -m evals; the benchmark columns)
    store.sft_examples  direct-chat answers saved as training examples (with people's edits), and their export
    store.jobs          the scheduler's lease and job history
    store.snapshots     stored leaderboard snapshots
    store.vote_origins  where human votes came from, for the stuffing screen, and the sources it flagged

Every write is one transaction; every read returns frozen views (store.views) or DataFrames, never ORM rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from store.backfill import BackfillReport, Progress, backfill_facts
from store.battles import Battles
from store.benchmark_runs import BenchmarkRuns
from store.db import Database
from store.engine import DatabaseURLError, is_memory_sqlite, make_engine, parse_database_url
from store.errors import DATABASE_ERRORS, Conflict, DuplicateVote, NotFound, StoreError
from store.jobs import JobLedger
from store.judgments import Judgments
from store.migrate import current_revision, head_revision, migrate
from store.registry import Registry
from store.reward_evaluations import RewardEvaluations
from store.sft_examples import SavedExample, SftExamples
from store.snapshots import Snapshots
from store.training_runs import TrainingRuns
from store.views import (
    BattleView,
    BenchmarkItemView,
    BenchmarkRunView,
    BenchmarkSummary,
    JobRunView,
    NewBenchmarkItem,
    NewBenchmarkRun,
    NewJudgment,
    NewRewardEvaluation,
    NewSftExample,
    NewTrainingRun,
    NewTurn,
    RewardEvaluationView,
    SftExampleView,
    SftSetSummary,
    Snapshot,
    SyncReport,
    TrainingRunView,
    TurnView,
    VoteView,
    VoteWatermark,
)
from store.vote_origins import FlagReport, SourceFlag, VoteOrigins
from store.votes import Votes

__all__ = [
    "DATABASE_ERRORS",
    "BackfillReport",
    "BattleView",
    "BenchmarkItemView",
    "BenchmarkRunView",
    "BenchmarkSummary",
    "Conflict",
    "DuplicateVote",
    "FlagReport",
    "JobRunView",
    "NewBenchmarkItem",
    "NewBenchmarkRun",
    "NewJudgment",
    "NewRewardEvaluation",
    "NewSftExample",
    "NewTrainingRun",
    "NewTurn",
    "NotFound",
    "RewardEvaluationView",
    "SavedExample",
    "SftExampleView",
    "SftExamples",
    "SftSetSummary",
    "Snapshot",
    "SourceFlag",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "SyncReport",
    "TrainingRunView",
    "TurnView",
    "VoteView",
    "VoteWatermark",
]


class StoreUnavailable(StoreError):
    """The database cannot be used: unreachable, missing, or a malformed URL. The message says which, without
    the password."""


class Store:
    def __init__(self, engine: Engine) -> None:
        self.db = Database(engine)
        self.registry = Registry(self.db)
        self.battles = Battles(self.db)
        self.judgments = Judgments(self.db)
        self.votes = Votes(self.db)
        self.training_runs = TrainingRuns(self.db)
        self.reward_evaluations = RewardEvaluations(self.db)
        self.benchmark_runs = BenchmarkRuns(self.db)
        self.sft_examples = SftExamples(self.db)
        self.jobs = JobLedger(self.db)
        self.snapshots = Snapshots(self.db)
        self.vote_origins = VoteOrigins(self.db)

    @classmethod
    def open(cls, url: str, **engine_options: Any) -> Store:
        """Open the database at `url`, creating and upgrading it as needed (the app, the writing tools)."""
        engine = _engine(url, **engine_options)
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            raise StoreUnavailable(f"the database at {_safe(url)} does not answer ({_first_line(exc)})") from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @classmethod
    def open_existing(cls, url: str, **engine_options: Any) -> Store:
        """Open an arena database that must already exist and be current: a read-only tool given a wrong URL
        says so and creates nothing (connecting to a missing SQLite file would create an empty one)."""
        parsed = _parsed(url)
        if is_memory_sqlite(parsed):
            raise StoreUnavailable("an in-memory SQLite database is empty by definition; give the file's URL")
        if parsed.get_backend_name() == "sqlite" and not parsed.query.get("uri"):
            path = Path(str(parsed.database)).expanduser()
            if not path.is_file():
                raise StoreUnavailable(f"no database file at {path}; check --db")
        engine = _engine(url, **engine_options)
        try:
            revision = current_revision(engine)
        except OperationalError as exc:
            engine.dispose()
            raise StoreUnavailable(f"the database at {_safe(url)} does not answer ({_first_line(exc)})") from exc
        if revision is None:
            engine.dispose()
            raise StoreUnavailable(f"{_safe(url)} holds no arena tables; check --db")
        if revision != head_revision():
            engine.dispose()
            raise StoreUnavailable(
                f"{_safe(url)} is at schema revision {revision}, this version needs {head_revision()}: start the "
                "app once (or run `alembic upgrade head`) to upgrade it"
            )
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def dispose(self) -> None:
        """Close pooled connections (at shutdown, or at the end of a test)."""
        self.db.engine.dispose()

    def backfill_facts(self, progress: Progress | None = None) -> BackfillReport:
        """Store the facts of rows written before they were stored (store.backfill); resumable."""
        return backfill_facts(self.db, progress=progress)

    def schema_status(self) -> tuple[bool, bool]:
        """(the database answers, its schema is at this version's head) for a readiness probe; raises when the
        database does not answer."""
        with self.db.engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return True, revision == head_revision()


def _parsed(url: str) -> Any:
    try:
        return parse_database_url(url)
    except DatabaseURLError as exc:
        raise StoreUnavailable(str(exc)) from exc


def _engine(url: str, **engine_options: Any) -> Engine:
    return make_engine(_parsed(url), **engine_options)


def _safe(url: str) -> str:
    try:
        return parse_database_url(url).render_as_string(hide_password=True)
    except DatabaseURLError:
        return "that URL"


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(getattr(exc, "orig", exc)).strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else type(exc).__name__
