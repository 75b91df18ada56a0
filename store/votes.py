"""The one votes reader: every package reads votes here (leaderboard, judge audit, training pairs, export,
retrain trigger, anomaly detection), and sees the same votes with the same stored verdicts.

    Votes(db).read()                     -> the clean-battle frame, narrow: labels, numbers, stored facts
    Votes(db).read(texts=True)           -> plus prompt (first user message), answer_a, answer_b
    Votes(db).read(conversations=True)   -> plus messages_a / messages_b, each side's chat up to the voted message
    Votes(db).count_decisive(since=...)  -> what the retrain trigger counts
    Votes(db).watermark()                -> highest vote id and vote count (is a stored leaderboard stale?)

A row per vote on a two-sided battle (direct chat has none), oldest vote first, in facts.schema's columns, all
read from facts stored with the vote when it was written (store.battles):
- model_a / model_b and mode as the battle had them; anony is "the battle was anonymous".
- winner, source, strength, turn; tstamp is the vote's time in unix seconds; judge is the voter's salted hash
  for a human vote and the judge's name for a judge's verdict.
- excluded_reason is the eligibility verdict (facts.eligibility); None: the vote counts.
- category is facts.categories of the battle's first user message (follow-ups rarely say what a conversation is
  about); the style columns sum each side's answers over the turns the voter saw (facts.style). NaN / None only
  for votes the backfill has not reached.
With texts or conversations, the battle's id and flags come along, and the texts of the voted turn's current
attempt (a regenerated answer replaced the old one in what the voter saw; known gap: a judge verdict on a turn
regenerated later, possible while no human voted on it, is paired with the new attempt's text).

Cost: the narrow read is one scan of the votes table, no join and no answer text; texts add two joins,
conversations one more statement; always in one snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, func, select
from sqlalchemy.orm import aliased

from facts.schema import normalize_battles
from facts.style import STYLE_COLUMNS
from facts.vocabulary import ANONYMOUS, HUMAN, JUDGE_PREFIX, TIES
from store.db import Database
from store.tables import VOTE_STYLE_COLUMNS, Battle, Turn, Vote
from store.views import VoteWatermark

Message = dict[str, str]
EXTRA_COLUMNS = ("vote_id", "strength", "mode")
TEXT_COLUMNS = ("flag_error", "flag_identity_leak", "flag_length_limit")

_voted = aliased(Turn, name="voted")
_first = aliased(Turn, name="first")
_NARROW = (
    Vote.id.label("vote_id"),
    Vote.turn,
    Vote.winner,
    Vote.strength,
    Vote.voter_id,
    Vote.source,
    Vote.excluded_reason,
    Vote.created_at,
    Vote.model_a,
    Vote.model_b,
    Vote.mode,
    Vote.category,
    *VOTE_STYLE_COLUMNS,
)
_WITH_TEXTS = (
    Vote.battle_id,
    Battle.flag_error,
    Battle.flag_identity_leak,
    Battle.flag_length_limit,
    _first.user_message.label("prompt"),
    _voted.answer_a,
    _voted.answer_b,
)
_CONVERSATION_TURNS = (
    select(Turn.battle_id, Turn.index, Turn.user_message, Turn.answer_a, Turn.answer_b)
    .where(Turn.superseded.is_(False), Turn.battle_id.in_(select(Vote.battle_id).distinct()))
    .order_by(Turn.battle_id, Turn.index)
)


def _query(texts: bool) -> Any:
    query = select(*_NARROW, *(_WITH_TEXTS if texts else ()))
    if texts:
        query = (
            query.join(Battle, Battle.id == Vote.battle_id)
            .outerjoin(
                _voted,
                and_(_voted.battle_id == Vote.battle_id, _voted.index == Vote.turn, _voted.superseded.is_(False)),
            )
            .outerjoin(
                _first, and_(_first.battle_id == Vote.battle_id, _first.index == 1, _first.superseded.is_(False))
            )
        )
    return query.where(Vote.model_b.is_not(None)).order_by(Vote.id)


class Votes:
    def __init__(self, db: Database) -> None:
        self._db = db

    def read(self, *, texts: bool = False, conversations: bool = False) -> pd.DataFrame:
        """Every vote as a clean-battle frame (see the module notes); `conversations` implies `texts`."""
        texts = texts or conversations
        with self._db.snapshot() as connection:
            rows = _columns(connection, _query(texts))
            turns = connection.execute(_CONVERSATION_TURNS).all() if conversations else []
        frame = _battles_frame(rows, texts)
        if conversations:
            frame["messages_a"], frame["messages_b"] = _conversations(frame, turns)
        return frame

    def count_decisive(self, since: datetime | None = None, *, source: str | None = HUMAN) -> int:
        """Decisive votes (not ties) that count, after `since`: what the retrain trigger counts."""
        query = select(func.count()).select_from(Vote).where(Vote.winner.not_in(TIES), Vote.excluded_reason.is_(None))
        if since is not None:
            query = query.where(Vote.created_at > since)
        if source is not None:
            query = query.where(Vote.source == source)
        with self._db.engine.connect() as connection:
            return int(connection.scalar(query) or 0)

    def count(self, source: str | None = None) -> int:
        """Every vote (counted or not), of one source or all."""
        query = select(func.count()).select_from(Vote)
        if source is not None:
            query = query.where(Vote.source == source)
        with self._db.engine.connect() as connection:
            return int(connection.scalar(query) or 0)

    def watermark(self) -> VoteWatermark:
        with self._db.engine.connect() as connection:
            last, total, excluded = connection.execute(
                select(func.coalesce(func.max(Vote.id), 0), func.count(Vote.id), func.count(Vote.excluded_reason))
            ).one()
        return VoteWatermark(int(last), int(total), int(excluded))


_CHUNK = 100_000


def _columns(connection: Connection, query: Any) -> pd.DataFrame:
    """The query's rows as a DataFrame, fetched through the driver's own cursor in chunks and turned into
    columns: SQLAlchemy's Row objects (and pandas probing them one by one) cost more than the database does."""
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    names = list(query.selected_columns.keys())
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled))
        columns: list[list[Any]] = [[] for _ in names]
        while chunk := cursor.fetchmany(_CHUNK):
            for values, column in zip(zip(*chunk, strict=True), columns, strict=True):
                column.extend(values)
    finally:
        cursor.close()
    if not columns or not columns[0]:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in names})
    return pd.DataFrame(dict(zip(names, columns, strict=True)), columns=names)


def _battles_frame(rows: pd.DataFrame, texts: bool) -> pd.DataFrame:
    human = rows["source"] == HUMAN
    frame = pd.DataFrame(
        {
            "model_a": rows["model_a"],
            "model_b": rows["model_b"],
            "winner": rows["winner"],
            "judge": rows["voter_id"].where(human, rows["source"].str.removeprefix(JUDGE_PREFIX)),
            "source": rows["source"],
            "turn": rows["turn"],
            "anony": rows["mode"] == ANONYMOUS,
            "tstamp": _unix_seconds(rows["created_at"]),
            "excluded_reason": rows["excluded_reason"].astype(object).where(rows["excluded_reason"].notna(), None),
            "category": rows["category"].astype(object).where(rows["category"].notna(), None),
            **({"battle_id": rows["battle_id"]} if texts else {}),
            **({"prompt": rows["prompt"], "answer_a": rows["answer_a"], "answer_b": rows["answer_b"]} if texts else {}),
            **{column: pd.to_numeric(rows[column], errors="coerce").astype("float64") for column in STYLE_COLUMNS},
            **{column: rows[column] for column in EXTRA_COLUMNS},
            **({column: rows[column].astype(bool) for column in TEXT_COLUMNS} if texts else {}),
        }
    )
    return normalize_battles(frame)


def _conversations(
    frame: pd.DataFrame, turns: Sequence[Any]
) -> tuple[list[tuple[Message, ...] | None], list[tuple[Message, ...] | None]]:
    """Each side's chat messages up to and including the voted turn's user message (the voted answers are the
    completions): None when the voted turn is not among the current turns."""
    by_battle: dict[str, list[tuple[int, str, str, str | None]]] = {}
    for battle_id, index, user_message, answer_a, answer_b in turns:
        by_battle.setdefault(battle_id, []).append((index, user_message, answer_a, answer_b))
    sides: tuple[list[tuple[Message, ...] | None], list[tuple[Message, ...] | None]] = ([], [])
    for battle_id, turn in zip(frame["battle_id"], frame["turn"], strict=True):
        history = [t for t in by_battle.get(battle_id, []) if t[0] <= turn]
        complete = bool(history) and history[-1][0] == turn
        for side, messages in zip((2, 3), sides, strict=True):
            messages.append(_conversation(history, side) if complete else None)
    return sides


def _conversation(history: list[tuple[int, str, str, str | None]], side: int) -> tuple[Message, ...]:
    messages: list[Message] = []
    for position, turn in enumerate(history):
        messages.append({"role": "user", "content": turn[1]})
        if position < len(history) - 1:  # the voted turn's answer is the completion, not the prompt
            messages.append({"role": "assistant", "content": turn[side] or ""})
    return tuple(messages)


def _unix_seconds(times: pd.Series) -> pd.Series:
    # SQLite returns naive datetimes for timezone-aware columns; the store writes them in UTC.
    stamps = pd.to_datetime(times, utc=True)
    return (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
