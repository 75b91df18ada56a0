"""A sliding-window rate limiter: at most `limit` accepted hits per key within the last `window` seconds.

Per process. With several replicas each applies its own limit; a Gradio session already has to stay on one
replica (its queue and state live there), and the arena's keys include the session, so in practice one replica
sees all of a key's traffic. A database-backed limiter would cost a write per message for no gain on that path.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

Clock = Callable[[], float]


class SlidingWindowLimiter:
    """Thread-safe; memory stays bounded by `max_keys` (the quietest keys are forgotten first).

    Refused hits are not recorded: someone who waits out the window gets through, however often they tried.
    """

    def __init__(
        self, limit: int, window: float = 60.0, *, clock: Clock = time.monotonic, max_keys: int = 100_000
    ) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0 (0 turns the limiter off), got {limit}")
        if window <= 0:
            raise ValueError(f"window must be > 0 seconds, got {window}")
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, got {max_keys}")
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._clock = clock
        # Ordered by last accepted hit, so keys that went quiet sit at the front and are evicted in O(1) each.
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def hit(self, key: str) -> float:
        """Record a hit for `key` and return 0.0, or return the seconds to wait when the key is over its limit."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            self._evict_idle(now)
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window - now, 0.0)
            hits.append(now)
            self._hits.move_to_end(key)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return 0.0

    def wait(self, key: str) -> float:
        """Seconds until `key` may hit again (0.0: now), without recording anything."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            hits = self._hits.get(key)
            live = [t for t in hits or () if t > now - self.window]
            return max(live[0] + self.window - now, 0.0) if len(live) >= self.limit else 0.0

    def __len__(self) -> int:
        """Keys currently remembered."""
        with self._lock:
            return len(self._hits)

    def _evict_idle(self, now: float) -> None:
        # A key whose newest hit left the window has nothing left to limit.
        while self._hits:
            key, hits = next(iter(self._hits.items()))
            if hits and hits[-1] > now - self.window:
                break
            del self._hits[key]
