"""Facts for rows written before they were stored: each turn's style, each battle's category.

Works in batches of battles, each batch its own transaction, and picks up only rows still missing a fact, so it
can stop at any moment and resume where it left off. The app runs it at start-up; by hand:

    python -m store.backfill --db sqlite:///data/arena.db
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, or_, select, update

from facts.categories import Classifier, classify_prompt
from facts.style import StyleFeatures, style_features
from store.db import Database
from store.tables import Battle, Turn

Progress = Callable[[int, int], None]  # (battles done, battles to do)


@dataclass(frozen=True)
class BackfillReport:
    battles: int
    turns: int


def pending_battles(db: Database) -> int:
    with db.engine.connect() as connection:
        return len(connection.execute(_PENDING).all())


def anything_pending(db: Database) -> bool:
    """Whether any row lacks a fact: stops at the first one found (the common answer, no, scans the turns once)."""
    with db.engine.connect() as connection:
        return connection.execute(_PENDING.limit(1)).first() is not None


_PENDING = (
    select(Turn.battle_id)
    .where(Turn.len_a.is_(None))
    .union(select(Battle.id).join(Turn, Turn.battle_id == Battle.id).where(Battle.category.is_(None), Turn.index == 1))
)


def backfill_facts(
    db: Database, *, batch_size: int = 500, classifier: Classifier = classify_prompt, progress: Progress | None = None
) -> BackfillReport:
    """Fill the style columns of every turn and the category of every battle that lack them."""
    if not anything_pending(db):
        return BackfillReport(0, 0)
    with db.engine.connect() as connection:
        pending = sorted(str(row[0]) for row in connection.execute(_PENDING))
    turns_done = 0
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        with db.writing_core() as connection:
            rows = connection.execute(
                select(
                    Turn.id, Turn.battle_id, Turn.index, Turn.attempt, Turn.superseded, Turn.user_message,
                    Turn.answer_a, Turn.answer_b,
                )
                .where(Turn.battle_id.in_(batch))
                .order_by(Turn.battle_id, Turn.index, Turn.attempt)
            ).all()  # fmt: skip
            updates, categories = _facts(rows, classifier)
            if updates:
                connection.execute(update(Turn).where(Turn.id == bindparam("turn_id")), updates)
            for battle_id, category in categories.items():
                connection.execute(
                    update(Battle)
                    .where(Battle.id == battle_id, or_(Battle.category.is_(None), Battle.category != category))
                    .values(category=category)
                )
        turns_done += len(updates)
        if progress is not None:
            progress(min(start + batch_size, len(pending)), len(pending))
    return BackfillReport(len(pending), turns_done)


def _facts(rows: Sequence[Any], classifier: Classifier) -> tuple[list[dict[str, object]], dict[str, str]]:
    """Cumulative style per turn row (current earlier turns + its own answers) and each battle's category."""
    updates: list[dict[str, object]] = []
    categories: dict[str, str] = {}
    current: dict[tuple[str, int], tuple[StyleFeatures, StyleFeatures]] = {}
    for turn_id, battle_id, index, _attempt, superseded, user_message, answer_a, answer_b in rows:
        own = (style_features(answer_a or ""), style_features(answer_b or ""))
        before = current.get((battle_id, index - 1), (StyleFeatures(), StyleFeatures()))
        total = (before[0] + own[0], before[1] + own[1])
        if not superseded:
            current[(battle_id, index)] = total
            if index == 1:
                categories[battle_id] = classifier(user_message)
        updates.append({"turn_id": turn_id, **total[0].columns("a"), **total[1].columns("b")})
    return updates, categories


def main(argv: Sequence[str] | None = None) -> int:
    from store import Store, StoreUnavailable

    parser = argparse.ArgumentParser(prog="python -m store.backfill", description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: the arena's settings)")
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    try:
        if args.db is None:
            from settings import Settings

            args.db = Settings().resolved_database_url
        store = Store.open_existing(args.db)
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        report = backfill_facts(
            store.db, batch_size=args.batch_size, progress=lambda done, total: print(f"{done}/{total} battles")
        )
    finally:
        store.dispose()
    print(f"backfilled {report.turns} turns of {report.battles} battles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
