"""The stuffing screen as a job: read the recent counted human votes with where they came from, find the
addresses and networks stuffing votes (leaderboard.stuffing, pure), and flag them in the store, which takes
their votes out of every count with the reason (store.vote_origins). The scheduler runs it; the leaderboard's
next refresh sees the changed verdicts (the count of excluded votes is part of its staleness check).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leaderboard.stuffing import screen_stuffing
from store import SourceFlag, Store


def screen_votes(store: Store, *, days: float = 7.0) -> dict[str, Any]:
    """Screen the last `days` of votes and drop the daily cap's old counters; returns what the job history shows
    (votes read, sources flagged, votes that stopped counting, counters dropped)."""
    now = datetime.now(UTC)
    votes = store.vote_origins.read(since=now - timedelta(days=days))
    report = screen_stuffing(votes)
    flags = [SourceFlag(key, kind, found.evidence) for found in report.flagged for kind, key in found.sources()]
    stored = store.vote_origins.flag(flags)
    # Yesterday's counters are kept a day (a vote in flight at midnight), older ones are dropped.
    forgotten = store.vote_origins.forget_daily_counts(before=now - timedelta(days=1))
    return {
        "votes": len(votes),
        "flagged": stored.new_sources,
        "votes_excluded": stored.votes_excluded,
        "daily_counters_dropped": forgotten,
    }
