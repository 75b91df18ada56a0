"""What the Admin tab may do, behind a token: job history, run a job now, the registry, enable/disable models,
deprecate models (out of anonymous battles) and bring them back.

No Gradio here: the tab (ui/admin.py) only calls these methods and shows what they return or raise.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from arena.ratelimit import SlidingWindowLimiter
from models.registry import ModelSpec
from store import NotFound, Store

log = logging.getLogger(__name__)
FAILURE_WINDOW_SECONDS = 900.0

HISTORY_COLUMNS = ["id", "job", "status", "replica", "requested by", "started", "finished", "error", "result"]
_MODEL_NAME = re.compile(ModelSpec.model_fields["name"].metadata[0].pattern)
MODEL_COLUMNS = ["name", "enabled", "deprecated", "anonymous", "backend", "weights", "description"]


class AdminDenied(Exception):
    """No admin token configured, or a wrong one."""


@dataclass
class AdminService:
    token: str = field(repr=False)
    store: Store
    job_ids: Sequence[str]
    request_run: Callable[[str, str], int]  # (job id, requested by) -> run id; the scheduler's `request`
    max_failures: int = 5  # wrong tokens per client address per 15 minutes
    failures: SlidingWindowLimiter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.failures = SlidingWindowLimiter(self.max_failures, FAILURE_WINDOW_SECONDS)

    def check(self, token: str | None, *, client: str = "") -> None:
        """Raise AdminDenied unless `token` is the admin token. A client address that sent `max_failures` wrong
        tokens within 15 minutes is refused before its token is even compared, so guessing stays slow."""
        if not self.token:
            raise AdminDenied("The Admin tab is off: set ARENA_ADMIN_TOKEN on the server to use it.")
        if client and (wait := self.failures.wait(client)) > 0:
            raise AdminDenied(f"Too many wrong tokens from your address: try again in {math.ceil(wait / 60)} min.")
        # Constant-time comparison: the token must not leak one character at a time through response timing.
        if (
            not isinstance(token, str)
            or not token
            or not hmac.compare_digest(token.encode("utf-8", "replace"), self.token.encode())
        ):
            if client:
                self.failures.hit(client)
            # Never the token itself, right or wrong: logs are read by more people than the token's owner.
            log.warning("wrong admin token from client %s", client[:12] or "(unknown)")
            raise AdminDenied("Wrong admin token.")

    def job_history(self, token: str | None, limit: int = 50) -> list[list[Any]]:
        self.check(token)
        return [
            [r.id, r.job, r.status, r.replica or "", r.requested_by or "", _time(r.started_at or r.requested_at),
             _time(r.finished_at), r.error or "", "" if r.result is None else dict(r.result)]
            for r in self.store.jobs.history(limit)
        ]  # fmt: skip

    def scheduler_status(self, token: str | None) -> str:
        self.check(token)
        holder = self.store.jobs.holder()
        if holder is None:
            return "No replica has taken the scheduler lease yet."
        name, expires = holder
        return f"Scheduler lease: **{name}**, until {_time(expires)} UTC."

    def run_now(self, token: str | None, job_id: str | None) -> str:
        self.check(token)
        if job_id not in self.job_ids:
            raise AdminDenied(f"Unknown job {job_id!r}; jobs: {', '.join(self.job_ids)}.")
        run_id = self.request_run(job_id, "admin")
        return f"Requested {job_id} (run {run_id}); the scheduler starts it within a few seconds."

    def models(self, token: str | None) -> list[list[Any]]:
        self.check(token)
        return [
            [m.name, m.enabled, m.deprecated, m.anonymous, m.backend, m.weights, m.description]
            for m in self.store.registry.models(enabled_only=False)
        ]

    def set_enabled(self, token: str | None, name: str | None, enabled: bool) -> str:
        self.check(token)
        name = _model_name(name)
        try:
            self.store.registry.set_enabled(name, enabled)
        except NotFound as exc:
            raise AdminDenied(str(exc)) from exc
        return f"{name} is now {'enabled' if enabled else 'disabled'}."

    def set_deprecated(self, token: str | None, name: object, deprecated: bool) -> str:
        """Deprecate a model (it leaves anonymous battles with the next battle started; it stays on the leaderboard
        and in direct chat) or bring it back."""
        self.check(token)
        name = _model_name(name)
        try:
            self.store.registry.set_deprecated(name, bool(deprecated))
        except NotFound as exc:
            raise AdminDenied(str(exc)) from exc
        if deprecated:
            return f"{name} is now deprecated: it no longer appears in anonymous battles."
        return f"{name} is no longer deprecated: it appears in anonymous battles again (if enabled)."


def _model_name(name: object) -> str:
    """A model name as a client sent it, checked before any query: a registered name has ModelSpec's form, so
    anything else (a NUL byte PostgreSQL refuses, markup, a list) is an unknown model, never a database error."""
    if not isinstance(name, str) or not name.strip():
        raise AdminDenied("Pick a model first.")
    if not _MODEL_NAME.fullmatch(name):
        raise AdminDenied(f"no model named {name[:80]!r}")
    return name


def _time(value: Any) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")
