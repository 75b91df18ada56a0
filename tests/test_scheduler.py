"""The scheduler: jobs fire, one replica acts (a database lease), a dead replica hands over, run-now works from
any replica, every run is in the history; the retrain trigger; the Admin service; health endpoints."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from arena.admin import AdminDenied, AdminService
from arena.scheduler import ArenaScheduler, JobSpec, RetrainConfig, Skip, retrain_job
from models.registry import load_model_specs
from settings import Settings
from store import Store
from store.engine import make_engine
from tests.conftest import ConvertedModel
from tests.served_app import free_port


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


class Recorder:
    """A job that notes who ran it and when, and takes a little time, so overlaps would show."""

    def __init__(self, replica: str, log: list[tuple[str, float, float]], seconds: float = 0.05) -> None:
        self.replica, self.log, self.seconds = replica, log, seconds
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, str]:
        start = time.monotonic()
        time.sleep(self.seconds)
        with self._lock:
            self.log.append((self.replica, start, time.monotonic()))
        return {"by": self.replica}


def scheduler(
    storage: Store, replica: str, jobs: list[JobSpec], lease: float = 1.0, heartbeat: float = 0.2
) -> ArenaScheduler:
    return ArenaScheduler(storage.jobs, jobs, replica=replica, lease_seconds=lease,
                          heartbeat_seconds=heartbeat)  # fmt: skip


@pytest.fixture
def second_storage(db_url: str) -> Iterator[Store]:
    """Another connection pool on the same database: what a second app replica has."""
    store = Store.open(db_url)
    try:
        yield store
    finally:
        store.dispose()


# =====================================================================================================
# The lease
# =====================================================================================================


def test_one_holder_at_a_time_and_handover_after_expiry_or_release(storage: Store) -> None:
    ledger = storage.jobs
    assert ledger.acquire("a", ttl_seconds=0.5)
    assert not ledger.acquire("b", ttl_seconds=0.5)
    assert ledger.acquire("a", ttl_seconds=0.5)  # renewal
    assert ledger.holder()[0] == "a"  # type: ignore[index]
    time.sleep(0.6)  # a died: its lease runs out
    assert ledger.acquire("b", ttl_seconds=30)
    assert not ledger.acquire("a", ttl_seconds=30)
    ledger.release("b")  # a clean shutdown hands over at once
    assert ledger.acquire("a", ttl_seconds=30)


def test_concurrent_first_acquisitions_elect_exactly_one(storage: Store, second_storage: Store) -> None:
    ledgers = [storage.jobs, second_storage.jobs] * 4
    results: list[bool] = [False] * len(ledgers)
    barrier = threading.Barrier(len(ledgers))

    def contend(i: int) -> None:
        barrier.wait()
        results[i] = ledgers[i].acquire(f"replica-{i}", ttl_seconds=30)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(ledgers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 1


# =====================================================================================================
# Jobs
# =====================================================================================================


def test_jobs_fire_on_their_interval_and_every_run_is_in_the_history(storage: Store) -> None:
    runs: list[tuple[str, float, float]] = []

    def failing() -> dict[str, str]:
        raise RuntimeError("boom")

    def idle() -> dict[str, str]:
        raise Skip("nothing to do")

    jobs = [
        JobSpec("record", Recorder("a", runs), seconds=0.3),
        JobSpec("failing", failing, seconds=0.3),
        JobSpec("idle", idle, seconds=0.3),
    ]
    arena_scheduler = scheduler(storage, "a", jobs)
    arena_scheduler.start()
    try:
        wait_until(lambda: len(runs) >= 3)
    finally:
        arena_scheduler.shutdown()
    history = storage.jobs.history(200)
    by_job = {job: [r for r in history if r.job == job] for job in ("record", "failing", "idle")}
    assert all(r.status == "succeeded" and r.result["by"] == "a" for r in by_job["record"])  # type: ignore[index]
    assert all(r.started_at and r.finished_at and r.finished_at >= r.started_at for r in by_job["record"])
    assert by_job["failing"]
    assert all(r.status == "failed" and r.error == "RuntimeError: boom" for r in by_job["failing"])
    assert by_job["idle"] and all(r.status == "skipped" and r.error == "nothing to do" for r in by_job["idle"])
    # Shut down cleanly: nothing is left running, and the lease is given up.
    assert not [r for r in history if r.status == "running"]
    holder = storage.jobs.holder()
    assert holder is not None and holder[1] < datetime.now(UTC)


def test_two_replicas_never_run_the_same_job_and_a_dead_one_hands_over(storage: Store, second_storage: Store) -> None:
    runs: list[tuple[str, float, float]] = []
    first = scheduler(storage, "first", [JobSpec("job", Recorder("first", runs), seconds=0.2)])
    second = scheduler(second_storage, "second", [JobSpec("job", Recorder("second", runs), seconds=0.2)])
    first.start()
    wait_until(lambda: len(runs) >= 1)  # first holds the lease before the second starts
    second.start()
    try:
        time.sleep(1.5)
        assert {who for who, _, _ in runs} == {"first"}
        ordered = sorted(runs, key=lambda r: r[1])
        assert all(a[2] <= b[1] for a, b in itertools.pairwise(ordered))  # never two at once

        # The first replica dies (no clean shutdown: its lease is not released, it just stops renewing).
        first._scheduler.shutdown(wait=True)
        died = time.monotonic()
        wait_until(lambda: any(who == "second" for who, _, _ in runs), timeout=10)
        took_over = min(start for who, start, _ in runs if who == "second")
        assert took_over - died < 1.0 + 0.5  # within the lease time plus a firing
        assert max(start for who, start, _ in runs if who == "first") < took_over
    finally:
        second.shutdown()


def test_run_now_from_any_replica_is_run_once_by_the_lease_holder(storage: Store, second_storage: Store) -> None:
    runs: list[tuple[str, float, float]] = []
    leader = scheduler(storage, "leader", [JobSpec("on-demand", Recorder("leader", runs))])  # no timer
    follower = scheduler(second_storage, "follower", [JobSpec("on-demand", Recorder("follower", runs))])
    leader.start()
    wait_until(lambda: storage.jobs.holder() is not None)
    follower.start()
    try:
        run_id = follower.request("on-demand", "admin")  # the click landed on the follower
        ledger = storage.jobs
        wait_until(lambda: ledger.history(10)[0].status == "succeeded")
        (run,) = [r for r in ledger.history(10) if r.id == run_id]
        assert (run.replica, run.requested_by, run.status) == ("leader", "admin", "succeeded")
        assert run.requested_at is not None and run.started_at is not None
        time.sleep(0.5)
        assert [who for who, _, _ in runs] == ["leader"]
        with pytest.raises(KeyError, match="no job 'nope'"):
            follower.request("nope")
    finally:
        follower.shutdown()
        leader.shutdown()


# =====================================================================================================
# Retraining
# =====================================================================================================


def test_retrain_waits_for_enough_new_decisive_votes(storage: Store, tmp_path: Path) -> None:
    from tests.test_training_rlhf import write_votes

    storage.registry.sync(load_model_specs())
    config = RetrainConfig(database_url="unused", runs_dir=tmp_path, min_new_votes=5)
    job = retrain_job(config, storage.votes.count_decisive, lambda: None)
    write_votes(storage, 4)
    write_votes(storage, 3, seed=1, winner="tie")  # ties do not count
    with pytest.raises(Skip, match="4 new decisive votes since the last retrain, 5 needed"):
        job()
    assert not list(tmp_path.iterdir())  # nothing started
    later = datetime.now(UTC)
    assert storage.votes.count_decisive(since=later) == 0


@pytest.mark.slow
def test_the_retrain_job_trains_and_a_new_contender_enters(tmp_path: Path, converted_model: ConvertedModel) -> None:
    from tests.test_training_rlhf import write_votes

    url = f"sqlite:///{tmp_path / 'arena.db'}"
    storage = Store.open(url)
    try:
        storage.registry.sync(load_model_specs())
        write_votes(storage, 40)
        # A smoke run's few held-out pairs can never pass the gates (training.evidence): the operator forces it.
        forced = ("--force-register", "--reason", "scheduler smoke test")
        config = RetrainConfig(database_url=url, runs_dir=tmp_path / "runs", recipe="cpu-smoke", min_new_votes=30,
                               model_cache=converted_model.cache_dir, extra_args=forced)  # fmt: skip
        last_run = lambda: runs[-1].started_at if (runs := storage.training_runs.runs("rlhf")) else None  # noqa: E731
        job = retrain_job(config, storage.votes.count_decisive, last_run)
        arena_scheduler = scheduler(storage, "trainer", [JobSpec("retrain", job)], lease=30, heartbeat=0.5)
        arena_scheduler.start()
        try:
            run_id = arena_scheduler.request("retrain")
            ledger = storage.jobs
            finished = ("succeeded", "failed", "skipped")
            wait_until(lambda: next(r for r in ledger.history(5) if r.id == run_id).status in finished, 600)
            (run,) = [r for r in ledger.history(5) if r.id == run_id]
        finally:
            arena_scheduler.shutdown()
        assert run.status == "succeeded", run.error
        assert run.result is not None and run.result["registered_model"] == "smollm2-135m-rlhf-v1"
        assert run.result["gates"]["passed"] is False
        anonymous = [m.name for m in storage.registry.models(anonymous_only=True)]
        assert "smollm2-135m-rlhf-v1" in anonymous
        # The run's votes are now "old": the trigger waits for new ones.
        with pytest.raises(Skip, match="0 new decisive votes"):
            job()
    finally:
        storage.dispose()


# =====================================================================================================
# Admin
# =====================================================================================================


def test_admin_needs_the_configured_token(storage: Store) -> None:
    storage.registry.sync(load_model_specs())
    ledger = storage.jobs
    requested: list[tuple[str, str]] = []
    admin = AdminService("s3cret", storage, ["leaderboard"], lambda job, who: requested.append((job, who)) or 7)
    for token in (None, "", "wrong", "s3cret "):
        with pytest.raises(AdminDenied, match="Wrong admin token"):
            admin.job_history(token)
    with pytest.raises(AdminDenied, match="set ARENA_ADMIN_TOKEN"):
        AdminService("", storage, [], lambda job, who: 0).models("anything")

    assert "Requested leaderboard (run 7)" in admin.run_now("s3cret", "leaderboard")
    assert requested == [("leaderboard", "admin")]
    with pytest.raises(AdminDenied, match="Unknown job"):
        admin.run_now("s3cret", "rm -rf")
    name = admin.models("s3cret")[0][0]
    assert admin.set_enabled("s3cret", name, False) == f"{name} is now disabled."
    assert storage.registry.get(name).enabled is False
    with pytest.raises(AdminDenied, match="no model named"):
        admin.set_enabled("s3cret", "ghost", True)
    run_id = ledger.start("leaderboard", "r1")
    ledger.finish(run_id, "succeeded", result={"snapshot": 3})
    (row,) = admin.job_history("s3cret")
    assert row[:4] == [run_id, "leaderboard", "succeeded", "r1"] and row[-1] == {"snapshot": 3}


# =====================================================================================================
# Health endpoints and the server's lifespan
# =====================================================================================================


def test_health_readiness_and_clean_shutdown(tmp_path: Path, converted_model: ConvertedModel) -> None:
    from app import build_arena, create_server

    settings = Settings(
        data_dir=tmp_path / "data", model_cache_dir=converted_model.cache_dir, preload_models=False,
        judge_model="", leaderboard_refresh_seconds=0.2, scheduler_heartbeat_seconds=0.2,
        scheduler_lease_seconds=1.0, retrain_check_seconds=3600,
    )  # fmt: skip
    arena = build_arena(settings)
    ledger = arena.store.jobs
    with TestClient(create_server(arena)) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {**ready.json(), "ready": True, "database": True, "migrations": True, "contenders": 4}
        # The scheduler started with the server: the leaderboard job runs on its short interval.
        wait_until(lambda: any(r.job == "leaderboard" and r.status == "succeeded" for r in ledger.history(20)))
        assert client.get("/").status_code == 200

        with arena.store.engine.begin() as connection:  # an older schema: not ready to serve
            connection.execute(text("UPDATE alembic_version SET version_num = '0004'"))
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503 and not_ready.json()["migrations"] is False
    # Leaving the server ran its shutdown: the scheduler stopped and gave the lease up.
    assert arena.scheduler._scheduler is None
    engine = make_engine(settings.resolved_database_url)  # the database as it was left, not migrated again
    try:
        holder = Store(engine).jobs.holder()
        assert holder is not None and holder[1] < datetime.now(UTC)
    finally:
        engine.dispose()


# =====================================================================================================
# Two real app processes on one PostgreSQL
# =====================================================================================================


def _ready(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_two_app_processes_share_the_jobs_and_shut_down_cleanly(
    postgres_schema_url: str, tmp_path: Path, converted_model: ConvertedModel
) -> None:
    import os
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    ports = [free_port(), free_port()]
    processes = []
    for i, port in enumerate(ports):
        env = {
            **os.environ,
            "ARENA_DATABASE_URL": postgres_schema_url, "ARENA_DATA_DIR": str(tmp_path / f"replica-{i}"),
            "ARENA_PORT": str(port), "ARENA_PRELOAD_MODELS": "false", "ARENA_JUDGE_MODEL": "",
            "ARENA_MODEL_CACHE": str(converted_model.cache_dir), "ARENA_LEADERBOARD_REFRESH_SECONDS": "0.3",
            "ARENA_SCHEDULER_HEARTBEAT_SECONDS": "0.3", "ARENA_SCHEDULER_LEASE_SECONDS": "2",
            "ARENA_RETRAIN_CHECK_SECONDS": "3600", "ARENA_VOTER_SALT": "same-salt-on-every-replica",
        }  # fmt: skip
        log = (tmp_path / f"replica-{i}.log").open("w")  # a file, not a pipe: a full pipe would stall the app
        processes.append(subprocess.Popen([sys.executable, "app.py"], cwd=repo, env=env, stdout=log, stderr=log))
    storage = Store.open(postgres_schema_url)
    ledger = storage.jobs
    try:
        wait_until(lambda: all(_ready(port) for port in ports), timeout=120)
        wait_until(lambda: len(ledger.history(500, job="leaderboard")) >= 6, timeout=30)
        runs = [r for r in ledger.history(500, job="leaderboard") if r.status != "requested"]
        leaders = {r.replica for r in runs}
        assert len(leaders) == 1, leaders  # both schedulers fire every 0.3 s; only the lease holder runs
        ordered = sorted(runs, key=lambda r: r.id)
        assert all(a.finished_at is None or b.started_at >= a.finished_at for a, b in itertools.pairwise(ordered))

        # SIGTERM to the process holding the lease: it finishes, releases the lease, and the other takes over.
        holder = ledger.holder()
        assert holder is not None
        leader_index = next(i for i, p in enumerate(processes) if f":{p.pid}:" in holder[0])
        assert leaders == {holder[0]}
        processes[leader_index].send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM after its shutdown completes, so "killed by SIGTERM" is the normal exit status.
        assert processes[leader_index].wait(timeout=60) in (0, -signal.SIGTERM)
        shutdown_log = (tmp_path / f"replica-{leader_index}.log").read_text()
        assert "stopping the scheduler after its running jobs" in shutdown_log
        assert "Application shutdown complete" in shutdown_log
        stopped = datetime.now(UTC)
        wait_until(lambda: any(r.replica not in leaders for r in ledger.history(50, job="leaderboard")), 15)
        assert not [r for r in ledger.history(500) if r.status == "running" and r.replica in leaders]
        first_new = min(r.started_at for r in ledger.history(500, job="leaderboard") if r.replica not in leaders)
        assert first_new is not None and (first_new - stopped).total_seconds() < 2  # released, not expired
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
        storage.dispose()
