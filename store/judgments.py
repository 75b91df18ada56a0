"""LLM-judge calls on battle turns (both orders), and the judge's vote on each turn."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.exc import IntegrityError

from facts.vocabulary import HELPFULNESS
from store.battles import check_source, check_verdict, insert_vote
from store.db import Database
from store.errors import DuplicateVote, is_unique_violation
from store.tables import Battle, Judgment, Turn, utcnow
from store.views import NewJudgment, VoteView, view_of


class Judgments:
    def __init__(self, db: Database) -> None:
        self._db = db

    def usage(self) -> dict[str, dict[str, float]]:
        """Per judge (judge:<name>): calls, calls without a readable verdict, turns whose two orders agreed or not,
        tokens and summed latency: the cost and reliability columns of the judge audit's evaluator table. One
        aggregate query; each turn's outcome is written on both of its calls, so turns count the original order."""
        original = Judgment.order == "original"
        query = select(
            Judgment.judge,
            func.count(),
            func.sum(case((Judgment.verdict.is_(None), 1), else_=0)),
            func.sum(case(((Judgment.outcome == "consistent") & original, 1), else_=0)),
            func.sum(case(((Judgment.outcome == "inconsistent") & original, 1), else_=0)),
            func.coalesce(func.sum(Judgment.prompt_tokens), 0),
            func.coalesce(func.sum(Judgment.completion_tokens), 0),
            func.coalesce(func.sum(Judgment.latency), 0.0),
            func.count(Judgment.latency),
        ).group_by(Judgment.judge)
        names = (
            "judgments",
            "parse_failures",
            "consistent",
            "inconsistent",
            "prompt_tokens",
            "completion_tokens",
            "seconds",
            "timed",
        )
        with self._db.engine.connect() as connection:
            return {
                str(judge): {name: float(value or 0) for name, value in zip(names, values, strict=True)}
                for judge, *values in connection.execute(query)
            }

    def unjudged_turns(
        self, *, judge: str, prompt_version: str, limit: int = 100, criterion: str = HELPFULNESS
    ) -> list[tuple[str, int]]:
        """(battle id, turn) of current two-sided turns of battles of `criterion` (the prompt asks about one:
        helpfulness, or harmlessness in red-team battles) without a judgment by this judge and prompt version,
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
                Battle.criterion == criterion,
                Turn.superseded.is_(False),
                Turn.error_a.is_(None),
                Turn.error_b.is_(None),
                ~judged,
            )
            .order_by(Turn.created_at, Turn.id)
            .limit(limit)
        )
        with self._db.engine.connect() as connection:
            return [(str(battle_id), int(index)) for battle_id, index in connection.execute(query)]

    def record(
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
        vote: tuple[str, str | None] | None,
    ) -> VoteView | None:
        """Store a judge's calls on one turn and, when they give one, its vote (winner, strength) as source
        `judge`, with the battle's eligibility verdict, all in one transaction. DuplicateVote when the turn was
        judged already."""
        check_source(judge)
        if vote is not None:
            check_verdict(*vote)
        now = utcnow()
        rows = [
            {
                "battle_id": battle_id, "turn": turn, "judge": judge, "judge_model": judge_model,
                "prompt_version": prompt_version, "scale": scale, "outcome": outcome, "created_at": now,
                **asdict(j),
            }
            for j in judgments
        ]  # fmt: skip
        stored: dict[str, Any] | None = None
        try:
            with self._db.writing_core() as connection:
                # The vote first: it takes the battle's row lock, in the order every other write takes it.
                if vote is not None:
                    winner, strength = vote
                    stored = insert_vote(
                        connection,
                        {
                            "battle_id": battle_id, "turn": turn, "winner": winner, "strength": strength,
                            "voter_id": judge_model, "source": judge, "created_at": now,
                            "strength_at": now if strength is not None else None,
                        },
                    )  # fmt: skip
                if rows:
                    connection.execute(insert(Judgment), rows)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise DuplicateVote(f"turn {turn} of battle {battle_id} was already judged by {judge}") from exc
            raise
        return None if stored is None else view_of(VoteView, stored)
