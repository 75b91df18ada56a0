"""Where human votes came from, for the stuffing screen (leaderboard.stuffing), and the sources it flagged.

    VoteOrigins(db).read(since=...)     -> counted human votes with their address and network hashes
    VoteOrigins(db).flag(sources)       -> store flagged sources; their votes, past and future, stop counting
    VoteOrigins(db).flagged()           -> the flagged sources, newest first
    VoteOrigins(db).forget_daily_counts(before) -> drop the daily cap's counters of past days

A flag is a fact about the voter, so it goes into each of the source's votes as a voter reason and through the
one eligibility rule (facts.eligibility.verdict) into the stored verdict, like a battle flag: every reader sees
the vote excluded with the reason. Votes cast later from a flagged source are excluded when they are written
(store.battles.insert_vote).

Cost: `read` reads the human votes since a time (the index on the votes' time keeps it to the window; narrow
columns, no text); `flag` touches only the flagged sources' votes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa
from sqlalchemy import bindparam, delete, or_, select, update

from facts.eligibility import STUFFING, BattleFacts, joined, reasons_of, verdict
from facts.vocabulary import HUMAN
from store.columnar import arrow_batches
from store.db import Database
from store.tables import AddressDay, Battle, FlaggedSource, Vote, utcnow

KINDS = ("address", "network")


@dataclass(frozen=True)
class SourceFlag:
    """A source to flag: the salted hash of an address (kind "address") or of its network ("network")."""

    key: str
    kind: str
    evidence: str


@dataclass(frozen=True)
class FlagReport:
    new_sources: int
    votes_excluded: int  # votes that counted before and no longer do


class VoteOrigins:
    def __init__(self, db: Database) -> None:
        self._db = db

    def read(self, since: datetime | None = None) -> pd.DataFrame:
        """Counted human votes with an address (votes from before addresses were kept have none), oldest first:
        model_a, model_b, winner, voter (address + session), client (address), network, tstamp (unix seconds)."""
        query = (
            select(
                Vote.model_a,
                Vote.model_b,
                Vote.winner,
                Vote.voter_id.label("voter"),
                Vote.client_id.label("client"),
                Vote.network_id.label("network"),
                Vote.created_at,
            )
            .where(Vote.source == HUMAN, Vote.excluded_reason.is_(None), Vote.client_id.is_not(None))
            .order_by(Vote.id)
        )
        if since is not None:
            query = query.where(Vote.created_at >= since)
        # Columnar (store.columnar): a week at Chatbot Arena's pace is hundreds of thousands of rows.
        columns = ["model_a", "model_b", "winner", "voter", "client", "network", "tstamp"]
        batches = list(arrow_batches(self._db.engine, query))
        if not batches:
            return pd.DataFrame({name: pd.Series(dtype=object) for name in columns}).assign(
                tstamp=pd.Series(dtype=float)
            )
        frame = pa.Table.from_batches(batches).rename_columns(columns).to_pandas()
        times = pd.to_datetime(frame["tstamp"], utc=True, format="mixed")
        frame["tstamp"] = (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        return frame

    def flag(self, sources: Sequence[SourceFlag]) -> FlagReport:
        """Store the sources (one already flagged keeps its first evidence) and exclude their votes, in one
        transaction: each vote gets the stuffing reason among its voter reasons and its verdict rewritten."""
        for source in sources:
            if source.kind not in KINDS or not source.key:
                raise ValueError(f"a flagged source needs a key and a kind in {KINDS}, got {source!r}")
        if not sources:
            return FlagReport(0, 0)
        keys = sorted({s.key for s in sources})
        with self._db.writing() as session:
            known = set(session.scalars(select(FlaggedSource.key).where(FlaggedSource.key.in_(keys))))
            now = utcnow()
            fresh = {s.key: s for s in sources if s.key not in known}
            session.add_all(
                FlaggedSource(key=s.key, kind=s.kind, evidence=s.evidence, flagged_at=now) for s in fresh.values()
            )
            rows = session.execute(
                select(
                    Vote.id, Vote.voter_reason, Vote.excluded_reason, Battle.mode, Battle.flag_identity_leak,
                    Battle.flag_error, Battle.flag_notes,
                )
                .join(Battle, Battle.id == Vote.battle_id)
                .where(Vote.source == HUMAN, or_(Vote.client_id.in_(keys), Vote.network_id.in_(keys)))
            ).all()  # fmt: skip
            changes, newly_excluded = [], 0
            for vote_id, voter_reason, stored, mode, leak, error, notes in rows:
                own = reasons_of(voter_reason)
                if STUFFING in own:
                    continue
                mine = joined((*own, STUFFING))
                wanted = verdict(BattleFacts(mode, leak, error, notes or ""), mine)
                changes.append({"vote_id": vote_id, "new_voter_reason": mine, "new_verdict": wanted})
                newly_excluded += stored is None
            if changes:
                session.connection().execute(
                    update(Vote)
                    .where(Vote.id == bindparam("vote_id"))
                    .values(voter_reason=bindparam("new_voter_reason"), excluded_reason=bindparam("new_verdict")),
                    changes,
                )
        return FlagReport(len(fresh), newly_excluded)

    def forget_daily_counts(self, before: datetime) -> int:
        """Drop the daily cap's counters of days before `before` (UTC): only today's decides anything, and one
        row per address and day would otherwise grow for ever. Returns the rows dropped."""
        with self._db.writing() as session:
            result = session.execute(delete(AddressDay).where(AddressDay.day < before.strftime("%Y-%m-%d")))
        return int(result.rowcount or 0)

    def flagged(self) -> list[SourceFlag]:
        with self._db.engine.connect() as connection:
            rows = connection.execute(
                select(FlaggedSource.key, FlaggedSource.kind, FlaggedSource.evidence).order_by(
                    FlaggedSource.flagged_at.desc(), FlaggedSource.key
                )
            ).all()
        return [SourceFlag(*row) for row in rows]
