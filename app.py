"""Huggy Arena: settings -> storage -> registry -> services -> UI. Nothing else lives here.

Run it:  make run   (or: .venv/bin/python app.py)
Configure with ARENA_* environment variables or a YAML file named by ARENA_CONFIG (see README.md).
"""

from __future__ import annotations

import logging

import gradio as gr

from arena.battles import ArenaConfig, ArenaService
from arena.judging import BackgroundJudge, JudgeConfig, JudgeRunner
from arena.settings import Settings
from arena.storage import Storage
from arena.ui import CSS, Identity, build_ui, theme
from leaderboard.db import load_battles
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


def create_app(settings: Settings | None = None) -> gr.Blocks:
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
        ),
    )
    leaderboard = LeaderboardService(
        store=SnapshotStore(storage.engine),
        load_battles=lambda: load_battles(storage),
        descriptions=lambda: {m.name: m.description for m in storage.list_models(enabled_only=False)},
        build_payload=build_page_payload,
        min_new_votes=settings.leaderboard_min_new_votes,
    )
    leaderboard.refresh_in_background()  # at start-up; afterwards when enough new votes arrived
    judge_model = settings.resolved_judge_model()
    if judge_model:
        judge = JudgeConfig(model=judge_model, name=settings.judge_name, scale=settings.judge_scale)  # type: ignore[arg-type]
        runner = JudgeRunner(storage, pool.get, judge, concurrency=settings.judge_concurrency)
        BackgroundJudge(runner, interval=settings.judge_interval_seconds).start()
        log.info("judging new battles in the background as %s with %s", judge.source, judge_model)
    identity = Identity(salt=settings.resolved_voter_salt(), trust_proxy_headers=settings.trust_proxy_headers)
    return build_ui(
        service,
        identity,
        concurrency=settings.generation_concurrency,
        leaderboard=leaderboard.read,
        judge_audit=lambda: render_markdown(audit_judges(load_battles(storage), self_trained=provenance(storage))),
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    demo = create_app(settings)
    log.info("Huggy Arena on http://%s:%d (database %s)", settings.host, settings.port, settings.resolved_database_url)
    demo.launch(server_name=settings.host, server_port=settings.port, css=CSS, theme=theme(), ssr_mode=False)


if __name__ == "__main__":
    main()
