"""Static-benchmark runs (python -m evals): each model's run of a benchmark, its items as they finish, and the
newest figures per model and benchmark for the leaderboard.

A run is resumed, not restarted: opening a run with the same model, model fingerprint, benchmark, version and
grader as a stored one returns the stored one, and only items it does not hold are run. Items are written with the
run's new summary in one transaction, so the figures on the run always match the items stored under it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.db import Database
from store.errors import Conflict, NotFound, is_unique_violation
from store.tables import BenchmarkItem, BenchmarkRun, utcnow
from store.views import (
    BenchmarkItemView,
    BenchmarkRunView,
    BenchmarkSummary,
    NewBenchmarkItem,
    NewBenchmarkRun,
    column_values,
    view_of,
)

Summarize = Callable[[Sequence[BenchmarkItemView]], BenchmarkSummary]


class BenchmarkRuns:
    def __init__(self, db: Database) -> None:
        self._db = db

    def open(self, new: NewBenchmarkRun, *, force: bool = False) -> BenchmarkRunView:
        """The stored run to resume (same model, fingerprint, benchmark, version, grader and settings), or a new one.
        `force`: the stored run is superseded (kept, no longer shown) and a new one starts empty. A run with other
        settings is a different run; the leaderboard shows the most recently updated."""
        now = utcnow()
        with self._db.writing() as session:
            current = _matching(session, new)
            if current is not None and not force:
                return view_of(BenchmarkRunView, current)
            if current is not None:
                current.superseded = True
            row = BenchmarkRun(
                id=str(uuid.uuid4()),
                items_done=0,
                failures=0,
                n=0,
                report={},
                superseded=False,
                created_at=now,
                updated_at=now,
                **column_values(new, NewBenchmarkRun),
            )
            session.add(row)
            session.flush()
            return view_of(BenchmarkRunView, row)

    def find(self, new: NewBenchmarkRun) -> BenchmarkRunView | None:
        """The stored run `open` would resume, without opening one (the scheduler's "is this one done?")."""
        with self._db.reading() as session:
            row = _matching(session, new)
            return None if row is None else view_of(BenchmarkRunView, row)

    def done_keys(self, run_id: str) -> set[str]:
        """The items a run already holds (what a resumed run skips)."""
        with self._db.reading() as session:
            return set(session.scalars(select(BenchmarkItem.item_key).where(BenchmarkItem.run_id == run_id)))

    def record(self, run_id: str, items: Sequence[NewBenchmarkItem], summarize: Summarize) -> BenchmarkRunView:
        """Store finished items (ONE transaction: all or none), then the run's new summary over every item it holds.
        The summary is computed outside the write transaction (a bootstrap may take seconds, and SQLite has one
        writer) and written only if no item arrived meanwhile; a crash in between leaves the items stored and the
        summary behind, which `summarize` (called at the start of every run) repairs. An item the run already holds
        is a Conflict (two processes running the same run): nothing of this call is stored."""
        now = utcnow()
        try:
            with self._db.writing() as session:
                run = session.get(BenchmarkRun, run_id)
                if run is None:
                    raise NotFound(f"no benchmark run {run_id}")
                session.add_all(
                    BenchmarkItem(run_id=run_id, created_at=now, **column_values(item, NewBenchmarkItem))
                    for item in items
                )
                session.flush()
                run.items_done = int(session.scalar(select(func.count()).where(BenchmarkItem.run_id == run_id)) or 0)
                run.updated_at = now
        except IntegrityError as exc:
            if is_unique_violation(exc):
                message = f"benchmark run {run_id} already holds one of these items; is it running elsewhere?"
                raise Conflict(message) from exc
            raise
        return self.summarize(run_id, summarize)

    def summarize(self, run_id: str, summarize: Summarize) -> BenchmarkRunView:
        """Recompute the run's figures from every item it holds and store them, unless items arrived meanwhile (then
        whoever stored those writes theirs)."""
        stored = self.items(run_id)
        summary = summarize(stored)
        with self._db.writing() as session:
            run = session.get(BenchmarkRun, run_id)
            if run is None:
                raise NotFound(f"no benchmark run {run_id}")
            if run.items_done == len(stored):
                run.failures, run.n = summary.failures, summary.n
                run.score, run.low, run.high = summary.score, summary.low, summary.high
                run.report = {**summary.report, "summarized_items": len(stored)}
                run.updated_at = utcnow()
            session.flush()
            return view_of(BenchmarkRunView, run)

    def is_summarized(self, run: BenchmarkRunView) -> bool:
        """Whether the run's figures are over every item it holds (False after a crash between the two writes)."""
        return run.report.get("summarized_items") == run.items_done

    def items(self, run_id: str) -> list[BenchmarkItemView]:
        with self._db.reading() as session:
            query = select(BenchmarkItem).where(BenchmarkItem.run_id == run_id).order_by(BenchmarkItem.id)
            return [view_of(BenchmarkItemView, row) for row in session.scalars(query)]

    def runs(self, *, model: str | None = None, benchmark: str | None = None) -> list[BenchmarkRunView]:
        """Every run that is not superseded, newest first (the `evals list` table)."""
        query = select(BenchmarkRun).where(BenchmarkRun.superseded.is_(False))
        if model is not None:
            query = query.where(BenchmarkRun.model == model)
        if benchmark is not None:
            query = query.where(BenchmarkRun.benchmark == benchmark)
        with self._db.reading() as session:
            rows = session.scalars(query.order_by(BenchmarkRun.updated_at.desc(), BenchmarkRun.id))
            return [view_of(BenchmarkRunView, row) for row in rows]

    def latest(self) -> list[BenchmarkRunView]:
        """The figures the leaderboard shows: per (model, benchmark), the most recently updated run that has a
        score. Summary rows only: reading them costs the same whatever the answers' length."""
        query = (
            select(BenchmarkRun)
            .where(BenchmarkRun.superseded.is_(False), BenchmarkRun.score.is_not(None))
            .order_by(BenchmarkRun.updated_at, BenchmarkRun.id)
        )
        newest: dict[tuple[str, str], BenchmarkRunView] = {}
        with self._db.reading() as session:
            for row in session.scalars(query):  # one row per run: a few per model and benchmark
                newest[(row.model, row.benchmark)] = view_of(BenchmarkRunView, row)
        return [newest[key] for key in sorted(newest)]

    def marker(self) -> str:
        """Changes whenever a run is opened, superseded or gets items: the leaderboard's snapshot is stale when it
        differs from the one it was computed at. One aggregate over the runs table (a row per run)."""
        with self._db.reading() as session:
            count, newest = session.execute(select(func.count(), func.max(BenchmarkRun.updated_at))).one()
            superseded = session.scalar(select(func.count()).where(BenchmarkRun.superseded.is_(True)))
        return f"{count}:{superseded}:{newest.isoformat() if newest is not None else ''}"


def _matching(session: Session, new: NewBenchmarkRun) -> BenchmarkRun | None:
    """The newest run that is not superseded with the same identity and settings."""
    candidates = session.scalars(
        select(BenchmarkRun)
        .where(
            BenchmarkRun.model == new.model,
            BenchmarkRun.model_fingerprint == new.model_fingerprint,
            BenchmarkRun.benchmark == new.benchmark,
            BenchmarkRun.version == new.version,
            BenchmarkRun.grader == new.grader,
            BenchmarkRun.superseded.is_(False),
        )
        .order_by(BenchmarkRun.created_at.desc(), BenchmarkRun.id)
    ).all()
    # Settings shape the outputs too (a token cap, a seed): compared here, JSON equality differs by dialect.
    same = [row for row in candidates if dict(row.settings) == dict(new.settings)]
    return same[0] if same else None
