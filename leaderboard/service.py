"""Keeps a stored snapshot of a computation over the votes fresh: the leaderboard's page payload, the judge
audit's report. Pages read the latest snapshot and never recompute; the scheduler (and "Run now" in the Admin
tab) calls `refresh`, which recomputes only when enough new votes arrived, and a refresh that fails keeps the
previous snapshot.

No database here: the store's snapshots and votes come in as the small protocols below (app.py wires them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Watermark(Protocol):
    last_vote_id: int
    votes_total: int
    excluded_total: int


class StoredSnapshot(Protocol):
    id: int
    votes_total: int
    excluded_total: int
    seconds: float
    payload: dict[str, Any]


class SnapshotKeeper(Protocol):
    def latest(self, kind: str) -> StoredSnapshot | None: ...

    def save(self, payload: dict[str, Any], watermark: Any, seconds: float, kind: str) -> StoredSnapshot: ...


log = logging.getLogger(__name__)


def combined_marker(*markers: Callable[[], str]) -> Callable[[], str]:
    """One marker watching several things (the benchmark runs, the deprecated models): any change makes the snapshot
    stale. Each part is read once per staleness check."""

    def marker() -> str:
        return "\n".join(read() for read in markers)

    return marker


def listed_marker(name: str, read: Callable[[], Iterable[str]]) -> Callable[[], str]:
    """A marker over a set of names (e.g. the deprecated models): "<name>:" and the names, sorted."""
    return lambda: f"{name}:" + ",".join(sorted(str(item) for item in read()))


@dataclass
class SnapshotService:
    kind: str
    snapshots: SnapshotKeeper
    watermark: Callable[[], Watermark]
    # Computes the payload; gets the watermark read before the votes (a vote arriving meanwhile makes the
    # snapshot stale again, never lost).
    compute: Callable[[Watermark], dict[str, Any]]
    min_new_votes: int = 1
    # What else the payload shows that changes without a vote (the static-benchmark runs): a different value makes
    # the snapshot stale. Stored in the payload as "marker".
    marker: Callable[[], str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _worker: threading.Thread | None = field(default=None, init=False, repr=False)

    def is_stale(self, latest: StoredSnapshot | None) -> bool:
        """Enough new votes, the first votes, a verdict changed (a battle flagged after its votes), or what the
        marker watches changed."""
        mark = self.watermark()
        if latest is None:
            return True
        return (
            mark.votes_total - latest.votes_total >= self.min_new_votes
            or (mark.votes_total > 0 and latest.votes_total == 0)
            or mark.excluded_total != latest.excluded_total
            or (self.marker is not None and latest.payload.get("marker") != self.marker())
        )

    def refresh(self, *, force: bool = False) -> StoredSnapshot | None:
        """Recompute and store a snapshot if it is stale (or forced); returns the newest snapshot."""
        with self._lock:
            latest = self.snapshots.latest(self.kind)
            if not force and not self.is_stale(latest):
                return latest
            started = time.perf_counter()
            mark = self.watermark()
            marker = self.marker() if self.marker is not None else None  # before computing, like the watermark
            payload = self.compute(mark)
            if marker is not None:
                payload = {**payload, "marker": marker}
            snapshot = self.snapshots.save(payload, mark, time.perf_counter() - started, self.kind)
            log.info("%s snapshot %d: %d votes in %.2f s", self.kind, snapshot.id, mark.votes_total, snapshot.seconds)
            return snapshot

    def refresh_in_background(self) -> None:
        """Start a refresh unless one is running (at start-up); errors are logged, the old snapshot stays."""
        if self._worker is not None and self._worker.is_alive():
            return
        self._worker = threading.Thread(target=self._refresh_logged, name=f"{self.kind}-refresh", daemon=True)
        self._worker.start()

    def read(self) -> dict[str, Any] | None:
        """The newest stored payload, as it is: a page read never recomputes."""
        latest = self.snapshots.latest(self.kind)
        return latest.payload if latest else None

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background refresh (tests, shutdown)."""
        if self._worker is not None:
            self._worker.join(timeout)

    def _refresh_logged(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.exception("%s refresh failed; pages keep the previous snapshot", self.kind)
