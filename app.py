"""Huggy Arena: settings -> storage -> registry -> services -> scheduler -> UI. Nothing else lives here.

Run it:  make run   (or: .venv/bin/python app.py)
Configure with ARENA_* environment variables or a YAML file named by ARENA_CONFIG (see README.md).

Served by uvicorn: the Gradio app at /, plus /healthz (the process answers) and /readyz (database reachable and
migrated, contenders registered and loaded). SIGTERM stops taking requests, lets running ones finish (each vote
is one transaction either way), stops the scheduler after its running jobs, and closes the database.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from gradio.utils import get_upload_folder
from sqlalchemy import text

from arena.admin import AdminService
from arena.admin_ui import build_admin_tab
from arena.battles import ArenaConfig, ArenaService
from arena.db import head_revision
from arena.jobs import JobLedger
from arena.judging import JudgeConfig, JudgeRunner
from arena.logs import configure_logging
from arena.moderation import moderator_from_settings
from arena.safety import client_hash
from arena.scheduler import ArenaScheduler, JobSpec, RetrainConfig, Skip, retrain_job
from arena.settings import Settings
from arena.storage import Storage
from arena.tempfiles import prune
from arena.ui import CSS, HEAD, Guards, Identity, build_ui, theme
from arena.upload_audits import UploadAudits
from arena.web import GenerationGate, QueueMiddleware, StreamListeners, h11_with_head_timeout
from leaderboard.db import load_battles
from leaderboard.io import ReadLimits, read_battles
from leaderboard.judge_audit import audit_judges, render_markdown
from leaderboard.page import build_page_payload
from leaderboard.service import LeaderboardService
from leaderboard.snapshots import SnapshotStore
from models.embedded import default_cache_dir
from models.pool import BackendPool
from models.registry import load_model_specs

log = logging.getLogger("huggy_arena")


def provenance(storage: Storage) -> dict[str, str]:
    """Model -> provenance text, for the judge audit's self-preference (a judge named there trained it)."""
    return {m.name: m.provenance for m in storage.list_models(enabled_only=False) if m.provenance}


@dataclass
class ArenaApp:
    """Everything the process runs: the UI, and what has to be started and stopped around it."""

    settings: Settings
    demo: gr.Blocks
    storage: Storage
    pool: BackendPool
    scheduler: ArenaScheduler
    guards: Guards
    upload_audits: UploadAudits

    def readiness(self) -> dict[str, Any]:
        """What /readyz reports; `ready` only when every check passed."""
        checks: dict[str, Any] = {}
        try:
            with self.storage.engine.connect() as connection:
                revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            checks["database"] = True
            checks["migrations"] = revision == head_revision()
            contenders = self.storage.list_models(anonymous_only=True)
            checks["contenders"] = len(contenders)
            local = {m.engine_key for m in contenders if m.backend == "local"}
            checks["models_loaded"] = not self.settings.preload_models or local <= set(self.pool.loaded())
        except Exception as exc:  # a readiness probe reports; it never raises
            checks["database"] = False
            checks["error"] = f"{type(exc).__name__}: {exc}"
        ready = bool(checks.get("database") and checks.get("migrations") and checks.get("contenders", 0) >= 2) and bool(
            checks.get("models_loaded")
        )
        return {"ready": ready, **checks}

    def start_background(self) -> None:
        if self.settings.scheduler_enabled:
            self.scheduler.start()

    def close(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.upload_audits.shutdown()
        self.storage.dispose()


def scheduled_jobs(
    settings: Settings, storage: Storage, leaderboard: LeaderboardService, judge: JudgeRunner | None
) -> list[JobSpec]:
    def refresh_leaderboard() -> dict[str, Any]:
        snapshot = leaderboard.refresh()
        if snapshot is None:
            raise Skip("no votes yet")
        return {"snapshot": snapshot.id, "votes": snapshot.votes_total}

    def judge_backlog() -> dict[str, Any]:
        assert judge is not None
        report = judge.run_backlog(20)
        if not report.judged:
            raise Skip("no unjudged turns")
        return {"judged": report.judged, "votes": report.votes, "parse_failures": report.parse_failures}

    def last_rlhf_run() -> datetime | None:
        runs = storage.list_training_runs("rlhf")
        return runs[-1].started_at if runs else None

    retrain = RetrainConfig(
        database_url=settings.resolved_database_url,
        runs_dir=(settings.data_dir / "runs").resolve(),
        recipe=settings.retrain_recipe,
        min_new_votes=settings.retrain_min_new_votes,
        timeout_seconds=settings.retrain_timeout_seconds,
        model_cache=settings.model_cache_dir,
    )
    new_votes = storage.count_decisive_votes
    jobs = [
        JobSpec("leaderboard", refresh_leaderboard, seconds=settings.leaderboard_refresh_seconds,
                description="recompute the stored leaderboard snapshot"),
        JobSpec("retrain", retrain_job(retrain, new_votes, last_rlhf_run), seconds=settings.retrain_check_seconds,
                description=f"RLHF ({settings.retrain_recipe}) after {settings.retrain_min_new_votes} new votes"),
    ]  # fmt: skip
    if settings.retrain_cron:
        on_schedule = RetrainConfig(**{**retrain.__dict__, "min_new_votes": 1})
        jobs.append(JobSpec("retrain-cron", retrain_job(on_schedule, new_votes, last_rlhf_run),
                            cron=settings.retrain_cron, description="RLHF on the cron schedule"))  # fmt: skip
    if judge is not None:
        jobs.append(JobSpec("judge", judge_backlog, seconds=settings.judge_interval_seconds,
                            description=f"judge new battles as {judge.config.source}"))  # fmt: skip
    return jobs


def build_arena(settings: Settings | None = None) -> ArenaApp:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage = Storage.from_url(settings.resolved_database_url)
    storage.sync_models(load_model_specs(settings.models_file))
    pool = BackendPool(settings.model_cache_dir or default_cache_dir(), device=settings.device)
    if settings.preload_models:
        pool.preload(storage.list_models())
    service = ArenaService(
        storage=storage,
        backend_for=pool.get,
        config=ArenaConfig(
            max_conversation_tokens=settings.max_conversation_tokens,
            max_new_tokens=settings.max_new_tokens,
            max_message_chars=settings.max_message_chars,
            identity_words=settings.identity_words,
            rate_limit_messages=settings.rate_limit_messages,
            rate_limit_votes=settings.rate_limit_votes,
            rate_limit_messages_per_client=settings.rate_limit_messages_per_client,
            rate_limit_votes_per_client=settings.rate_limit_votes_per_client,
        ),
        moderator=moderator_from_settings(settings),
    )
    leaderboard = LeaderboardService(
        store=SnapshotStore(storage.engine),
        load_battles=lambda: load_battles(storage),
        descriptions=lambda: {m.name: m.description for m in storage.list_models(enabled_only=False)},
        build_payload=build_page_payload,
        min_new_votes=settings.leaderboard_min_new_votes,
    )
    leaderboard.refresh_in_background()  # at start-up; afterwards on the schedule and when enough votes arrived
    judge = None
    judge_model = settings.resolved_judge_model()
    if judge_model:
        config = JudgeConfig(model=judge_model, name=settings.judge_name, scale=settings.judge_scale)  # type: ignore[arg-type]
        judge = JudgeRunner(storage, pool.get, config, concurrency=settings.judge_concurrency)
        log.info("judging new battles on the schedule as %s with %s", config.source, judge_model)
    ledger = JobLedger(storage.engine)
    scheduler = ArenaScheduler(
        ledger,
        scheduled_jobs(settings, storage, leaderboard, judge),
        lease_seconds=settings.scheduler_lease_seconds,
        heartbeat_seconds=settings.scheduler_heartbeat_seconds,
    )
    admin = AdminService(
        settings.admin_token, storage, ledger, scheduler.job_ids, scheduler.request, settings.admin_max_failures
    )
    salt = settings.resolved_voter_salt()
    identity = Identity(salt=salt)
    limits = ReadLimits(max_bytes=int(settings.upload_max_mb * 1024 * 1024), max_rows=settings.upload_max_rows)
    upload_audits = UploadAudits(
        lambda path, name: render_markdown(audit_judges(read_battles(path, limits=limits, name=name), rounds=200))
    )
    guards = Guards(gate=GenerationGate(settings.generations_per_client), listeners=StreamListeners())
    demo = build_ui(
        service,
        identity,
        concurrency=settings.generation_concurrency,
        leaderboard=leaderboard.read,
        judge_audit=lambda: render_markdown(audit_judges(load_battles(storage), self_trained=provenance(storage))),
        upload_audits=upload_audits,
        admin_tab=lambda: build_admin_tab(admin, lambda address: client_hash(salt, address)),
        guards=guards,
        queue_size=settings.queue_max_size or None,
    )
    return ArenaApp(settings, demo, storage, pool, scheduler, guards, upload_audits)


def create_app(settings: Settings | None = None) -> gr.Blocks:
    """The Gradio app alone (tests launch it directly); the scheduler is started by `create_server`."""
    return build_arena(settings).demo


def create_server(arena: ArenaApp) -> FastAPI:
    """The process's web app: health endpoints, then the Gradio UI at /, with start-up and shutdown."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Uploads a killed process left behind (Gradio cleans only what its own process created).
        prune(Path(get_upload_folder()))
        arena.start_background()
        try:
            yield
        finally:
            log.info("shutting down: stopping the scheduler after its running jobs")
            arena.close()

    server = FastAPI(lifespan=lifespan)
    # Which Gradio sessions listen to their event stream (queued work for a session that never does is dropped),
    # and one queue join at a time (so that the queue's limits hold under concurrent joins).
    server.add_middleware(QueueMiddleware, listeners=arena.guards.listeners)

    @server.get("/healthz")
    def healthz(request: Request) -> dict[str, str]:
        # `client`: the address the arena sees for this request. Behind a proxy it must be the visitor's, not the
        # proxy's; if it is the proxy's, name the proxy in ARENA_FORWARDED_ALLOW_IPS.
        client = request.client.host if request.client else ""
        return {"status": "ok", "time": datetime.now(UTC).isoformat(), "client": client}

    @server.get("/readyz")
    def readyz() -> JSONResponse:
        report = arena.readiness()
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    settings = arena.settings
    app = gr.mount_gradio_app(
        server,
        arena.demo,
        path="/",
        css=CSS,
        head=HEAD,
        theme=theme(),
        ssr_mode=False,
        max_file_size=int(settings.upload_max_mb * 1024 * 1024),
    )
    # Gradio checks that a file handed to an event was uploaded, not named by path, only once `has_launched` is
    # set, which launch() does and mount_gradio_app does not: without this, any server file a client names could
    # be copied into the cache and downloaded.
    arena.demo.has_launched = True
    return app


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the app: client addresses from trusted proxies only, bounded slow and idle connections."""
    trusted = settings.forwarded_allow_ips.strip()
    return {
        "host": settings.host,
        "port": settings.port,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "http": h11_with_head_timeout(settings.http_head_timeout_seconds),
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "limit_concurrency": settings.http_max_connections,
        "timeout_graceful_shutdown": 30,
        "log_config": None,
    }


def main() -> None:
    import uvicorn

    settings = Settings()
    configure_logging(settings.log_format)
    arena = build_arena(settings)
    log.info("Huggy Arena on http://%s:%d (database %s)", settings.host, settings.port, settings.resolved_database_url)
    if os.environ.get("SPACE_ID") and not settings.forwarded_allow_ips:
        log.warning(
            "running on a Hugging Face Space without ARENA_FORWARDED_ALLOW_IPS: every visitor has the proxy's address, "
            "so they share one set of per-address limits. See README.md, Deploying."
        )
    # uvicorn handles SIGTERM/SIGINT: it stops accepting, waits for in-flight requests, then runs the lifespan's
    # shutdown (scheduler, database).
    uvicorn.run(create_server(arena), **uvicorn_options(settings))


if __name__ == "__main__":
    main()
