"""Facts for votes written before they were stored with them: the category of the battle's first message and
each side's style up to the voted turn, computed by the same function as the write path (store.battles).

Works in batches of battles, each batch its own transaction, and picks up only votes still missing their facts,
so it can stop at any moment and resume where it left off. The app runs it in the background at start-up and on
its schedule; by hand:

    python -m store.backfill --db sqlite:///data/arena.db
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update

from facts.categories import Classifier, classify_prompt
from store.battles import vote_facts
from store.db import Database
from store.tables import Turn, Vote

Progress = Callable[[int, int], None]  # (battles done, battles to do)


@dataclass(frozen=True)
class BackfillReport:
    battles: int
    votes: int


# The style columns are always written with a vote: a NULL marks a vote from before they existed.
_PENDING = select(Vote.battle_id).where(Vote.len_a.is_(None)).distinct()


def pending_battles(db: Database) -> int:
    with db.engine.connect() as connection:
        return len(connection.execute(_PENDING).all())


def anything_pending(db: Database) -> bool:
    """Whether any vote lacks its facts: stops at the first one found."""
    with db.engine.connect() as connection:
        return connection.execute(select(Vote.id).where(Vote.len_a.is_(None)).limit(1)).first() is not None


def backfill_facts(
    db: Database, *, batch_size: int = 500, classifier: Classifier = classify_prompt, progress: Progress | None = None
) -> BackfillReport:
    """Store the category and style of every vote that lacks them."""
    if not anything_pending(db):
        return BackfillReport(0, 0)
    with db.engine.connect() as connection:
        pending = sorted(str(row[0]) for row in connection.execute(_PENDING))
    votes_done = 0
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        with db.writing_core() as connection:
            turns: dict[str, list[tuple[int, str, str, str | None]]] = {}
            for battle_id, index, user_message, answer_a, answer_b in connection.execute(
                select(Turn.battle_id, Turn.index, Turn.user_message, Turn.answer_a, Turn.answer_b)
                .where(Turn.battle_id.in_(batch), Turn.superseded.is_(False))
                .order_by(Turn.battle_id, Turn.index)
            ):
                turns.setdefault(battle_id, []).append((index, user_message, answer_a, answer_b))
            votes = connection.execute(
                select(Vote.id, Vote.battle_id, Vote.turn).where(Vote.battle_id.in_(batch), Vote.len_a.is_(None))
            ).all()
            updates = [
                {"vote_id": vote_id, **vote_facts([t for t in turns.get(battle_id, []) if t[0] <= turn], classifier)}
                for vote_id, battle_id, turn in votes
            ]
            if updates:
                connection.execute(update(Vote).where(Vote.id == bindparam("vote_id")), updates)
        votes_done += len(updates)
        if progress is not None:
            progress(min(start + batch_size, len(pending)), len(pending))
    return BackfillReport(len(pending), votes_done)


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
    print(f"backfilled {report.votes} votes of {report.battles} battles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
