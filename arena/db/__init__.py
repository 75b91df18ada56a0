"""Database layer: engine factory, schema migrations and ORM tables."""

from arena.db.engine import DEFAULT_DATABASE_URL, DatabaseURLError, make_engine, parse_database_url, writer
from arena.db.migrate import current_revision, head_revision, migrate
from arena.db.tables import (
    BATTLE_MODES,
    BATTLE_STATES,
    STRENGTHS,
    WINNERS,
    Base,
    Battle,
    JobRun,
    Judgment,
    LeaderboardSnapshot,
    ModelRecord,
    SchedulerLease,
    TrainingRun,
    Turn,
    Vote,
)

__all__ = [
    "BATTLE_MODES",
    "BATTLE_STATES",
    "DEFAULT_DATABASE_URL",
    "STRENGTHS",
    "WINNERS",
    "Base",
    "Battle",
    "DatabaseURLError",
    "JobRun",
    "Judgment",
    "LeaderboardSnapshot",
    "ModelRecord",
    "SchedulerLease",
    "TrainingRun",
    "Turn",
    "Vote",
    "current_revision",
    "head_revision",
    "make_engine",
    "migrate",
    "parse_database_url",
    "writer",
]
