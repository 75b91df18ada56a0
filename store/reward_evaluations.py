"""Reward-model evaluations: each (reward model, evaluation set) score, written together per evaluation run."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from store.db import Database
from store.tables import RewardEvaluation, utcnow
from store.views import NewRewardEvaluation, RewardEvaluationView, column_values, view_of


class RewardEvaluations:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, evaluations: Sequence[NewRewardEvaluation]) -> list[RewardEvaluationView]:
        """Store one run's scores in ONE transaction: a failure stores none of them."""
        now = utcnow()
        with self._db.writing() as session:
            rows = [
                RewardEvaluation(id=str(uuid.uuid4()), created_at=now, **column_values(e, NewRewardEvaluation))
                for e in evaluations
            ]
            session.add_all(rows)
            session.flush()
            return [view_of(RewardEvaluationView, row) for row in rows]

    def latest(self) -> list[RewardEvaluationView]:
        """The newest score of each (reward model, evaluation set), by model then set."""
        query = select(RewardEvaluation).order_by(RewardEvaluation.created_at, RewardEvaluation.id)
        newest: dict[tuple[str, str], RewardEvaluationView] = {}
        with self._db.reading() as session:
            # One row per evaluation run and set: a few hundred at most, read whole.
            for row in session.scalars(query):
                newest[(row.reward_model, row.eval_set)] = view_of(RewardEvaluationView, row)
        return [newest[key] for key in sorted(newest)]
