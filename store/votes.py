"""The one votes reader: every package reads votes here (leaderboard, judge audit, training pairs, export,
retrain trigger, anomaly detection), and sees the same votes with the same stored verdicts.

    Votes(db).read()                     -> the clean-battle frame, narrow: labels, numbers, stored facts
    Votes(db).read(audit=True)           -> plus battle_id, unique_a, unique_b: what the judge audit needs
    Votes(db).read(texts=True)           -> plus those, prompt (first user message), answer_a, answer_b
    Votes(db).read(conversations=True)   -> plus messages_a / messages_b, each side's chat up to the voted message
    Votes(db).count_decisive(since=...)  -> what the retrain trigger counts
    Votes(db).watermark()                -> highest vote id and vote count (is a stored leaderboard stale?)

A row per vote on a two-sided battle (direct chat has none), oldest vote first, in facts.schema's columns, all
read from facts stored with the vote when it was written (store.battles):
- model_a / model_b and mode as the battle had them; anony is "the battle was anonymous"; criterion is what the
  vote judges (helpfulness, or harmlessness in a red-team battle), and a read
  returns helpfulness votes unless it asks for another criterion.
- winner, source, strength, turn; tstamp is the vote's time in unix seconds; judge is the voter's salted hash
  for a human vote and the judge's name for a judge's verdict.
- excluded_reason is the eligibility verdict (facts.eligibility); None: the vote counts.
- category is facts.categories of the battle's first user message (follow-ups rarely say what a conversation is
  about); the style columns sum each side's answers over the turns the voter saw (facts.style). NaN / None only
  for votes the backfill has not reached. unique_a / unique_b: each side's unique-token share in the voted
  turn's answer (facts.style.unique_token_share).
- battle_key (int32): a code per battle, equal for the votes of one battle (a person's turns, a judge's vote
  beside a person's), so the intervals can count battles rather than votes (leaderboard.outcomes); read from the
  battle id as a hash, never held as text.
- pair_probability (float64) and pool_size (float32): how the battle's pair was drawn (arena.sampling), copied
  to the vote when it was written, human and judge votes alike; NaN for battles that did not store it (direct
  chat has no votes; side-by-side, battles from before it was stored, imported ones). facts.propensity makes them
  the vote's weight.
With texts or conversations, the battle's id and flags come along, and the texts of the voted turn's current
attempt (a regenerated answer replaced the old one in what the voter saw; known gap: a judge verdict on a turn
regenerated later, possible while no human voted on it, is paired with the new attempt's text).

Cost: the narrow read is one scan of the votes table, no join and no answer text; texts add two joins,
conversations one more statement; always in one snapshot. Memory: the batches are converted as they arrive
into one buffer per column, sized by the watermark's last id (no list of chunks concatenated at the end): about
80 bytes a vote, labels a byte each, the battle's id an eight-byte hash (kept as a four-byte code; numbering the
hashes briefly needs about 50 bytes a vote more).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Float, and_, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from facts.schema import normalize_battles
from facts.style import STYLE_COLUMNS
from facts.vocabulary import ANONYMOUS, HELPFULNESS, HUMAN, JUDGE_PREFIX, TIES
from store.columnar import arrow_batches, cursor_batches
from store.db import Database
from store.tables import VOTE_STYLE_COLUMNS, Battle, Turn, Vote
from store.views import VoteWatermark

Message = dict[str, str]
EXTRA_COLUMNS = ("vote_id", "strength", "mode", "harm_category")  # with texts
TEXT_COLUMNS = ("flag_error", "flag_identity_leak", "flag_length_limit")
# How its battle's pair was drawn (store.battles.check_propensity): NaN for votes on battles that did not store it
# (before it was stored, imported ones). facts.propensity turns them into the vote's weight.
PROPENSITY_COLUMNS = ("pair_probability", "pool_size")


class UnixSeconds(FunctionElement):
    """A timestamp column as seconds since 1970 (float), computed by the database: no text to parse per vote."""

    type = Float()
    inherit_cache = True


@compiles(UnixSeconds, "sqlite")
def _unix_seconds_sqlite(element: UnixSeconds, compiler: Any, **options: Any) -> str:
    # SQLite keeps the store's UTC times as text; julianday reads them with their fractional seconds.
    return f"((julianday({compiler.process(element.clauses, **options)}) - 2440587.5) * 86400.0)"


@compiles(UnixSeconds)
def _unix_seconds_default(element: UnixSeconds, compiler: Any, **options: Any) -> str:
    # A timestamp column travels as 8 bytes and becomes seconds on the client (_seconds): computing EXTRACT for
    # every row cost PostgreSQL a fifth of a ten-million-vote read.
    return compiler.process(element.clauses, **options)


_voted = aliased(Turn, name="voted")
_first = aliased(Turn, name="first")
# Who voted (the frame's `judge`): the voter's salted hash for a person, the judge's name for a judge's verdict,
# made from voter_id and source on the client (_judge), from their labels' codes, not per row in SQL.
_NARROW = (
    Vote.turn,
    Vote.winner,
    Vote.voter_id,
    Vote.source,
    func.coalesce(Vote.excluded_reason, "").label("excluded_reason"),
    UnixSeconds(Vote.created_at).label("tstamp"),
    Vote.model_a,
    Vote.model_b,
    Vote.mode,
    Vote.criterion,
    func.coalesce(Vote.category, "").label("category"),
    *VOTE_STYLE_COLUMNS,
    # Read as 0 when NULL (and back to NaN on the client): ADBC's SQLite driver types a column from its first rows,
    # and the NULLs of every vote from before they were stored would be taken for integers.
    func.coalesce(Vote.pair_probability, 0.0).label("pair_probability"),
    func.coalesce(Vote.pool_size, 0).label("pool_size"),
    Vote.battle_id.label("battle_key"),  # read as a number per battle (_battle_hashes), never kept as text
)
# What the judge audit groups and measures by: the battle turn, and the voted answers' unique-token shares.
_AUDIT = (Vote.battle_id, Vote.unique_a, Vote.unique_b)
AUDIT_COLUMNS = ("battle_id", "unique_a", "unique_b")
_WITH_TEXTS = (
    Vote.id.label("vote_id"),
    Vote.strength,
    Vote.harm_category,
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


def _query(texts: bool, upto: int | None = None, audit: bool = False, criterion: str | None = HELPFULNESS) -> Any:
    query = select(*_NARROW, *(_AUDIT if texts or audit else ()), *(_WITH_TEXTS if texts else ()))
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
    query = query.where(Vote.model_b.is_not(None))
    if criterion is not None:
        query = query.where(Vote.criterion == criterion)
    if upto is not None:
        query = query.where(Vote.id <= upto)
    return query.order_by(Vote.id)


class Votes:
    def __init__(self, db: Database) -> None:
        self._db = db

    def read(
        self,
        *,
        texts: bool = False,
        conversations: bool = False,
        audit: bool = False,
        upto: int | None = None,
        criterion: str | None = HELPFULNESS,
    ) -> pd.DataFrame:
        """Every vote as a clean-battle frame (see the module notes); `conversations` implies `texts`. `audit`:
        with what the judge audit needs beyond the narrow columns (battle_id, unique_a, unique_b), still no text;
        texts bring those too. `upto`: only votes up to that id (a watermark read before, so the result matches
        it). `criterion`: the votes that judge helpfulness unless asked (harmlessness: red-team votes; None: both,
        told apart by the criterion column), so no reader pools the two by accident."""
        texts = texts or conversations
        if not texts:
            rows = upto if upto is not None else self.watermark().last_vote_id  # ids count up: an upper bound
            query = _query(False, upto, audit, criterion)
            batches = arrow_batches(self._db.engine, query, rows=rows)
            return _battles_frame(batches, texts=False, audit=audit, rows=rows)
        with self._db.snapshot() as connection:
            query = _query(True, upto, criterion=criterion)
            frame = _battles_frame(cursor_batches(connection, query), texts=True, audit=True)
            turns = connection.execute(_CONVERSATION_TURNS).all() if conversations else []
        if conversations:
            frame["messages_a"], frame["messages_b"] = _conversations(frame, turns)
        return frame

    def read_session(self, session_id: str) -> pd.DataFrame:
        """One browser session's votes, for the personal leaderboard: the human helpfulness votes on that
        session's battles whose names were revealed (a vote still waiting for its strength has not shown the names,
        so nothing read here may name them), counted or not, with their stored verdict (`excluded_reason`) and
        `anony`: facts.schema.counted keeps the ones that count, exactly as for everyone's leaderboard. The session
        id is the server's hash tied to the caller, never a value a client sends. One statement over two indexed
        columns (battles.session_id, votes.battle_id); no answer text."""
        query = (
            _query(False, criterion=HELPFULNESS)
            .join(Battle, Battle.id == Vote.battle_id)
            .where(Battle.session_id == (session_id or ""), Battle.revealed_at.is_not(None), Vote.source == HUMAN)
        )
        with self._db.snapshot() as connection:
            return _battles_frame(cursor_batches(connection, query), texts=False)

    def count_decisive(self, since: datetime | None = None, *, source: str | None = HUMAN) -> int:
        """Decisive helpfulness votes (not ties) that count, after `since`: what the retrain trigger counts."""
        query = (
            select(func.count())
            .select_from(Vote)
            .where(Vote.winner.not_in(TIES), Vote.excluded_reason.is_(None), Vote.criterion == HELPFULNESS)
        )
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


# Text columns that may be NULL are read as "" (ADBC's SQLite driver types a column from its first rows, and a
# column NULL there would be taken for integers); "" is never a label, so it reads back as missing.
# Labels stored as categories (a code per row, each distinct label once): a million votes name a few dozen models.
_LABELS = (
    "model_a",
    "model_b",
    "winner",
    "strength",
    "voter_id",
    "source",
    "excluded_reason",
    "mode",
    "criterion",
    "category",
)
_INTEGERS = ("vote_id", "turn", "battle_key")
# FNV-1a's 64-bit offset basis and a 64-bit odd multiplier (splitmix64's): a battle id's hash (_battle_hashes)
_HASH_START = np.uint64(0xCBF29CE484222325)
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_HASH_WIDTH = 64  # ids up to this many bytes (the app's are 36) are hashed by numpy; longer ones one by one


class _Labels:
    """One dictionary of labels built over many batches: each batch's distinct labels are looked up once."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def codes(self, array: pa.Array) -> np.ndarray:
        encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
        mapping = np.array(
            [-1 if not v else self.index.setdefault(v, len(self.index)) for v in encoded.dictionary.to_pylist()] + [-1],
            dtype=np.int32,
        )
        indices = pc.fill_null(encoded.indices, len(mapping) - 1).to_numpy(zero_copy_only=False)
        return mapping[indices]

    def categorical(self, codes: np.ndarray) -> pd.Categorical:
        """The codes as a Categorical whose categories are sorted (the order every reader gets), its codes in the
        narrowest integer type that holds them (a byte per vote for a few dozen models)."""
        labels = np.array(list(self.index), dtype=object)
        order = np.argsort(labels, kind="stable")
        narrow = np.int8 if len(labels) < 2**7 else np.int16 if len(labels) < 2**15 else np.int32
        rank = np.empty(len(labels) + 1, dtype=narrow)
        rank[order] = np.arange(len(labels), dtype=narrow)
        rank[-1] = -1
        return pd.Categorical.from_codes(rank[codes], categories=pd.Index(labels[order], dtype=object))


class _Column:
    """A column filled batch by batch into one buffer that grows by doubling: no list of chunks to concatenate at
    the end, which would hold every vote twice at the peak."""

    def __init__(self, dtype: Any, capacity: int) -> None:
        self.data = np.empty(capacity, dtype=dtype)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            grown = np.empty(max(end, 2 * len(self.data), 1024), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        narrow = np.issubdtype(self.data.dtype, np.integer) and values.dtype != self.data.dtype
        if narrow and len(values) and values.max() > np.iinfo(self.data.dtype).max:  # more labels than codes hold
            self.data = self.data.astype(np.int32)
        self.data[self.size : end] = values
        self.size = end

    def array(self) -> np.ndarray:
        if self.size == len(self.data):
            return self.data
        # A bound on the rows was the capacity: give back what a much smaller result leaves unused.
        return self.data[: self.size].copy() if self.size < 0.75 * len(self.data) else self.data[: self.size]


def _column_type(name: str) -> Any:
    if name == "voter_id":
        return np.int32  # tens of thousands of voters
    if name in _LABELS:
        return np.int16  # widened if ever needed (_Column.append)
    if name in STYLE_COLUMNS:
        return np.float32
    if name in ("tstamp", "unique_a", "unique_b", "pair_probability"):
        return np.float64
    if name == "pool_size":
        return np.float32  # a small count, exact as float32, NaN when missing
    if name == "turn":
        return np.int32
    if name in _INTEGERS:
        return np.int64
    return object  # texts and flags: plain values, None where NULL


def _battles_frame(
    batches: Iterator[pa.RecordBatch], texts: bool, audit: bool = False, rows: int | None = None
) -> pd.DataFrame:
    """The clean-battle frame from the query's batches, built column by column in compact types: labels as
    categories (model_a and model_b share theirs), style counts as float32 (NaN: not backfilled yet), times as
    unix seconds. Texts stay strings. `rows`: a bound on the number of rows, if known (the buffers' size)."""
    models, labels = _Labels(), {name: _Labels() for name in _LABELS}
    labels["model_a"] = labels["model_b"] = models
    names = list(_query(texts, audit=audit).selected_columns.keys())
    # Numbers get the bound as their capacity (pages never written are never resident); objects, which numpy
    # fills in at once, grow from nothing.
    bound = min(rows or 0, 50_000_000)
    columns = {name: _Column(kind, 0 if kind is object else bound) for name in names if (kind := _column_type(name))}
    for batch in batches:
        for name, array in zip(batch.schema.names, batch.columns, strict=True):
            if name in labels:
                value = labels[name].codes(array)
            elif name == "tstamp":
                value = _seconds(array)
            elif name == "battle_key":
                value = _battle_hashes(array)
            elif name in PROPENSITY_COLUMNS:
                value = _propensity(array, columns[name].data.dtype)
            elif (kind := columns[name].data.dtype) != np.dtype(object):
                value = pc.cast(array, pa.from_numpy_dtype(kind)).to_numpy(zero_copy_only=False)
            else:
                value = array.to_numpy(zero_copy_only=False)
            columns[name].append(value)
    values_by_name: dict[str, Any] = {}
    values_by_name["judge"] = _judge(
        labels["voter_id"], columns.pop("voter_id").array(), labels["source"], columns["source"].array()
    )
    for name in names:
        if name == "voter_id":
            continue
        values = columns.pop(name).array()
        if name == "battle_key":  # hashes to dense codes 0..battles-1: what the intervals group by
            values = pd.factorize(values)[0].astype(np.int32)
        values_by_name[name] = labels[name].categorical(values) if name in labels else values
        del values
    n = len(values_by_name["turn"])
    frame = pd.DataFrame(
        {
            "model_a": values_by_name["model_a"],
            "model_b": values_by_name["model_b"],
            "winner": values_by_name["winner"],
            "judge": values_by_name["judge"],
            "source": values_by_name["source"],
            "turn": values_by_name["turn"],
            "anony": np.asarray(values_by_name["mode"] == ANONYMOUS, dtype=bool),
            "criterion": values_by_name["criterion"],
            "tstamp": values_by_name["tstamp"],
            "excluded_reason": values_by_name["excluded_reason"],
            "category": values_by_name["category"],
            "battle_key": values_by_name["battle_key"],
            **({"battle_id": values_by_name["battle_id"]} if audit else {}),
            **(
                {
                    "prompt": values_by_name["prompt"],
                    "answer_a": values_by_name["answer_a"],
                    "answer_b": values_by_name["answer_b"],
                }
                if texts
                else {}
            ),
            **{column: values_by_name[column] for column in STYLE_COLUMNS},
            **{column: values_by_name[column] for column in PROPENSITY_COLUMNS},
            **({"unique_a": values_by_name["unique_a"], "unique_b": values_by_name["unique_b"]} if audit else {}),
            **({column: values_by_name[column] for column in EXTRA_COLUMNS} if texts else {}),
            **({column: np.asarray(values_by_name[column], dtype=bool) for column in TEXT_COLUMNS} if texts else {}),
            # Not read: missing throughout, at a byte per vote (the schema's default, None, costs eight).
            **{column: _missing(n) for column in _ABSENT_TEXTS if column not in values_by_name},
        },
        copy=False,  # the buffers above are the frame's: no second copy of ten million votes
    )
    return normalize_battles(frame)


def _battle_hashes(array: pa.Array) -> np.ndarray:
    """A 64-bit hash of every battle id (int64), computed by numpy on the Arrow buffers, eight bytes of the id at a
    time and then its length (ids longer than _HASH_WIDTH bytes by blake2b): the hash of an id depends on the id
    alone, never on its batch, so equal ids always give equal hashes. Two battles whose hashes collide (about
    3e-6 at ten million battles) would be counted as one by the intervals, which only widens them a little."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    array = pc.fill_null(array.cast(pa.large_string()), "")
    long = pc.greater(pc.binary_length(array), _HASH_WIDTH).to_numpy(zero_copy_only=False)
    if long.any():  # an imported id of any length: hashed alone, so one long id cannot widen the batch's matrix
        hashes = np.empty(len(array), dtype=np.int64)
        hashes[~long] = _battle_hashes(array.filter(pa.array(~long)))
        hashes[long] = [int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "little", signed=True)
                        for value in array.filter(pa.array(long)).to_pylist()]  # fmt: skip
        return hashes
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + n + 1]
    lengths = np.diff(offsets)
    hashes = np.full(n, _HASH_START, dtype=np.uint64)
    if n == 0:
        return hashes.view(np.int64)
    words = -(-lengths // 8)
    width = int(lengths.max())
    padded = np.zeros((n, max(int(words.max()), 1) * 8), dtype=np.uint8)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    uniform = int(lengths.min()) == width
    if uniform:  # the app's ids (uuids): one reshape
        padded[:, :width] = data.reshape(n, width)
    else:
        rows = np.repeat(np.arange(n), lengths)
        padded[rows, np.arange(len(data)) - np.repeat(offsets[:-1] - offsets[0], lengths)] = data
    matrix = padded.view(np.uint64)
    for column in range(matrix.shape[1]):
        mixed = (hashes ^ matrix[:, column]) * _HASH_MULTIPLIER
        mixed ^= mixed >> np.uint64(31)
        # an id's own words only, so that the hash does not depend on the other ids of its batch
        hashes = mixed if uniform else np.where(column < words, mixed, hashes)
    hashes = (hashes ^ lengths.astype(np.uint64)) * _HASH_MULTIPLIER
    hashes ^= hashes >> np.uint64(29)
    return hashes.view(np.int64)


def _seconds(array: pa.Array) -> np.ndarray:
    """Unix seconds as float64 from a timestamp column (PostgreSQL) or from seconds computed in SQL (SQLite):
    the microseconds divided once, so the value is the one EXTRACT(EPOCH ...) gives."""
    if pa.types.is_timestamp(array.type):
        per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[array.type.unit]
        ticks = pc.cast(array, pa.int64()).to_numpy(zero_copy_only=False)
        return ticks / float(per_second)
    return pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)


def _propensity(array: pa.Array, dtype: np.dtype[Any]) -> np.ndarray:
    """A pair probability or pool size read with 0 for NULL (see _NARROW), as floats with NaN for missing."""
    values = pc.cast(array, pa.from_numpy_dtype(dtype)).to_numpy(zero_copy_only=False)
    if not values.flags.writeable:
        values = values.copy()
    values[~(values > 0)] = np.nan  # 0 (stored NULL), and a NULL the driver passed on anyway
    return values


def _judge(voters: _Labels, voter_codes: np.ndarray, sources: _Labels, source_codes: np.ndarray) -> pd.Categorical:
    """Who voted, per vote: the voter id of a human vote, the judge's name (the source without its prefix) of any
    other. From the two columns' codes: each distinct source is looked at once, not each vote."""
    names = list(voters.index)
    codes = voter_codes.astype(np.int32, copy=False)
    for source, code in sources.index.items():
        if source != HUMAN:
            name = source[len(JUDGE_PREFIX) :]
            if name:
                names.append(name)
            codes[source_codes == code] = len(names) - 1 if name else -1
    # Only the labels some vote has (the voter id a judge's verdict was stored with is none): a name that is both
    # a voter id and a judge's is one label.
    used = np.bincount(codes[codes >= 0], minlength=len(names)) > 0
    judge, remap = _Labels(), np.full(len(names) + 1, -1, dtype=np.int32)
    for position in np.flatnonzero(used):
        remap[position] = judge.index.setdefault(names[position], len(judge.index))
    return judge.categorical(remap[codes])


_ABSENT_TEXTS = ("battle_id", "prompt", "answer_a", "answer_b")


def _missing(n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.full(n, -1, dtype=np.int8), categories=pd.Index([], dtype=object))


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
