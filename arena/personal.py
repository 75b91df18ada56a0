"""Your leaderboard: ratings from one person's own votes, beside everyone's.

    PersonalLeaderboard(read_votes, read_snapshot, min_votes=20).board(caller) -> PersonalBoard

After `min_votes` counted votes (ARENA_PERSONAL_MIN_VOTES) a person sees Bradley-Terry ratings with 95% intervals
fitted on their votes alone (leaderboard.fit.fit_ratings on leaderboard.outcomes.count_outcomes), next to
everyone's rating and interval for the same models, as the newest stored leaderboard snapshot has them (its
human, all-categories view without style control, read the way the pair sampler reads it: never recomputed here).

Whose votes: the caller's browser session (Caller.session_id), which the UI derives on the server from the request,
the way every battle is tied to its session; no argument a client sends names a session.
store.votes.Votes.read_session reads that session's human helpfulness votes on battles whose names were revealed (a
vote waiting for its strength shows nothing), and facts.schema.counted keeps those that count by their stored verdict,
anonymous battles only, exactly as the main leaderboard does. Only models the person voted on are listed, under the
names the reveal already showed them. Nothing is stored.

Few votes often have no finite maximum-likelihood ratings (a model that only won): the core then fits with its
small prior and says so; its warnings come back as they are, and such ratings are marked.

Cost per request: one indexed read of the person's votes and a fit over the handful of models they met
(milliseconds). Everyone's view is read from the snapshot at most every `everyone_seconds`; a session (and a client
address) refreshing faster than its limit gets its last board again, said so.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from arena.battles import Caller
from arena.ratelimit import SlidingWindowLimiter
from facts.schema import counted
from facts.vocabulary import HUMAN
from leaderboard.fit import fit_ratings
from leaderboard.outcomes import count_outcomes
from leaderboard.page import view_key

DEFAULT_MIN_VOTES = 20
REFRESHES_PER_MINUTE = 60  # per session; three times that per client address
EVERYONE_SECONDS = 10.0  # everyone's view is re-read from the stored snapshot at most this often
CACHED_BOARDS = 10_000  # the last board of this many sessions, for refreshes over the limit

VotesReader = Callable[[str], pd.DataFrame]  # session id -> that session's votes (store.votes.Votes.read_session)
SnapshotReader = Callable[[], Mapping[str, Any] | None]  # the newest stored leaderboard payload


@dataclass(frozen=True)
class PersonalRow:
    model: str
    rating: float
    lower: float  # NaN when no interval could be computed
    upper: float
    votes: int  # the person's counted votes with this model in them
    prior: bool  # True: the rating comes from the core's prior fit (no finite maximum-likelihood rating)
    # Everyone's, from the stored snapshot; None when the model is not on the stored leaderboard (yet).
    everyone_rating: float | None
    everyone_lower: float | None
    everyone_upper: float | None


@dataclass(frozen=True)
class PersonalBoard:
    min_votes: int
    counted: int  # the person's votes that count (their stored verdict), on revealed anonymous battles
    not_counted: int  # the person's other votes on revealed battles (stored, excluded by the verdict)
    rows: tuple[PersonalRow, ...] = ()  # best first; empty below min_votes
    warnings: tuple[str, ...] = ()  # the fit's, as the core wrote them
    everyone: str = ""  # where everyone's ratings come from, or why there are none
    stale: str = ""  # set when the board is an earlier one, served again because of the refresh limit

    @property
    def remaining(self) -> int:
        return max(self.min_votes - self.counted, 0)

    @property
    def ready(self) -> bool:
        return self.remaining == 0

    @property
    def message(self) -> str:
        """What the person reads above the table (plain text with markdown emphasis)."""
        if not self.ready:
            votes = "vote" if self.remaining == 1 else "votes"
            message = (
                f"{self.remaining} more {votes} to see your leaderboard "
                f"({self.counted} of {self.min_votes} counted votes so far)."
            )
        else:
            votes = "vote" if self.counted == 1 else "votes"
            message = (
                f"Your ratings from your {self.counted} counted {votes}, beside everyone's, for the models you voted "
                "on. Yours are Bradley-Terry ratings with 95% intervals, centred at a mean of 1000 over your models."
            )
        if self.not_counted:
            votes = "vote does" if self.not_counted == 1 else "votes do"
            message += f" {self.not_counted} of your {votes} not count in the ratings and are left out."
        return message


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def everyone_view(payload: Mapping[str, Any] | None) -> tuple[dict[str, tuple[float, float | None, float | None]], str]:
    """Everyone's (rating, lower, upper) per model from a stored leaderboard payload's human view (all categories,
    no style control: the one the Leaderboard tab opens on), and a line saying where they come from."""
    views = (payload or {}).get("views") or {}
    view = views.get(view_key(HUMAN, None, False)) if isinstance(views, Mapping) else None
    if not isinstance(view, Mapping) or not view.get("rows"):
        return {}, "Everyone's ratings appear once the leaderboard has been computed from counted votes."
    ratings: dict[str, tuple[float, float | None, float | None]] = {}
    for row in view["rows"]:
        rating = _number(row.get("rating")) if isinstance(row, Mapping) else None
        if rating is not None:
            ratings[str(row.get("model"))] = (rating, _number(row.get("lower")), _number(row.get("upper")))
    when = (payload or {}).get("generated_at")
    votes = view.get("n_battles")
    source = "Everyone's ratings: the Leaderboard tab's (people's votes, all categories, no style control)"
    if isinstance(votes, int):
        source += f", from {votes:,} counted votes"
    if when:
        source += f", computed {when}"
    return ratings, source + "."


class PersonalLeaderboard:
    def __init__(
        self,
        read_votes: VotesReader,
        read_snapshot: SnapshotReader,
        *,
        min_votes: int = DEFAULT_MIN_VOTES,
        refreshes_per_minute: int = REFRESHES_PER_MINUTE,
        everyone_seconds: float = EVERYONE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_votes < 1:
            raise ValueError(f"min_votes must be at least 1, got {min_votes}")
        self.read_votes, self.read_snapshot, self.min_votes = read_votes, read_snapshot, min_votes
        self.everyone_seconds, self.clock = everyone_seconds, clock
        self._limits = (
            SlidingWindowLimiter(refreshes_per_minute, 60.0, clock=clock),
            SlidingWindowLimiter(3 * refreshes_per_minute, 60.0, clock=clock),
        )
        self._lock = threading.Lock()
        self._everyone: tuple[float, dict[str, tuple[float, float | None, float | None]], str] | None = None
        self._last: OrderedDict[str, tuple[float, PersonalBoard]] = OrderedDict()

    def board(self, caller: Caller) -> PersonalBoard:
        """The caller's board: their own votes only (by their session), everyone's from the stored snapshot."""
        session = caller.session_id
        wait = self._limits[0].hit(session)
        if wait <= 0 and caller.client_id:
            wait = self._limits[1].hit(caller.client_id)
        if wait > 0:
            return self._again(session, wait)
        board = self._compute(session)
        with self._lock:
            self._last[session] = (self.clock(), board)
            self._last.move_to_end(session)
            while len(self._last) > CACHED_BOARDS:
                self._last.popitem(last=False)
        return board

    def _again(self, session: str, wait: float) -> PersonalBoard:
        with self._lock:
            last = self._last.get(session)
        note = f"Refreshed too often: try again in {max(1, math.ceil(wait))} s."
        if last is None:
            return PersonalBoard(min_votes=self.min_votes, counted=0, not_counted=0, stale=note)
        at, board = last
        return replace(board, stale=f"{note} Showing your leaderboard from {max(0, round(self.clock() - at))} s ago.")

    def _compute(self, session: str) -> PersonalBoard:
        votes = self.read_votes(session)
        own = counted(votes, source=HUMAN)
        board = PersonalBoard(min_votes=self.min_votes, counted=len(own), not_counted=len(votes) - len(own))
        if not board.ready:
            return board
        counts = count_outcomes(own)
        fit = fit_ratings(counts)
        wins, ties, losses = counts.per_model()
        everyone, source = self._everyone_view()
        rows = []
        for i, model in enumerate(fit.models):
            theirs = everyone.get(model)
            rows.append(
                PersonalRow(
                    model=model,
                    rating=float(fit.rating[i]),
                    lower=float(fit.lower[i]),
                    upper=float(fit.upper[i]),
                    votes=round(float(wins[i] + ties[i] + losses[i])),
                    prior=bool(fit.prior[i]),
                    everyone_rating=theirs[0] if theirs else None,
                    everyone_lower=theirs[1] if theirs else None,
                    everyone_upper=theirs[2] if theirs else None,
                )
            )
        rows.sort(key=lambda row: (-row.rating, row.model))
        return replace(board, rows=tuple(rows), warnings=fit.warnings, everyone=source)

    def _everyone_view(self) -> tuple[dict[str, tuple[float, float | None, float | None]], str]:
        now = self.clock()
        with self._lock:
            cached = self._everyone
        if cached is not None and now - cached[0] < self.everyone_seconds:
            return cached[1], cached[2]
        ratings, source = everyone_view(self.read_snapshot())
        with self._lock:
            self._everyone = (now, ratings, source)
        return ratings, source
