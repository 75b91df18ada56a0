"""The app's scheduler (APScheduler 3.11): leaderboard snapshots, the judge backlog and retraining, each a job
with a fixed id, run only on the replica holding the database lease (store.jobs), recorded in the job history.

Jobs are plain callables returning a small JSON-ready dict (what they produced); the scheduler knows nothing
about what they do. Retraining runs `python -m training.rlhf` in a subprocess (`retrain_job`), so a training
run never blocks the web app, and a crash in it is a failed job, not a dead app.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store.jobs import JobLedger

log = logging.getLogger(__name__)

JobResult = Mapping[str, Any]


@dataclass(frozen=True)
class JobSpec:
    """One job: a fixed id, when it fires (every `seconds`, or a crontab line), and what it runs."""

    id: str
    run: Callable[[], JobResult]
    seconds: float | None = None
    cron: str | None = None
    description: str = ""


class Skip(Exception):
    """Raised by a job that had nothing to do (recorded as "skipped" with the reason)."""


@dataclass
class ArenaScheduler:
    ledger: JobLedger
    jobs: list[JobSpec]
    # host:pid:random, so an operator (and a test) can tell which process holds the lease.
    replica: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    _scheduler: Any = field(default=None, init=False, repr=False)
    _running: set[str] = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        ids = [job.id for job in self.jobs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"job ids must be unique: {ids}")
        if self.lease_seconds <= 2 * self.heartbeat_seconds:
            # A lease shorter than two heartbeats lapses between renewals whenever one heartbeat is late.
            raise ValueError("lease_seconds must be more than twice heartbeat_seconds")

    @property
    def job_ids(self) -> list[str]:
        return [job.id for job in self.jobs]

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
        )
        scheduler.add_job(self.heartbeat, IntervalTrigger(seconds=self.heartbeat_seconds), id="heartbeat",
                          next_run_time=datetime.now(UTC), replace_existing=True)  # fmt: skip
        for job in self.jobs:
            if job.cron:
                trigger = CronTrigger.from_crontab(job.cron, timezone=UTC)
            elif job.seconds:
                trigger = IntervalTrigger(seconds=job.seconds)
            else:
                continue  # run on request only
            scheduler.add_job(self.execute, trigger, args=[job.id], id=job.id, replace_existing=True)
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler started as %s with jobs %s", self.replica, ", ".join(self.job_ids))

    def shutdown(self, wait: bool = True) -> None:
        """Stop firing jobs, wait for running ones (so nothing is left half-done), give the lease up."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=wait)
            self._scheduler = None
        try:
            self.ledger.release(self.replica)
        except Exception:
            log.exception("could not release the scheduler lease; it expires in %.0f s", self.lease_seconds)

    def is_leader(self) -> bool:
        return self.ledger.acquire(self.replica, self.lease_seconds)

    def heartbeat(self) -> None:
        """Renew the lease; as the holder, start the runs people asked for."""
        try:
            if not self.is_leader():
                return
            for run in self.ledger.claim_requested(self.replica):
                threading.Thread(
                    target=self._run_claimed, args=(run.id, run.job), name=f"job-{run.job}-{run.id}", daemon=True
                ).start()
        except Exception:
            log.exception("scheduler heartbeat failed")

    def request(self, job_id: str, requested_by: str = "admin") -> int:
        """Ask for a run now, from any replica; the lease holder starts it within a heartbeat."""
        self._spec(job_id)
        return self.ledger.request(job_id, requested_by)

    def execute(self, job_id: str) -> int | None:
        """A timed firing: run the job if this replica holds the lease; returns the run id (None: not ours)."""
        if not self.is_leader():
            return None
        if not self._claim_slot(job_id):
            log.info("job %s is still running; this firing is skipped", job_id)
            return None
        try:
            run_id = self.ledger.start(job_id, self.replica)
            self._run(run_id, job_id)
        finally:
            self._release_slot(job_id)
        return run_id

    def _run_claimed(self, run_id: int, job_id: str) -> None:
        if not self._claim_slot(job_id):
            self.ledger.finish(run_id, "skipped", error="a run of this job was already in progress")
            return
        try:
            self._run(run_id, job_id)
        finally:
            self._release_slot(job_id)

    def _run(self, run_id: int, job_id: str) -> None:
        started = time.perf_counter()
        try:
            spec = self._spec(job_id)
            result = dict(spec.run())
            result["seconds"] = round(time.perf_counter() - started, 3)
            self.ledger.finish(run_id, "succeeded", result=result)
            log.info("job %s (run %d) succeeded: %s", job_id, run_id, result)
        except Skip as reason:
            self.ledger.finish(run_id, "skipped", error=str(reason))
            log.info("job %s (run %d) skipped: %s", job_id, run_id, reason)
        except Exception as exc:
            log.exception("job %s (run %d) failed", job_id, run_id)
            self.ledger.finish(run_id, "failed", error=f"{type(exc).__name__}: {exc}")

    def _spec(self, job_id: str) -> JobSpec:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(f"no job {job_id!r}; jobs: {', '.join(self.job_ids)}")

    def _claim_slot(self, job_id: str) -> bool:
        # A run-now request and a timed firing of the same job must not overlap in one replica.
        with self._lock:
            if job_id in self._running:
                return False
            self._running.add(job_id)
            return True

    def _release_slot(self, job_id: str) -> None:
        with self._lock:
            self._running.discard(job_id)


# --- retraining -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrainConfig:
    database_url: str
    runs_dir: Path
    recipe: str = "cpu-smoke"
    min_new_votes: int = 500  # decisive votes since the last retrain before the next one
    timeout_seconds: float = 7200.0
    model_cache: Path | None = None
    extra_args: tuple[str, ...] = ()


def retrain_job(
    config: RetrainConfig, new_votes_since: Callable[[datetime | None], int], last_run: Callable[[], datetime | None]
) -> Callable[[], JobResult]:
    """The retrain job: skip until `min_new_votes` decisive votes arrived since the last retrain, then run
    `python -m training.rlhf --from-votes` in a subprocess and report what it registered."""

    def run() -> JobResult:
        since = last_run()
        new_votes = new_votes_since(since)
        if new_votes < config.min_new_votes:
            raise Skip(f"{new_votes} new decisive votes since the last retrain, {config.min_new_votes} needed")
        out = config.runs_dir / f"rlhf-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        argv = [sys.executable, "-m", "training.rlhf", "--from-votes", "--recipe", config.recipe,
                "--db", config.database_url, "--out", str(out), *config.extra_args]  # fmt: skip
        if config.model_cache is not None:
            argv += ["--model-cache", str(config.model_cache)]
        out.mkdir(parents=True, exist_ok=True)
        with (out / "train.log").open("w") as logfile:
            completed = subprocess.run(
                argv, stdout=logfile, stderr=subprocess.STDOUT, timeout=config.timeout_seconds, check=False
            )
        tail = (out / "train.log").read_text(errors="replace").strip().splitlines()[-5:]
        if completed.returncode != 0:
            raise RuntimeError(f"training.rlhf exited with {completed.returncode}: {' | '.join(tail)}")
        report = json.loads((out / "report.json").read_text())
        return {
            "new_votes": new_votes,
            "out": str(out),
            "registered_model": report.get("registered_model"),
            "gates": report.get("evaluation", {}).get("gates"),
            "training_run": report.get("training_run"),
        }

    return run
