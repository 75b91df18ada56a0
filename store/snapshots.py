"""Stored snapshots of computations over the votes (the leaderboard's payload, the judge audit's report): pages
read the latest one of their kind instead of recomputing on a visit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select

from store.db import Database
from store.tables import LeaderboardSnapshot
from store.views import Snapshot, VoteWatermark, view_of

KEEP_SNAPSHOTS = 20  # older ones are pruned: a snapshot can always be recomputed from the votes


LEADERBOARD = "leaderboard"
JUDGE_AUDIT = "judge_audit"


class Snapshots:
    def __init__(self, db: Database) -> None:
        self._engine = db.engine
        self._writer = db.writer

    def save(
        self, payload: dict[str, Any], watermark: VoteWatermark, seconds: float, kind: str = LEADERBOARD
    ) -> Snapshot:
        """Store a snapshot and prune old ones of its kind, in one transaction."""
        created_at = datetime.now(UTC)
        with self._writer.begin() as conn:
            snapshot_id = conn.execute(
                insert(LeaderboardSnapshot)
                .values(
                    kind=kind,
                    created_at=created_at,
                    last_vote_id=watermark.last_vote_id,
                    votes_total=watermark.votes_total,
                    excluded_total=watermark.excluded_total,
                    seconds=seconds,
                    payload=payload,
                )
                .returning(LeaderboardSnapshot.id)
            ).scalar_one()
            keep = (
                select(LeaderboardSnapshot.id)
                .where(LeaderboardSnapshot.kind == kind)
                .order_by(LeaderboardSnapshot.id.desc())
                .limit(KEEP_SNAPSHOTS)
            )
            conn.execute(
                delete(LeaderboardSnapshot).where(
                    LeaderboardSnapshot.kind == kind, LeaderboardSnapshot.id.not_in(keep.scalar_subquery())
                )
            )
        return Snapshot(
            int(snapshot_id),
            created_at,
            watermark.last_vote_id,
            watermark.votes_total,
            watermark.excluded_total,
            seconds,
            payload,
        )

    def latest(self, kind: str = LEADERBOARD) -> Snapshot | None:
        with self._engine.connect() as conn:
            row = (
                conn.execute(
                    select(LeaderboardSnapshot)
                    .where(LeaderboardSnapshot.kind == kind)
                    .order_by(LeaderboardSnapshot.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
        return None if row is None else view_of(Snapshot, {**row, "payload": dict(row["payload"])})
