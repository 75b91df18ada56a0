"""Battles from the arena's database, in the clean-battle schema: one row per vote, human and judge alike.

This module is the only door between the leaderboard and the database; the rating core never imports it.

What a row holds, and why:
- model_a / model_b / battle_id from the battle; anony is "the battle was anonymous" (side-by-side battles
  are stored with names shown, and their votes carry an excluded_reason anyway); the battle's flags come
  along as flag_error, flag_identity_leak, flag_length_limit.
- winner, source, excluded_reason, strength, turn from the vote; tstamp is the vote's time in unix seconds;
  judge is the voter's salted hash for a human vote and the judge's name (the source without "judge:") for
  a judge's verdict.
- prompt is the FIRST user message of the battle: follow-ups ("shorter, please", "and in Rust?") rarely
  say what the conversation is about, so the category is classified from the first message.
  answer_a / answer_b are the answers of the voted turn, the ones the voter just compared.
- The style columns are summed over each side's answers from turn 1 to the voted turn, as Chatbot Arena
  sums them over the whole conversation the voter saw (leaderboard.style).
- Only current attempts count: a regenerated answer replaces the old one in what the voter saw. Known gap:
  a judge verdict recorded on a turn that is regenerated later (possible while no human voted on it) is
  paired with the new attempt; a judge that votes after the human, or re-votes, avoids it.
Direct-chat battles have no second model and never appear.

Cost: two set-based queries (votes with their battles; the current turns of voted battles) in one
transaction, whatever the number of votes; every answer is styled once and the classifier runs once per
distinct prompt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from sqlalchemy import Connection, Engine, select

from arena.db import Battle, Turn, Vote, make_engine
from arena.storage import HUMAN, JUDGE_PREFIX, Storage
from leaderboard.categories import Classifier, classify_prompt
from leaderboard.schema import STYLE_COLUMNS, normalize_battles
from leaderboard.style import style_features

_EXTRA_COLUMNS = ("vote_id", "strength", "mode", "flag_error", "flag_identity_leak", "flag_length_limit")

_VOTES = (
    select(
        Vote.id.label("vote_id"),
        Vote.battle_id,
        Vote.turn,
        Vote.winner,
        Vote.strength,
        Vote.voter_id,
        Vote.source,
        Vote.excluded_reason,
        Vote.created_at,
        Battle.model_a,
        Battle.model_b,
        Battle.mode,
        Battle.flag_error,
        Battle.flag_identity_leak,
        Battle.flag_length_limit,
    )
    .join(Battle, Battle.id == Vote.battle_id)
    .where(Battle.model_b.is_not(None))
    .order_by(Vote.id)
)
_TURNS = (
    select(Turn.battle_id, Turn.index, Turn.user_message, Turn.answer_a, Turn.answer_b)
    .where(Turn.superseded.is_(False), Turn.battle_id.in_(select(Vote.battle_id).distinct()))
    .order_by(Turn.battle_id, Turn.index)
)


def load_battles(source: Storage | Engine | str, *, classifier: Classifier = classify_prompt) -> pd.DataFrame:
    """Every vote in the database as a normalized battles frame, oldest vote first.

    `source` is a Storage, an Engine, or a database URL (opened for this call, never migrated).
    """
    with _connection(source) as connection:
        votes = pd.DataFrame(connection.execute(_VOTES).mappings().all(), columns=list(_VOTES.selected_columns.keys()))
        turns = pd.DataFrame(connection.execute(_TURNS).mappings().all(), columns=list(_TURNS.selected_columns.keys()))
    return _battles(votes, turns, classifier)


@contextmanager
def _connection(source: Storage | Engine | str) -> Iterator[Connection]:
    engine = source.engine if isinstance(source, Storage) else source
    owned = isinstance(engine, str)
    if isinstance(engine, str):
        engine = make_engine(engine)
    try:
        with engine.connect() as connection:
            # Both queries must see the same votes: PostgreSQL's default gives each statement its own snapshot.
            # (A SQLite read transaction already is one snapshot.)
            if engine.dialect.name == "postgresql":
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection
    finally:
        if owned:
            engine.dispose()


def _battles(votes: pd.DataFrame, turns: pd.DataFrame, classifier: Classifier) -> pd.DataFrame:
    sides = _conversation_features(turns)
    first = turns[turns["index"] == 1][["battle_id", "user_message"]].rename(columns={"user_message": "prompt"})
    rows = votes.merge(sides, how="left", left_on=["battle_id", "turn"], right_on=["battle_id", "index"])
    rows = rows.merge(first, how="left", on="battle_id")
    prompts = rows["prompt"].dropna().unique()
    categories = {prompt: classifier(prompt) for prompt in prompts}
    human = rows["source"] == HUMAN
    frame = pd.DataFrame(
        {
            "model_a": rows["model_a"],
            "model_b": rows["model_b"],
            "winner": rows["winner"],
            "judge": rows["voter_id"].where(human, rows["source"].str.removeprefix(JUDGE_PREFIX)),
            "source": rows["source"],
            "turn": rows["turn"],
            "anony": rows["mode"] == "anonymous",
            "tstamp": _unix_seconds(rows["created_at"]),
            "excluded_reason": rows["excluded_reason"],
            "category": rows["prompt"].map(categories),
            "battle_id": rows["battle_id"],
            "prompt": rows["prompt"],
            "answer_a": rows["answer_a"],
            "answer_b": rows["answer_b"],
            **{column: rows[column] for column in STYLE_COLUMNS},
            **{column: rows[column] for column in _EXTRA_COLUMNS},
        }
    )
    return normalize_battles(frame)


def _conversation_features(turns: pd.DataFrame) -> pd.DataFrame:
    """Per (battle, turn index): that turn's answers and each side's style summed over turns 1..index."""
    features: dict[str, list[int]] = {column: [] for column in STYLE_COLUMNS}
    for answer_a, answer_b in zip(turns["answer_a"], turns["answer_b"], strict=True):
        for side, answer in (("a", answer_a), ("b", answer_b)):
            for column, value in style_features(answer or "").columns(side).items():
                features[column].append(value)
    styled = pd.DataFrame(features, index=turns.index, dtype="int64")
    # Rows are ordered by (battle, index), so a running sum within each battle is "up to this turn".
    cumulative = styled.groupby(turns["battle_id"]).cumsum()
    return pd.concat([turns[["battle_id", "index", "answer_a", "answer_b"]], cumulative], axis=1)


def _unix_seconds(times: pd.Series) -> pd.Series:
    # SQLite returns naive datetimes for timezone-aware columns; arena.storage writes them in UTC.
    stamps = pd.to_datetime(times, utc=True)
    return (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
