"""The scheduler's records in the database: the lease that makes exactly one replica act, and the job history.

Several app replicas may share one PostgreSQL database. Each runs a scheduler, but a job runs only on the
replica holding the "scheduler" lease: a row (holder, expires_at) taken or renewed in one transaction, under a
row lock on PostgreSQL and SQLite's write lock. The holder renews it every heartbeat; a replica that dies stops
renewing, and after the lease expires another takes over. "Run now" from the Admin tab is a `requested` row
that the current holder claims on its next heartbeat, so it works from whichever replica served the click.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from store.db import Database, utc
from store.tables import JobRun, SchedulerLease, utcnow
from store.views import JobRunView, view_of

SCHEDULER_LEASE = "scheduler"


class JobLedger:
    """Leases and job runs. Every method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self._engine = db.engine
        self._writer = db.writer

    # --- lease ------------------------------------------------------------------------------------------

    def acquire(self, holder: str, ttl_seconds: float, name: str = SCHEDULER_LEASE) -> bool:
        """Take or renew the lease for `ttl_seconds`; False while another holder's lease is unexpired."""
        now = utcnow()
        expires = now + timedelta(seconds=ttl_seconds)
        try:
            with self._writer.begin() as connection:
                row = connection.execute(
                    select(SchedulerLease.holder, SchedulerLease.expires_at)
                    .where(SchedulerLease.name == name)
                    .with_for_update()
                ).first()
                if row is None:
                    connection.execute(insert(SchedulerLease).values(name=name, holder=holder, expires_at=expires))
                    return True
                if row.holder != holder and utc(row.expires_at) > now:
                    return False
                connection.execute(
                    update(SchedulerLease).where(SchedulerLease.name == name).values(holder=holder, expires_at=expires)
                )
                return True
        except IntegrityError:
            return False  # another replica inserted the first lease row at the same moment: it holds it

    def release(self, holder: str, name: str = SCHEDULER_LEASE) -> None:
        """Give the lease up at shutdown, so another replica takes over at once instead of after the TTL."""
        with self._writer.begin() as connection:
            connection.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
                .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC))
            )

    def holder(self, name: str = SCHEDULER_LEASE) -> tuple[str, datetime] | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(SchedulerLease.holder, SchedulerLease.expires_at).where(SchedulerLease.name == name)
            ).first()
        return None if row is None else (row.holder, utc(row.expires_at))

    # --- runs -------------------------------------------------------------------------------------------

    def start(self, job: str, replica: str) -> int:
        with self._writer.begin() as connection:
            return int(
                connection.execute(
                    insert(JobRun)
                    .values(job=job, status="running", replica=replica, started_at=utcnow())
                    .returning(JobRun.id)
                ).scalar_one()
            )

    def finish(
        self, run_id: int, status: str, *, error: str | None = None, result: Mapping[str, Any] | None = None
    ) -> None:
        if status not in ("succeeded", "failed", "skipped"):
            raise ValueError(f"a run finishes as succeeded, failed or skipped, not {status!r}")
        with self._writer.begin() as connection:
            connection.execute(
                update(JobRun)
                .where(JobRun.id == run_id)
                .values(status=status, finished_at=utcnow(), error=error, result=dict(result) if result else None)
            )

    def request(self, job: str, requested_by: str) -> int:
        """Ask for a run now; the replica holding the lease starts it on its next heartbeat."""
        with self._writer.begin() as connection:
            return int(
                connection.execute(
                    insert(JobRun)
                    .values(job=job, status="requested", requested_by=requested_by, requested_at=utcnow())
                    .returning(JobRun.id)
                ).scalar_one()
            )

    def claim_requested(self, replica: str) -> list[JobRunView]:
        """Mark every requested run as running on `replica` and return them (each claimed once, by one)."""
        with self._writer.begin() as connection:
            claimed = connection.execute(
                update(JobRun)
                .where(JobRun.status == "requested")
                .values(status="running", replica=replica, started_at=utcnow())
                .returning(*JobRun.__table__.columns)
            ).all()
        return [_view(row._mapping) for row in claimed]

    def history(self, limit: int = 50, job: str | None = None) -> list[JobRunView]:
        """Newest first."""
        query = select(*JobRun.__table__.columns).order_by(JobRun.id.desc()).limit(limit)
        if job is not None:
            query = query.where(JobRun.job == job)
        with self._engine.connect() as connection:
            return [_view(row._mapping) for row in connection.execute(query)]


def _view(row: Mapping[str, Any]) -> JobRunView:
    return view_of(JobRunView, row)
