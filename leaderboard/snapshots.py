"""Stored leaderboard snapshots: the page reads the latest one instead of refitting on every visit.

This is the leaderboard's own small database module (the rating core never imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from arena.db import LeaderboardSnapshot, Vote, writer

KEEP_SNAPSHOTS = 20  # older ones are pruned: a snapshot can always be recomputed from the votes


@dataclass(frozen=True)
class Snapshot:
    id: int
    created_at: datetime
    last_vote_id: int
    votes_total: int
    seconds: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class VoteWatermark:
    """Where the votes stand: the highest vote id and how many votes there are."""

    last_vote_id: int
    votes_total: int


class SnapshotStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def watermark(self) -> VoteWatermark:
        with self._engine.connect() as conn:
            last, total = conn.execute(select(func.coalesce(func.max(Vote.id), 0), func.count(Vote.id))).one()
        return VoteWatermark(int(last), int(total))

    def save(self, payload: dict[str, Any], watermark: VoteWatermark, seconds: float) -> Snapshot:
        """Store a snapshot and prune old ones, in one transaction."""
        created_at = datetime.now(UTC)
        with writer(self._engine).begin() as conn:
            snapshot_id = conn.execute(
                insert(LeaderboardSnapshot)
                .values(
                    created_at=created_at,
                    last_vote_id=watermark.last_vote_id,
                    votes_total=watermark.votes_total,
                    seconds=seconds,
                    payload=payload,
                )
                .returning(LeaderboardSnapshot.id)
            ).scalar_one()
            keep = select(LeaderboardSnapshot.id).order_by(LeaderboardSnapshot.id.desc()).limit(KEEP_SNAPSHOTS)
            conn.execute(delete(LeaderboardSnapshot).where(LeaderboardSnapshot.id.not_in(keep.scalar_subquery())))
        return Snapshot(int(snapshot_id), created_at, watermark.last_vote_id, watermark.votes_total, seconds, payload)

    def latest(self) -> Snapshot | None:
        with self._engine.connect() as conn:
            row = (
                conn.execute(select(LeaderboardSnapshot).order_by(LeaderboardSnapshot.id.desc()).limit(1))
                .mappings()
                .first()
            )
        if row is None:
            return None
        created_at = row["created_at"]
        if created_at.tzinfo is None:  # SQLite returns naive datetimes
            created_at = created_at.replace(tzinfo=UTC)
        return Snapshot(
            int(row["id"]),
            created_at,
            int(row["last_vote_id"]),
            int(row["votes_total"]),
            float(row["seconds"]),
            dict(row["payload"]),
        )
