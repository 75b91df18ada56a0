"""Pair sampling policies: which two contenders meet in the next anonymous battle, and how likely that pair was.

A policy is any function `(names, rng) -> SampledPair`: the pair and the probability its unordered pair had
under the policy at that draw (burn-in and the uniform floor included), and how many contenders it was drawn
from. The battle stores both, so the ratings can weight each vote by how much more (or less) often uniform
sampling would have drawn its pair (facts.propensity). The battle service randomises left/right afterwards, so a
policy need not care about sides.

- uniform_pair: every pair of contenders equally likely, 1 / C(K, 2) each.
- active (arena.active_sampling.pair_probabilities): pairs whose ratings are most uncertain are drawn more often,
  with a share `floor` of battles uniform so that every pair keeps being drawn.
- burn-in: a contender registered by a training run (its spec names a `base`) is sampled more often until its
  rating is settled (enough counted votes, or an interval narrow enough, in the newest leaderboard snapshot): a
  share of battles feature it, half of those against its base, so the arena soon says whether training helped.
  Then sampling returns to the base rule.

SamplingPolicy composes them: P(pair) = share * P_burn_in(pair) + (1 - share) * P_base(pair), P_base uniform or
active, worked out as a whole distribution once per refresh of the standings (at most once a minute, never per
battle) and per pool of contenders; a draw is one look-up in it, and its stored probability is that
distribution's entry, exactly. Any failure to read the standings or to compute the active rule means uniform
pairs until the next refresh: a sampler never stops battles.
"""

from __future__ import annotations

import bisect
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, combinations
from typing import Any, Protocol

log = logging.getLogger(__name__)

Pair = tuple[str, str]  # an unordered pair, as its two names sorted
SAMPLING_RULES = ("uniform", "active")


@dataclass(frozen=True)
class SampledPair:
    """A drawn pair: `first` and `second` (in no meaningful order: sides are assigned afterwards), the probability
    its unordered pair had under the policy at this draw (None: a policy that does not say), and the number of
    distinct contenders it was drawn from. Iterates as the two names, like the tuple it replaces."""

    first: str
    second: str
    probability: float | None
    pool_size: int | None

    def __iter__(self) -> Iterator[str]:
        return iter((self.first, self.second))

    @property
    def pair(self) -> tuple[str, str]:
        return self.first, self.second

    @property
    def key(self) -> Pair:
        return pair_key(self.first, self.second)


PairSampler = Callable[[Sequence[str], random.Random], SampledPair]


class NotEnoughModels(RuntimeError):
    """Fewer than two contenders may appear in anonymous battles."""


def pair_key(a: str, b: str) -> Pair:
    return (a, b) if a <= b else (b, a)


def pool_of(names: Sequence[str]) -> list[str]:
    """The distinct contenders, sorted; NotEnoughModels below two."""
    unique = sorted(set(names))
    if len(unique) < 2:
        raise NotEnoughModels(
            f"anonymous battles need at least two enabled anonymous models; the registry has {len(unique)}"
        )
    return unique


def all_pairs(pool: Sequence[str]) -> list[Pair]:
    """Every unordered pair of a sorted pool, in order."""
    return list(combinations(pool, 2))


def uniform_probabilities(names: Sequence[str]) -> dict[Pair, float]:
    """1 / C(K, 2) for every pair of the K distinct contenders."""
    pairs = all_pairs(pool_of(names))
    return dict.fromkeys(pairs, 1.0 / len(pairs))


def uniform_pair(names: Sequence[str], rng: random.Random) -> SampledPair:
    """Every unordered pair of distinct contenders is equally likely: 1 / C(K, 2)."""
    unique = pool_of(names)
    first, second = rng.sample(unique, 2)
    k = len(unique)
    return SampledPair(first, second, 2.0 / (k * (k - 1)), k)


def as_sampled(drawn: SampledPair | tuple[str, str], names: Sequence[str]) -> SampledPair:
    """A policy's answer as a SampledPair: a plain pair (a policy that does not say its probability) gets None,
    which the ratings read as a uniform draw."""
    if isinstance(drawn, SampledPair):
        return drawn
    first, second = drawn
    return SampledPair(first, second, None, len(set(names)))


def assign_sides(pair: tuple[str, str] | SampledPair, rng: random.Random) -> tuple[str, str, bool]:
    """Randomise left/right: returns (left, right, swapped)."""
    first, second = pair
    swapped = rng.random() < 0.5
    left, right = (second, first) if swapped else (first, second)
    return left, right, swapped


@dataclass(frozen=True)
class PairDistribution:
    """A probability for every pair of a pool, summing to 1, ready to draw from (one binary search a draw)."""

    pool: tuple[str, ...]
    probabilities: Mapping[Pair, float]
    _pairs: tuple[Pair, ...] = field(init=False, repr=False, compare=False)
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = tuple(self.probabilities)
        object.__setattr__(self, "_pairs", pairs)
        object.__setattr__(self, "_cumulative", tuple(accumulate(self.probabilities[p] for p in pairs)))

    @classmethod
    def of(cls, names: Sequence[str], probabilities: Mapping[Pair, float]) -> PairDistribution:
        """Checked: every pair of the pool present (no other), each finite and not negative, summing to 1 (within
        rounding; renormalised). ValueError otherwise."""
        pool = tuple(pool_of(names))
        expected = all_pairs(pool)
        given = {pair_key(*key): float(value) for key, value in probabilities.items()}
        if set(given) != set(expected):
            raise ValueError("the pair probabilities do not cover exactly the pool's pairs")
        values = [given[p] for p in expected]
        if not all(math.isfinite(v) and v >= 0.0 for v in values):
            raise ValueError("a pair probability is negative or not a number")
        total = math.fsum(values)
        if not abs(total - 1.0) <= 1e-6:
            raise ValueError(f"the pair probabilities sum to {total}, not 1")
        return cls(pool, {p: v / total for p, v in zip(expected, values, strict=True)})

    def probability(self, a: str, b: str) -> float:
        return self.probabilities.get(pair_key(a, b), 0.0)

    def draw(self, rng: random.Random) -> SampledPair:
        total = self._cumulative[-1]
        index = bisect.bisect_right(self._cumulative, rng.random() * total)
        index = min(index, len(self._pairs) - 1)
        while self.probabilities[self._pairs[index]] <= 0.0:  # a float edge: never a pair that cannot be drawn
            index = (index + 1) % len(self._pairs)
        first, second = self._pairs[index]
        if rng.random() < 0.5:  # no order to read into: the sides are assigned afterwards anyway
            first, second = second, first
        return SampledPair(first, second, self.probabilities[self._pairs[index]], len(self.pool))


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


def burn_in_probabilities(
    names: Sequence[str], burning: Mapping[str, str | None], burn_in: BurnIn
) -> dict[Pair, float] | None:
    """The pair distribution of a burn-in battle (given that the battle features a contender in burn-in): one of
    the contenders in burn-in that are in the pool, each equally likely, meets its base with probability
    `base_share` (when the base is in the pool), otherwise any other contender of the pool, each equally likely.
    None when no contender in burn-in is in the pool (then there is no burn-in battle)."""
    pool = pool_of(names)
    candidates = [name for name in sorted(burning) if name in pool]
    if not candidates:
        return None
    probabilities = dict.fromkeys(all_pairs(pool), 0.0)
    others = len(pool) - 1
    for new in candidates:
        weight = 1.0 / len(candidates)
        base = burning[new]
        against_base = burn_in.base_share if base in pool and base != new else 0.0
        if against_base:
            probabilities[pair_key(new, str(base))] += weight * against_base
        for other in pool:
            if other != new:
                probabilities[pair_key(new, other)] += weight * (1.0 - against_base) / others
    return probabilities


def mixture(share: float, burning: Mapping[Pair, float] | None, base: Mapping[Pair, float]) -> dict[Pair, float]:
    """share * P_burn_in + (1 - share) * P_base over the same pairs (P_base alone without burn-in)."""
    if burning is None or share <= 0.0:
        return dict(base)
    return {pair: share * burning.get(pair, 0.0) + (1.0 - share) * p for pair, p in base.items()}


def burn_in_pair(
    names: Sequence[str], rng: random.Random, burning: Mapping[str, str | None], burn_in: BurnIn
) -> SampledPair:
    """A pair drawn from the burn-in mixture over uniform pairs: one featuring a contender in burn-in with
    probability `share` (its base as the opponent with probability `base_share` when the base is in the pool),
    otherwise a uniform pair. Its probability is the mixture's, exactly."""
    uniform = uniform_probabilities(names)
    probabilities = mixture(burn_in.share, burn_in_probabilities(names, burning, burn_in), uniform)
    return PairDistribution.of(names, probabilities).draw(rng)


# --- the policy the arena runs ---------------------------------------------------------------------------------


def active_probabilities(
    names: Sequence[str], standings: Mapping[str, Standing], *, floor: float, rule: str = "ours"
) -> dict[Pair, float]:
    """The active rule's pair distribution (arena.active_sampling), checked: anything but a probability for each
    pair of the pool summing to 1 is a ValueError."""
    from arena.active_sampling import pair_probabilities  # imported on use: a broken rule only means uniform pairs

    pool = pool_of(names)
    return dict(PairDistribution.of(pool, pair_probabilities(pool, standings, floor=floor, rule=rule)).probabilities)


class SamplingPolicy:
    """The arena's PairSampler: a base rule (uniform, or active: pairs with uncertain ratings more often, a share
    `floor` uniform) with burn-in of new contenders mixed in. Who is in burn-in and the standings are read from
    the registry and the newest leaderboard snapshot at most every `ttl` seconds (never per battle); the pair
    distribution is computed once per read and pool of contenders. Any failure to read them, or of the active
    rule, means uniform pairs (without burn-in when the read failed) until the next read."""

    def __init__(
        self,
        burn_in: BurnIn,
        contenders: Callable[[], Sequence[Contender]],
        standings: Callable[[], Mapping[str, Standing]],
        *,
        sampling: str = "uniform",
        floor: float = 0.2,
        rule: str = "ours",
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if sampling not in SAMPLING_RULES:
            raise ValueError(f"unknown sampling {sampling!r}; expected one of {', '.join(SAMPLING_RULES)}")
        if not 0.0 <= floor <= 1.0:
            raise ValueError("the sampling floor is a share of battles in [0, 1]")
        self.burn_in, self.sampling, self.floor, self.rule = burn_in, sampling, floor, rule
        self._contenders, self._standings = contenders, standings
        self._ttl, self._clock = ttl, clock
        self._lock = threading.Lock()
        self._burning: dict[str, str | None] = {}
        self._standing: dict[str, Standing] | None = None  # None: not read, or the read failed
        self._distributions: dict[tuple[str, ...], PairDistribution] = {}
        self._read_at: float | None = None

    @property
    def reads(self) -> bool:
        """Whether the policy needs the standings at all (uniform without burn-in does not)."""
        return self.sampling == "active" or self.burn_in.share > 0.0

    def _refresh(self) -> None:
        """Re-read the registry and the standings when due. One caller at a time re-reads, outside the lock: the
        others go on with the previous answer meanwhile, so a slow database never holds up battle starts."""
        with self._lock:
            now = self._clock()
            due = self._read_at is None or now - self._read_at >= self._ttl
            if due:
                self._read_at = now  # claimed: concurrent callers do not read again
        if not due:
            return
        try:
            standing = dict(self._standings())
            burning = in_burn_in(self._contenders(), standing, self.burn_in) if self.burn_in.share > 0 else {}
        except Exception:  # a sampler must not stop battles: without standings, sample uniformly
            log.exception("sampling standings could not be read; sampling uniformly until the next try")
            standing, burning = None, {}
        with self._lock:
            self._standing, self._burning = standing, burning
            self._distributions = {}  # recomputed from the new read, once per pool

    def burning(self) -> dict[str, str | None]:
        """Who is in burn-in (re-read when due)."""
        self._refresh()
        with self._lock:
            return dict(self._burning)

    def distribution(self, names: Sequence[str]) -> PairDistribution:
        """The pair distribution for this pool as of the last read (computed once per read and pool)."""
        self._refresh()
        pool = tuple(pool_of(names))
        with self._lock:
            cached = self._distributions.get(pool)
            standing, burning = self._standing, dict(self._burning)
        if cached is not None:
            return cached
        distribution = self._compute(pool, standing, burning)
        with self._lock:
            if self._standing is standing:  # not replaced by a newer read meanwhile
                self._distributions[pool] = distribution
        return distribution

    def _compute(
        self, pool: tuple[str, ...], standing: Mapping[str, Standing] | None, burning: Mapping[str, str | None]
    ) -> PairDistribution:
        base = uniform_probabilities(pool)
        if self.sampling == "active" and standing is not None:
            try:
                base = active_probabilities(pool, standing, floor=self.floor, rule=self.rule)
            except Exception:
                log.exception("the active sampling rule failed; sampling uniformly until the next read")
        burn_in = burn_in_probabilities(pool, burning, self.burn_in) if burning else None
        return PairDistribution.of(pool, mixture(self.burn_in.share, burn_in, base))

    def __call__(self, names: Sequence[str], rng: random.Random) -> SampledPair:
        if not self.reads:
            return uniform_pair(names, rng)
        return self.distribution(names).draw(rng)


BurnInSampler = SamplingPolicy  # the name it had when burn-in over uniform pairs was its only policy


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
