"""Keeps the stored leaderboard snapshot fresh: recomputed at start-up and once enough new votes arrived.

The scheduler (a later issue) will call `refresh` on a timer; until then the page's reads trigger it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from leaderboard.snapshots import Snapshot, SnapshotStore

log = logging.getLogger(__name__)

PayloadBuilder = Callable[[pd.DataFrame, dict[str, str], int], dict[str, Any]]


@dataclass
class LeaderboardService:
    store: SnapshotStore
    load_battles: Callable[[], pd.DataFrame]
    descriptions: Callable[[], dict[str, str]]
    build_payload: PayloadBuilder
    min_new_votes: int = 1
    # A reader waits this long for a refresh it started, so a person who just voted sees the vote.
    read_wait_seconds: float = 3.0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _worker: threading.Thread | None = field(default=None, init=False, repr=False)

    def is_stale(self, latest: Snapshot | None) -> bool:
        mark = self.store.watermark()
        if latest is None:
            return True
        return mark.votes_total - latest.votes_total >= self.min_new_votes or (
            mark.votes_total > 0 and latest.votes_total == 0
        )

    def refresh(self, *, force: bool = False) -> Snapshot | None:
        """Recompute and store a snapshot if it is stale (or forced); returns the newest snapshot."""
        with self._lock:
            latest = self.store.latest()
            if not force and not self.is_stale(latest):
                return latest
            started = time.perf_counter()
            mark = self.store.watermark()  # read before the votes: a vote arriving meanwhile makes it stale again
            battles = self.load_battles()
            payload = self.build_payload(battles, self.descriptions(), mark.votes_total)
            snapshot = self.store.save(payload, mark, time.perf_counter() - started)
            log.info("leaderboard snapshot %d: %d votes in %.2f s", snapshot.id, mark.votes_total, snapshot.seconds)
            return snapshot

    def refresh_in_background(self) -> None:
        """Start a refresh unless one is running; errors are logged, the old snapshot stays."""
        if self._worker is not None and self._worker.is_alive():
            return
        self._worker = threading.Thread(target=self._refresh_logged, name="leaderboard-refresh", daemon=True)
        self._worker.start()

    def read(self) -> dict[str, Any] | None:
        """The newest stored payload; refreshes it first (in the background, waiting a little) when enough new
        votes arrived, so a slow recomputation never blocks the page for long."""
        latest = self.store.latest()
        if self.is_stale(latest):
            self.refresh_in_background()
            self.wait(self.read_wait_seconds)
            latest = self.store.latest()
        return latest.payload if latest else None

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background refresh (tests, shutdown)."""
        if self._worker is not None:
            self._worker.join(timeout)

    def _refresh_logged(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.exception("leaderboard refresh failed; the page keeps the previous snapshot")
