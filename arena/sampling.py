"""Pair sampling policies: which two contenders meet in the next anonymous battle.

A policy is any function `(names, rng) -> (first, second)`; the battle service randomises left/right
afterwards, so a policy need not care about sides.

- uniform_pair: every pair of contenders equally likely.
- burn-in (BurnInSampler): a contender registered by a training run (its spec names a `base`) is sampled more
  often until its rating is settled (enough counted votes, or an interval narrow enough, in the newest
  leaderboard snapshot): a share of battles feature it, half of those against its base, so the arena soon says
  whether training helped. Then sampling returns to uniform. The snapshot is read at most once a minute.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

PairSampler = Callable[[Sequence[str], random.Random], tuple[str, str]]


class NotEnoughModels(RuntimeError):
    """Fewer than two contenders may appear in anonymous battles."""


def uniform_pair(names: Sequence[str], rng: random.Random) -> tuple[str, str]:
    """Every unordered pair of distinct contenders is equally likely."""
    unique = sorted(set(names))
    if len(unique) < 2:
        raise NotEnoughModels(
            f"anonymous battles need at least two enabled anonymous models; the registry has {len(unique)}"
        )
    first, second = rng.sample(unique, 2)
    return first, second


def assign_sides(pair: tuple[str, str], rng: random.Random) -> tuple[str, str, bool]:
    """Randomise left/right: returns (left, right, swapped)."""
    swapped = rng.random() < 0.5
    left, right = (pair[1], pair[0]) if swapped else pair
    return left, right, swapped


# --- burn-in of new contenders -------------------------------------------------------------------------------


class Contender(Protocol):
    name: str
    base: str | None


@dataclass(frozen=True)
class BurnIn:
    share: float = 0.25  # of anonymous battles that feature a contender in burn-in, while there is one
    base_share: float = 0.5  # of those, the share against its base (the rest: any other contender)
    min_votes: int = 300  # settled with this many counted human votes...
    max_interval: float = 60.0  # ...or a 95% interval this narrow (rating points, upper - lower)

    def __post_init__(self) -> None:
        if not (0.0 <= self.share <= 1.0 and 0.0 <= self.base_share <= 1.0):
            raise ValueError("burn-in shares are probabilities in [0, 1]")
        if self.min_votes < 0 or self.max_interval < 0:
            raise ValueError("burn-in thresholds cannot be negative")


Standing = tuple[int, float, float]  # (counted votes, lower, upper) of a model in the newest snapshot


def in_burn_in(
    contenders: Sequence[Contender], standings: Mapping[str, Standing], burn_in: BurnIn
) -> dict[str, str | None]:
    """The contenders still in burn-in, each with its base: trained ones (a base is named) whose standing is not
    settled; one missing from the snapshot (registered since) has no votes yet."""
    burning: dict[str, str | None] = {}
    for contender in contenders:
        if not contender.base:
            continue
        votes, lower, upper = standings.get(contender.name, (0, float("nan"), float("nan")))
        narrow = upper - lower <= burn_in.max_interval  # False for NaN: no interval is not a narrow one
        if votes < burn_in.min_votes and not narrow:
            burning[contender.name] = contender.base
    return burning


def burn_in_pair(
    names: Sequence[str], rng: random.Random, burning: Mapping[str, str | None], burn_in: BurnIn
) -> tuple[str, str]:
    """A pair featuring a contender in burn-in with probability `share` (its base as the opponent with
    probability `base_share` when the base is in the pool), otherwise a uniform pair."""
    pool = sorted(set(names))
    candidates = [name for name in sorted(burning) if name in pool]
    if len(pool) < 2 or not candidates or rng.random() >= burn_in.share:
        return uniform_pair(pool, rng)
    new = rng.choice(candidates)
    base = burning[new]
    if base in pool and base != new and rng.random() < burn_in.base_share:
        return new, base
    return new, rng.choice([name for name in pool if name != new])


class BurnInSampler:
    """A PairSampler with burn-in: who is in burn-in is worked out from the registry and the newest leaderboard
    snapshot at most every `ttl` seconds (never per battle), and any failure to read them means uniform pairs."""

    def __init__(
        self,
        burn_in: BurnIn,
        contenders: Callable[[], Sequence[Contender]],
        standings: Callable[[], Mapping[str, Standing]],
        *,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burn_in = burn_in
        self._contenders, self._standings = contenders, standings
        self._ttl, self._clock = ttl, clock
        self._lock = threading.Lock()
        self._burning: dict[str, str | None] = {}
        self._read_at: float | None = None

    def burning(self) -> dict[str, str | None]:
        """Who is in burn-in. One caller at a time re-reads, outside the lock: the others go on with the previous
        answer meanwhile, so a slow database never holds up battle starts."""
        with self._lock:
            now = self._clock()
            due = self._read_at is None or now - self._read_at >= self._ttl
            if due:
                self._read_at = now  # claimed: concurrent callers do not read again
            current = dict(self._burning)
        if not due:
            return current
        try:
            fresh = in_burn_in(self._contenders(), self._standings(), self.burn_in)
        except Exception:  # a sampler must not stop battles: without standings, sample uniformly
            log.exception("burn-in standings could not be read; sampling uniformly until the next try")
            fresh = {}
        with self._lock:
            self._burning = fresh
        return dict(fresh)

    def __call__(self, names: Sequence[str], rng: random.Random) -> tuple[str, str]:
        if self.burn_in.share <= 0.0:
            return uniform_pair(names, rng)
        return burn_in_pair(names, rng, self.burning(), self.burn_in)


def standings_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, Standing]:
    """(votes, lower, upper) per model from a leaderboard view's rows (leaderboard.page payload; a missing
    bound is NaN)."""
    nan = float("nan")
    return {
        str(r["model"]): (
            int(r.get("votes") or 0),
            nan if r.get("lower") is None else float(r["lower"]),
            nan if r.get("upper") is None else float(r["upper"]),
        )
        for r in rows
    }


def snapshot_standings(read_snapshot: Callable[[], Mapping[str, Any] | None]) -> Callable[[], dict[str, Standing]]:
    """Standings from the newest stored leaderboard snapshot's human, all-categories view."""
    from facts.vocabulary import HUMAN
    from leaderboard.page import view_key

    def standings() -> dict[str, Standing]:
        view = ((read_snapshot() or {}).get("views") or {}).get(view_key(HUMAN, None, False)) or {}
        return standings_of(view.get("rows") or [])

    return standings
