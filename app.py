"""Huggy Arena: settings -> store -> registry -> services -> scheduler -> UI. Nothing else lives here.

Run it:  make run   (or: .venv/bin/python app.py)
Configure with ARENA_* environment variables or a YAML file named by ARENA_CONFIG (see README.md).

Served by uvicorn: the Gradio app at /, plus /healthz (the process answers) and /readyz (database reachable and
migrated, contenders registered and loaded). SIGTERM stops taking requests, lets running ones finish (each vote
is one transaction either way), stops the scheduler after its running jobs, and closes the database.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from gradio.utils import get_upload_folder

from arena.admin import AdminService
from arena.battles import ArenaConfig, ArenaService
from arena.judging import JudgeConfig, JudgeRunner
from arena.logs import configure_logging
from arena.moderation import moderator_from_settings
from arena.personal import PersonalLeaderboard
from arena.safety import client_hash
from arena.sampling import BurnIn, SamplingPolicy, snapshot_standings
from arena.scheduler import ArenaScheduler, JobSpec, RetrainConfig, Skip, retrain_job
from arena.upload_audits import UploadAudits, audit_result
from arena.vote_screen import screen_votes
from evals.service import run_next_pending
from facts.vocabulary import HUMAN
from leaderboard.benchmark_columns import benchmark_payload, describe
from leaderboard.composite import parse_source_weights
from leaderboard.io import ReadLimits, read_battles
from leaderboard.judge_audit import AuditLimits, audit_judges, judge_usage
from leaderboard.page import build_criteria_payload, view_key
from leaderboard.service import SnapshotService, combined_marker, listed_marker
from models.pool import BackendPool
from models.registry import ModelSpec, load_model_specs
from models.types import ChatBackend
from settings import Settings
from store import Store
from store.snapshots import JUDGE_AUDIT, LEADERBOARD
from training.outcomes import read_training_outcomes
from ui.admin import build_admin_tab
from ui.arena import CSS, HEAD, Guards, Identity, build_ui, theme
from ui.tempfiles import prune
from ui.web import GenerationGate, QueueMiddleware, StreamListeners, h11_with_head_timeout

log = logging.getLogger("huggy_arena")


@dataclass
class ArenaApp:
    """Everything the process runs: the UI, and what has to be started and stopped around it."""

    settings: Settings
    demo: gr.Blocks
    store: Store
    pool: BackendPool
    scheduler: ArenaScheduler
    guards: Guards
    upload_audits: UploadAudits
    leaderboard: SnapshotService
    judge_audit: SnapshotService

    def readiness(self) -> dict[str, Any]:
        """What /readyz reports; `ready` only when every check passed."""
        checks: dict[str, Any] = {}
        try:
            checks["database"], checks["migrations"] = self.store.schema_status()
            contenders = self.store.registry.models(anonymous_only=True)
            checks["contenders"] = sum(not m.deprecated for m in contenders)  # what anonymous battles draw from
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
        self.store.dispose()


def backfill_facts(store: Store, raise_errors: bool = True) -> dict[str, Any]:
    """Store the style and category of rows that lack them (store.backfill). A failure is logged; the scheduled
    job also reports it in the job history, the start-up run only logs it."""
    try:
        report = store.backfill_facts(progress=lambda done, total: log.info("backfilled facts: %d/%d", done, total))
    except Exception:
        log.exception("backfilling the facts of old rows failed; the next run resumes where it stopped")
        if raise_errors:
            raise
        return {}
    if report.battles:
        log.info("stored the style and category of %d votes in %d battles", report.votes, report.battles)
    return {"battles": report.battles, "votes": report.votes}


def scheduled_jobs(
    settings: Settings,
    store: Store,
    snapshots: list[SnapshotService],
    judge: JudgeRunner | None,
    backend_for: Callable[[ModelSpec], ChatBackend] | None = None,
) -> list[JobSpec]:
    def refresher(service: SnapshotService) -> Any:
        def refresh() -> dict[str, Any]:
            snapshot = service.refresh()
            if snapshot is None:
                raise Skip("no votes yet")
            return {"snapshot": snapshot.id, "votes": snapshot.votes_total}

        return refresh

    def judge_backlog() -> dict[str, Any]:
        assert judge is not None
        report = judge.run_backlog(20)
        if not report.judged:
            raise Skip("no unjudged turns")
        return {"judged": report.judged, "votes": report.votes, "parse_failures": report.parse_failures}

    def last_rlhf_run() -> datetime | None:
        runs = store.training_runs.runs("rlhf")
        return runs[-1].started_at if runs else None

    retrain = RetrainConfig(
        database_url=settings.resolved_database_url,
        runs_dir=(settings.data_dir / "runs").resolve(),
        recipe=settings.retrain_recipe,
        min_new_votes=settings.retrain_min_new_votes,
        timeout_seconds=settings.retrain_timeout_seconds,
        model_cache=settings.model_cache_dir,
    )
    new_votes = store.votes.count_decisive
    descriptions = {LEADERBOARD: "recompute the stored leaderboard snapshot", JUDGE_AUDIT: "recompute the judge audit"}
    jobs = [
        JobSpec(service.kind.replace("_", "-"), refresher(service), seconds=settings.leaderboard_refresh_seconds,
                description=descriptions[service.kind])
        for service in snapshots
    ] + [
        JobSpec("retrain", retrain_job(retrain, new_votes, last_rlhf_run), seconds=settings.retrain_check_seconds,
                description=f"RLHF ({settings.retrain_recipe}) after {settings.retrain_min_new_votes} new votes"),
    ]  # fmt: skip
    jobs.append(JobSpec("stuffing-screen", lambda: screen_votes(store, days=settings.stuffing_window_days),
                        seconds=settings.stuffing_screen_seconds,
                        description="flag sources stuffing votes; their votes stop counting"))  # fmt: skip
    jobs.append(JobSpec("backfill-facts", lambda: backfill_facts(store), seconds=600,
                        description="store the style and category of rows that lack them"))  # fmt: skip
    if settings.retrain_cron:
        on_schedule = RetrainConfig(**{**retrain.__dict__, "min_new_votes": 1})
        jobs.append(JobSpec("retrain-cron", retrain_job(on_schedule, new_votes, last_rlhf_run),
                            cron=settings.retrain_cron, description="RLHF on the cron schedule"))  # fmt: skip
    if judge is not None:
        jobs.append(JobSpec("judge", judge_backlog, seconds=settings.judge_interval_seconds,
                            description=f"judge new battles as {judge.config.source}"))  # fmt: skip
    if settings.evals_benchmarks and backend_for is not None:
        names = ", ".join(settings.evals_benchmarks)
        jobs.append(JobSpec("evals", evals_job(settings, store, backend_for), seconds=settings.evals_check_seconds,
                            description=f"static benchmarks for new contenders: {names}"))  # fmt: skip
    return jobs


def evals_job(settings: Settings, store: Store, backend_for: Callable[[ModelSpec], ChatBackend]) -> Callable[[], Any]:
    """Run the configured benchmarks' first evals_limit items for the newest contender lacking them, one (contender,
    benchmark) per run. The judge-graded ones need the judge: without one they are left out, said once here."""
    judge_name = settings.resolved_judge_model()
    names = [n for n in settings.evals_benchmarks if n == "over-refusal" or judge_name]
    if skipped := sorted(set(settings.evals_benchmarks) - set(names)):
        log.warning("scheduled benchmarks %s need the judge (ARENA_JUDGE_MODEL): left out", ", ".join(skipped))

    def run() -> dict[str, Any]:
        judge = store.registry.get(judge_name) if judge_name else None
        done = run_next_pending(store, backend_for, names, judge=judge, limit=settings.evals_limit)
        if done is None:
            raise Skip("every contender has its benchmark figures")
        return {"model": done.model, "benchmark": done.benchmark, "items": done.items_done, "score": done.score}

    return run


def with_benchmarks(payload: dict[str, Any], store: Store) -> dict[str, Any]:
    """The page's payload with python -m evals' newest figures per model (one summary row per run, never an item) and
    which benchmark separates the models, against people's ratings."""
    people = payload.get("views", {}).get(view_key(HUMAN, None, False), {}).get("rows", [])
    runs = [describe(run) for run in store.benchmark_runs.latest()]
    return {**payload, "benchmarks": benchmark_payload(runs, people)}


def snapshot_services(settings: Settings, store: Store) -> tuple[SnapshotService, SnapshotService]:
    """The leaderboard (narrow votes: no answer text) and the judge audit (it measures the texts), each kept as a
    stored snapshot that pages read; both are refreshed by the scheduler, never by a page read."""
    # The composite view's weights, checked here at start (a bad setting stops the app, not a refresh); "" = none.
    composite = parse_source_weights(settings.composite_weights) if settings.composite_weights.strip() else None

    def deprecated() -> list[str]:
        return [s.name for s in store.registry.models(enabled_only=False) if getattr(s, "deprecated", False)]

    leaderboard = SnapshotService(
        LEADERBOARD,
        store.snapshots,
        store.votes.watermark,
        # Only the votes the watermark counts: one written meanwhile makes the snapshot stale, for the next refresh.
        lambda mark: with_benchmarks(
            build_criteria_payload(
                store.votes.read(upto=mark.last_vote_id, criterion=None),  # every criterion, one scan
                store.registry.descriptions(),
                mark.votes_total,
                composite_weights=composite,
                deprecated=deprecated(),
            ),
            store,
        ),
        min_new_votes=settings.leaderboard_min_new_votes,
        # A new benchmark figure, or a model marked (un)deprecated, refreshes the page without a new vote.
        marker=combined_marker(store.benchmark_runs.marker, listed_marker("deprecated", deprecated)),
    )
    judge_audit = SnapshotService(
        JUDGE_AUDIT,
        store.snapshots,
        store.votes.watermark,
        # {"markdown", "report" (report_json: the page's figures are drawn from it), "votes_total"}
        lambda mark: {
            **asdict(
                audit_result(
                    # the stored facts, not the texts: the audit's cost grows with the votes, not with what they say
                    audit_judges(
                        store.votes.read(audit=True, upto=mark.last_vote_id),
                        self_trained=store.registry.provenance(),
                        usage=judge_usage(store.judgments.usage()),  # cost and parse failures per judge
                    )
                )
            ),
            "votes_total": mark.votes_total,
        },
        min_new_votes=settings.leaderboard_min_new_votes,
    )
    return leaderboard, judge_audit


def build_arena(settings: Settings | None = None) -> ArenaApp:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store.open(settings.resolved_database_url)
    # Rows written before their facts were stored (or by an older replica): filled in the background, so a big
    # database does not hold up the start; readers see their style as missing until then.
    threading.Thread(target=backfill_facts, args=(store, False), name="backfill-facts", daemon=True).start()
    store.registry.sync(load_model_specs(settings.models_file))
    pool = BackendPool(settings.resolved_model_cache_dir, device=settings.device)
    if settings.preload_models:
        pool.preload(store.registry.models())
    leaderboard, judge_audit = snapshot_services(settings, store)
    # The pool it draws from is the enabled, anonymous, not deprecated contenders (ArenaService.battle_pool).
    sampler = SamplingPolicy(
        BurnIn(share=settings.burn_in_share, min_votes=settings.burn_in_votes, max_interval=settings.burn_in_interval),
        lambda: store.registry.models(enabled_only=True, anonymous_only=True, deprecated=False),
        snapshot_standings(leaderboard.read),
        sampling=settings.sampling,
        floor=settings.sampling_floor,
    )
    service = ArenaService(
        store=store,
        backend_for=pool.get,
        sampler=sampler,
        config=ArenaConfig(
            max_conversation_tokens=settings.max_conversation_tokens,
            max_new_tokens=settings.max_new_tokens,
            max_message_chars=settings.max_message_chars,
            identity_words=settings.identity_words,
            rate_limit_messages=settings.rate_limit_messages,
            rate_limit_votes=settings.rate_limit_votes,
            rate_limit_messages_per_client=settings.rate_limit_messages_per_client,
            rate_limit_votes_per_client=settings.rate_limit_votes_per_client,
            anonymous_min_temperature=settings.anonymous_min_temperature,
            daily_votes_per_address=settings.daily_votes_per_address,
            moderate_red_team=settings.moderate_red_team,
        ),
        moderator=moderator_from_settings(settings),
    )

    for snapshot in (leaderboard, judge_audit):
        snapshot.refresh_in_background()  # at start-up; afterwards on the schedule
    judge = None
    judge_model = settings.resolved_judge_model()
    if judge_model:
        config = JudgeConfig(
            model=judge_model,
            name=settings.judge_name,
            scale=settings.judge_scale,  # type: ignore[arg-type]
            red_team=settings.judge_red_team,
        )
        judge = JudgeRunner(store, pool.get, config, concurrency=settings.judge_concurrency)
        log.info("judging new battles on the schedule as %s with %s", config.source, judge_model)
    scheduler = ArenaScheduler(
        store.jobs,
        scheduled_jobs(settings, store, [leaderboard, judge_audit], judge, pool.get),
        lease_seconds=settings.scheduler_lease_seconds,
        heartbeat_seconds=settings.scheduler_heartbeat_seconds,
    )
    admin = AdminService(settings.admin_token, store, scheduler.job_ids, scheduler.request, settings.admin_max_failures)
    salt = settings.resolved_voter_salt()
    identity = Identity(salt=salt)
    limits = ReadLimits(max_bytes=int(settings.upload_max_mb * 1024 * 1024), max_rows=settings.upload_max_rows)
    audit_limits = AuditLimits(
        max_models=settings.upload_max_models,
        max_judges=settings.upload_max_judges,
        max_fits=settings.upload_max_models,
    )
    upload_audits = UploadAudits(
        lambda path, name, mapping: audit_result(
            audit_judges(read_battles(path, limits=limits, name=name), sources=mapping, limits=audit_limits, rounds=200)
        )
    )
    guards = Guards(gate=GenerationGate(settings.generations_per_client), listeners=StreamListeners())
    demo = build_ui(
        service,
        identity,
        concurrency=settings.generation_concurrency,
        leaderboard=leaderboard.read,
        reward_models=lambda: [asdict(e) for e in store.reward_evaluations.latest()],
        training_outcomes=lambda: read_training_outcomes(store, leaderboard.read()),
        judge_audit=judge_audit.read,
        upload_audits=upload_audits,
        admin_tab=lambda: build_admin_tab(admin, lambda address: client_hash(salt, address)),
        guards=guards,
        queue_size=settings.queue_max_size or None,
        personal=PersonalLeaderboard(store.votes.read_session, leaderboard.read, min_votes=settings.personal_min_votes),
    )
    return ArenaApp(settings, demo, store, pool, scheduler, guards, upload_audits, leaderboard, judge_audit)


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
