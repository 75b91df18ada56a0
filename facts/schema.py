"""The battles table every rating function takes: Chatbot Arena's clean-battle schema, plus a few columns.

Required: model_a, model_b, winner (model_a | model_b | tie | tie (bothbad)).
Optional, with defaults: judge (who voted: a hashed voter id, or the judge's name; ""), source ("human" or
"judge:<name>"; "human"), turn (1), anony (True), tstamp (unix seconds; 0.0), excluded_reason (None: counts),
category (None), battle_id (None), prompt / answer_a / answer_b (texts, None), and the style features
len_a, len_b (answer tokens), header_a, header_b, list_a, list_b, bold_a, bold_b (markdown element counts).
Not filled in when absent: battle_key (integers, equal for the votes of one battle: the store's compact stand-in
for battle_id). The intervals treat the votes of one battle as one unit (leaderboard.outcomes.battle_codes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from facts.style import STYLE_COLUMNS, STYLE_FEATURES
from facts.vocabulary import HELPFULNESS, HUMAN, WINNERS

__all__ = ["COLUMNS", "DEFAULTS", "REQUIRED", "STYLE_COLUMNS", "STYLE_FEATURES", "WINNERS", "BattlesError"]

REQUIRED = ("model_a", "model_b", "winner")
DEFAULTS: dict[str, Any] = {
    "judge": "",
    "source": HUMAN,
    "turn": 1,
    "anony": True,
    "tstamp": 0.0,
    "excluded_reason": None,
    "category": None,
    "battle_id": None,
    "prompt": None,
    "answer_a": None,
    "answer_b": None,
}
COLUMNS = (*REQUIRED, *DEFAULTS, *STYLE_COLUMNS)
DEFAULTED = "defaulted_columns"  # the frame attribute naming the optional columns that were filled in


class BattlesError(ValueError):
    """The battles table is malformed; the message names the column or the first offending row."""


def normalize_battles(frame: pd.DataFrame) -> pd.DataFrame:
    """Check the schema and fill the optional columns; returns a new frame with a fresh 0..n-1 index."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise BattlesError(f"the battles table lacks the column(s) {', '.join(missing)}")
    # No deep copy: the columns changed below are replaced, never written into (a million votes need not be
    # copied once more).
    battles = frame.reset_index(drop=True)
    # Which optional columns the data did not have, kept with the frame (pandas attrs follow it through
    # selections): a reader that must not guess, such as the judge audit, can tell a default from a value.
    defaulted = set(frame.attrs.get(DEFAULTED, ()))
    for column, default in DEFAULTS.items():
        if column not in battles.columns:
            battles[column] = default
            defaulted.add(column)
    for column in STYLE_COLUMNS:
        if column not in battles.columns:
            battles[column] = float("nan")
    bad = ~battles["winner"].isin(WINNERS)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise BattlesError(
            f"row {row} has an unknown winner {battles.at[row, 'winner']!r} "
            f"({battles.at[row, 'model_a']!r} vs {battles.at[row, 'model_b']!r}); expected one of {', '.join(WINNERS)}"
        )
    for side in ("model_a", "model_b"):
        names = battles[side]
        # strip each distinct name once, not every row: a million votes name a few hundred models
        blank = [name for name in pd.unique(names) if not pd.isna(name) and str(name).strip() == ""]
        empty = names.isna() | names.isin(blank)
        if empty.any():
            row = int(empty.to_numpy().nonzero()[0][0])
            raise BattlesError(f"row {row} has no {side}")
    battles["model_a"], battles["model_b"] = model_labels(battles["model_a"], battles["model_b"])
    same = battles["model_a"] == battles["model_b"]
    if same.any():
        row = int(same.to_numpy().nonzero()[0][0])
        raise BattlesError(f"row {row} pits {battles.at[row, 'model_a']!r} against itself")
    # An empty source is the default, as CSV (one empty cell for "" and missing) already reads it: the same rows
    # must not be people's votes from one format and nobody's from another.
    blank_source = [label for label in pd.unique(battles["source"]) if pd.isna(label) or str(label).strip() == ""]
    if blank_source:
        battles["source"] = battles["source"].astype(object).where(~battles["source"].isin(blank_source), HUMAN)
        if battles["source"].isna().any():
            battles["source"] = battles["source"].fillna(HUMAN)
    if battles["anony"].dtype != bool:
        battles["anony"] = battles["anony"].fillna(True).astype(bool)
    if not pd.api.types.is_integer_dtype(battles["turn"].dtype):
        battles["turn"] = _whole_turns(battles["turn"])
    if battles["tstamp"].dtype != np.float64 or battles["tstamp"].hasnans:
        battles["tstamp"] = battles["tstamp"].fillna(0.0).astype(float)
    battles = battles[[*COLUMNS, *[c for c in battles.columns if c not in COLUMNS]]]
    battles.attrs[DEFAULTED] = tuple(sorted(defaulted))
    return battles


def defaulted_columns(battles: pd.DataFrame) -> frozenset[str]:
    """The optional columns normalize_battles filled with their default because the data lacked them."""
    return frozenset(battles.attrs.get(DEFAULTED, ()))


MAX_TURN = 1_000_000  # far beyond any conversation; a bigger "turn" is a mistake, not a turn


def _whole_turns(turn: pd.Series) -> pd.Series:
    """The turn column as integers, missing as 1; a fraction, a text or an absurd number is refused by row, never
    rounded or wrapped (1.5 would become turn 1, 1e20 a negative number)."""
    values = pd.to_numeric(turn, errors="coerce")
    given = turn.notna()
    bad = given & (values.isna() | (values != values.round()) | (values.abs() > MAX_TURN))
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise BattlesError(
            f"the turn column holds {int(bad.sum()):,} values that are not whole numbers up to {MAX_TURN:,} "
            f"(row {row}: {turn.iloc[row]!r})"
        )
    return values.fillna(1).astype(np.int64)


def model_labels(model_a: pd.Series, model_b: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Both model columns as categories of one shared, sorted set of names (strings): a vote is then two small
    codes, and the two columns compare and count without string work. Names already in such a pair are kept."""
    if (
        isinstance(model_a.dtype, pd.CategoricalDtype)
        and isinstance(model_b.dtype, pd.CategoricalDtype)
        and model_a.cat.categories.equals(model_b.cat.categories)
        and model_a.cat.categories.is_monotonic_increasing
        and model_a.cat.categories.dtype == object
        and all(isinstance(name, str) for name in model_a.cat.categories)
    ):
        return model_a, model_b
    if (
        isinstance(model_a.dtype, pd.CategoricalDtype)
        and isinstance(model_b.dtype, pd.CategoricalDtype)
        and all(isinstance(name, str) for name in (*model_a.cat.categories, *model_b.cat.categories))
    ):  # recode the categories (a few dozen names), not the rows
        names = pd.Index(sorted({*model_a.cat.categories, *model_b.cat.categories}), dtype=object)
        return model_a.cat.set_categories(names), model_b.cat.set_categories(names)
    a, b = model_a.astype(str), model_b.astype(str)
    names = pd.Index(pd.unique(pd.concat([a, b], ignore_index=True)), dtype=object).sort_values()
    dtype = pd.CategoricalDtype(names)
    return a.astype(dtype), b.astype(dtype)


def counted(battles: pd.DataFrame, *, source: str | None = HUMAN) -> pd.DataFrame:
    """The votes that count in ratings, from one source (None: every source).

    The arena's votes carry the store's verdict (`excluded_reason`, facts.eligibility), which already leaves
    out battles whose names were shown; a battles file from elsewhere may say so only in `anony`, so both are
    read. Nothing here decides eligibility: it reads what was decided."""
    keep = battles["anony"].astype(bool) & battles["excluded_reason"].isna()
    if source is not None:
        keep &= battles["source"] == source
    if keep.all():  # a selection already made (a view's own votes): no copy of millions of rows
        return battles.copy(deep=False)
    return battles[keep]


def of_criterion(battles: pd.DataFrame, criterion: str) -> pd.DataFrame:
    """The votes that judged `criterion`. A frame without a `criterion` column, or a vote without a value in it,
    judged helpfulness (files from before red-team battles, the arena's export without --include-red-team,
    Chatbot Arena's releases); the two criteria are never read together. A frame of that one criterion is returned
    as it is, not copied."""
    if "criterion" not in battles.columns:
        return battles if criterion == HELPFULNESS else battles.iloc[:0]
    stated = battles["criterion"]
    keep = (stated == criterion).to_numpy(dtype=bool)
    if criterion == HELPFULNESS:
        keep = keep | stated.isna().to_numpy()
    return battles if keep.all() else battles[keep]
