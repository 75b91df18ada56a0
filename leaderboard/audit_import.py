"""How a battles file becomes the judge audit's input, said out loud: which rows are LLM judges and which are
people, what one battle turn is, which judgments were run in both orders, where the answers come from. Pure.

    prepare_audit_input(battles, SourceMapping(llm_judges=frozenset({"gpt-4"}))) -> AuditInput

Every choice made here is reported: `AuditInput.columns` says which column gave what (shown at the top of
every audit, markdown and JSON), `AuditInput.warnings` counts what was left out or read in a way the file may
not have meant. What cannot be read without guessing is an AuditInputError that says what to add.

- Sources. Rows whose `source` is "judge:<name>" are that LLM judge's verdicts, the rest are people. A file
  with a `judge` column and no `source` column is ambiguous (Chatbot Arena's clean-battle
  files put the voter's id there, other files the judge's name): SourceMapping says which values are LLM judges
  (their rows become judge:<value>, every other row stays a person's) or that the column names people.
- Battle turns. Verdicts on the same two answers are matched across sources and orders by battle_id + turn +
  the pair of models. A file whose battle_id names a question rather than one battle (`question_id` in
  MT-Bench's human judgments, for one) holds several pairs under one id: each pair is its own battle turn,
  and the warning says how many. Without any battle id the prompt text stands in for it.
- Two orders. An `order` column (original / swapped), with `pair_id` naming the judgment where given; else
  recognised from the data: one judge's two verdicts on the same battle turn and pair of answers, the sides
  swapped (the first in the file is the original). Anything else is a single-order verdict.
- Answers. answer_a / answer_b (read by leaderboard.io from conversation_a / conversation_b or AlpacaEval's
  output_1 / output_2), or the lengths len_a / len_b. An empty answer is missing, not 0 tokens: its length
  would say "the longer answer won" about a model that failed to answer.
- Soft preference. AlpacaEval's `preference`: 1 = model_a's answer preferred, 2 = model_b's, 1.5 (or 0, its old
  spelling) a draw, anything in between a weighted preference; values outside are left out and counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from facts.schema import BattlesError, defaulted_columns, normalize_battles

VOTERS = "voters"  # the upload form's word for "the judge column names people"
ORDERS = ("original", "swapped")
NO_TWO_ORDERS = (
    "no judgment appears in both orders (one judge's two verdicts on the same battle turn and pair of answers, the "
    "sides swapped) and there is no order column: swap survival is undefined. Add `order` (original / swapped) and "
    "`pair_id` columns, or include both orders"
)


class AuditInputError(BattlesError):
    """The file cannot be audited without guessing; the message says what to add or which option to give."""


@dataclass(frozen=True)
class SourceMapping:
    """Which values of a file's `judge` column are LLM judges (their rows become source judge:<value>; every other
    row keeps its source, people by default), or that the column names people (Chatbot Arena's clean-battle files
    hold the voter's id there)."""

    llm_judges: frozenset[str] = frozenset()
    judge_column_holds_voters: bool = False

    @classmethod
    def from_text(cls, text: str | None) -> SourceMapping:
        """From the upload form's box: LLM judges' names separated by commas, or "voters"; empty: no mapping."""
        names = [part.strip() for part in (text or "").split(",") if part.strip()]
        if [name.lower() for name in names] == [VOTERS]:
            return cls(judge_column_holds_voters=True)
        return cls(llm_judges=frozenset(names))


@dataclass(frozen=True)
class AuditInput:
    frame: pd.DataFrame  # normalized: sources mapped, battle turns keyed per pair, orders, empty answers missing
    columns: tuple[str, ...]  # how each column the audit uses was read
    warnings: tuple[str, ...]  # what was left out or re-read, with counts


def prepare_audit_input(battles: pd.DataFrame, mapping: SourceMapping | None = None) -> AuditInput:
    frame = normalize_battles(battles)
    columns: list[str] = []
    warnings: list[str] = []
    if itself := frame.attrs.get("alpaca_eval_self_comparisons", 0):
        warnings.append(f"{itself:,} annotations of the baseline against itself left out (50% by construction)")
    if frame.empty:
        return AuditInput(frame, (), (*warnings, "no battles: the data holds no rows to audit"))
    frame = _sources(frame, mapping or SourceMapping(), columns)
    _other_sources(frame, warnings)
    frame = _battle_turns(frame, columns, warnings)
    frame = _orders(frame, columns, warnings)
    frame = _answers(frame, columns, warnings)
    frame = _preference(frame, columns, warnings)
    return AuditInput(frame, tuple(columns), tuple(warnings))


# --------------------------------------------------------------------------------------------------- sources


def _sources(frame: pd.DataFrame, mapping: SourceMapping, columns: list[str]) -> pd.DataFrame:
    judge_counts = frame["judge"].value_counts(dropna=True)
    judge_counts.index = judge_counts.index.map(lambda value: str(value).strip())
    judge_counts = judge_counts.groupby(level=0).sum().sort_values(ascending=False)  # " gpt" and "gpt" are one
    judge_counts = judge_counts[judge_counts.index != ""]
    source_counts = frame["source"].value_counts()
    source_counts.index = source_counts.index.map(str)
    has_llm = any(source.startswith("judge:") for source in source_counts.index)
    if mapping.llm_judges:
        unknown = sorted(mapping.llm_judges - set(judge_counts.index))
        if unknown:
            raise AuditInputError(
                f"no row's judge is {', '.join(map(repr, unknown))}: the judge column holds {_examples(judge_counts)}"
            )
        judge = frame["judge"].astype(str).str.strip()
        is_llm = judge.isin(mapping.llm_judges).to_numpy()
        source = frame["source"].astype(object).to_numpy(copy=True)
        named = judge.to_numpy()[is_llm].astype(object)
        # a value already spelled judge:<name> is that source, not judge:judge:<name>
        source[is_llm] = np.where(pd.Series(named).str.startswith("judge:"), named, "judge:" + named)
        frame = frame.assign(source=source)
        named = ", ".join(f"{name} ({judge_counts[name]:,} rows)" for name in sorted(mapping.llm_judges))
        rest = frame.loc[~is_llm, "source"].value_counts()
        others = ", ".join(f"{s} {n:,}" for s, n in rest.items()) or "none"
        columns.append(f"source: the judge column's {named} are LLM judges (judge:<name>); the other rows: {others}")
        return frame
    if mapping.judge_column_holds_voters:
        columns.append(
            f"source: {_counts(source_counts)}; the judge column names {len(judge_counts):,} voters, not judges"
        )
        return frame
    if not has_llm and len(judge_counts) and "source" in defaulted_columns(frame):
        raise AuditInputError(
            f"the judge column holds {_examples(judge_counts)}, and no row is marked as an LLM judge's (source "
            "judge:<name>), so every row would count as a person's vote. Say which judge values are LLM judges "
            "(command line: --llm-judge VALUE, repeatable; upload: the 'LLM judges' box, names separated by "
            "commas); the other rows are people. If the column names the people who voted, say so with "
            "--judge-column voters (upload: type 'voters')."
        )
    columns.append(f"source: from the source column: {_counts(source_counts)}")
    return frame


def _other_sources(frame: pd.DataFrame, warnings: list[str]) -> None:
    """Rows that are neither people's ("human") nor an LLM judge's ("judge:<name>") count in no figure: say so."""
    counts = frame["source"].value_counts()
    other = counts[[not (str(s) == "human" or str(s).startswith("judge:")) for s in counts.index]]
    if len(other):
        labels = ", ".join(f"{str(label)!r}: {count:,}" for label, count in other.head(5).items())
        warnings.append(
            f"{int(other.sum()):,} rows have a source that is neither 'human' nor 'judge:<name>' ({labels}): they "
            "count in no figure"
        )


# ---------------------------------------------------------------------------------------------- battle turns


def _battle_turns(frame: pd.DataFrame, columns: list[str], warnings: list[str]) -> pd.DataFrame:
    identity = frame["battle_id"]
    name = "battle_id"
    if "question_id" in frame.columns and identity.astype(str).equals(frame["question_id"].astype(str)):
        name = "battle_id (read from question_id)"
    if identity.isna().all() and frame["prompt"].notna().any():
        identity, name = frame["prompt"], "the prompt text (there is no battle_id or question_id)"
    battle, _ = pd.factorize(identity, use_na_sentinel=True)
    if (battle < 0).all():
        warnings.append(
            "no battle_id, question_id or prompt: verdicts cannot be matched across sources or orders, so agreement "
            "with people, self-preference by people and swap survival are undefined"
        )
        columns.append("battle turn: none (no battle_id, question_id or prompt)")
        return frame
    # One integer per (battle, pair of models) and per (battle, turn): np.unique over int64 keys, no grouping of
    # strings or of several columns (a million votes).
    models = len(frame["model_a"].cat.categories)
    code_a = frame["model_a"].cat.codes.to_numpy(np.int64)
    code_b = frame["model_b"].cat.codes.to_numpy(np.int64)
    pair = np.minimum(code_a, code_b) * models + np.maximum(code_a, code_b)
    known = battle >= 0
    squared = models * models
    pair_key = battle.astype(np.int64) * squared + pair
    pair_battle, _ = pd.factorize(pair_key)  # hashing: a sort of a million keys costs several times more
    turn_key = turn_keys(battle, frame["turn"].to_numpy(np.int64))
    distinct = pd.unique((turn_key * squared + pair)[known])
    pairs = pd.Series(distinct // squared).value_counts().to_numpy()
    crowded = pairs[pairs > 1]
    if len(crowded):
        warnings.append(
            f"{name} names several pairs of models under one id: {len(crowded):,} of {len(pairs):,} battle turns "
            f"hold {int(crowded.sum()):,} pairs (up to {int(crowded.max()):,} under one id); each pair under an "
            "id is read as its own battle turn"
        )
    # battle_id: one battle turn's pair; question: the id as the file gave it (an instruction several pairs share)
    frame = frame.assign(
        battle_id=pd.array(np.where(known, pair_battle, -1), dtype="Int64"),
        question=pd.array(battle, dtype="Int64"),
    )
    frame.loc[~known, ["battle_id", "question"]] = pd.NA
    missing = int((battle < 0).sum())
    columns.append(
        f"battle turn: {name} + turn + the pair of models"
        + (f"; {missing:,} rows without one are matched with nothing" if missing else "")
    )
    return frame


# ---------------------------------------------------------------------------------------------------- orders


def _orders(frame: pd.DataFrame, columns: list[str], warnings: list[str]) -> pd.DataFrame:
    is_judge = is_llm_judge(frame["source"])
    if "order" in frame.columns and frame["order"].isna().all():
        frame = frame.drop(columns="order")  # a column without a value (an export's placeholder) says nothing
    if "order" in frame.columns:
        order = frame["order"].astype(object)
        bad = order.notna() & ~order.isin(ORDERS)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise AuditInputError(
                f"the order column holds {int(bad.sum()):,} values other than original / swapped (row {row}: "
                f"{order.iloc[row]!r})"
            )
        how = "pair_id names a judgment's two rows" if "pair_id" in frame.columns else "paired by battle turn"
        columns.append(f"order: from the order column ({how})")
        return frame
    if not is_judge.any():
        return frame
    judged = frame.loc[is_judge & frame["battle_id"].notna().to_numpy(), ["source", "battle_id", "turn", "model_a"]]
    group = judged.groupby(["source", "battle_id", "turn"], sort=False, observed=True)
    size = group["model_a"].transform("size").to_numpy()
    sides = group["model_a"].transform("nunique").to_numpy()
    candidate = judged.index[(size == 2) & (sides == 2)]
    pairs = frame.loc[candidate]
    gid = group.ngroup().loc[candidate]
    first = ~gid.duplicated(keep="first")
    if pairs["answer_a"].notna().any():
        # the same two answers: row one's first answer is row two's second and the other way round
        second = pairs[~first.to_numpy()].set_index(gid[~first].to_numpy())
        leading = pairs[first.to_numpy()].set_index(gid[first].to_numpy())
        crossed = second.loc[leading.index]
        same = (leading["answer_a"] == crossed["answer_b"]) & (leading["answer_b"] == crossed["answer_a"])
        no_texts = leading["answer_a"].isna() & leading["answer_b"].isna()
        same |= no_texts & crossed["answer_a"].isna() & crossed["answer_b"].isna()  # the pair of models decides
        kept = set(same[same].index)
        keep = gid.isin(kept).to_numpy()
        pairs, gid, first = pairs[keep], gid[keep], first[keep]
    both = len(gid.unique())
    crowded = int((size > 2).sum())
    if crowded:
        warnings.append(f"{crowded:,} judge verdicts share a battle turn with 2+ others: not read as two orders")
    if both == 0:
        warnings.append(NO_TWO_ORDERS)
        return frame
    order = pd.Series(pd.NA, index=frame.index, dtype=object)
    order.loc[pairs.index] = np.where(first.to_numpy(), "original", "swapped")
    pair_id = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    pair_id.loc[pairs.index] = gid.to_numpy()
    columns.append(
        f"order: recognised from the data: {both:,} judgments in both orders (the first in the file is the original)"
    )
    return frame.assign(order=order, pair_id=pair_id)


# --------------------------------------------------------------------------------------------------- answers


def _answers(frame: pd.DataFrame, columns: list[str], warnings: list[str]) -> pd.DataFrame:
    texts = frame["answer_a"].notna().any() or frame["answer_b"].notna().any()
    lengths = frame["len_a"].notna().any() or frame["len_b"].notna().any()
    if "conversation_a" in frame.columns:
        origin = "conversation_a / conversation_b (each side's last answer)"
    elif "output_1" in frame.columns:
        origin = "output_1 / output_2 (AlpacaEval)"
    else:
        origin = "answer_a / answer_b"
    if texts:
        columns.append(
            f"answers: {origin}" + ("; lengths: len_a / len_b as given" if lengths else "; lengths: their token counts")
        )
    elif lengths:
        columns.append("answers: none; lengths: len_a / len_b as given")
    else:
        warnings.append(
            "no answers (answer_a / answer_b, conversation_a / conversation_b, output_1 / output_2) and no lengths "
            "(len_a / len_b): length bias, unique tokens and length-controlled win rates are undefined"
        )
        return frame
    updates: dict[str, pd.Series] = {}
    empty_by_model: dict[str, int] = {}
    for side in ("a", "b"):
        answer = frame[f"answer_{side}"]
        empty = np.zeros(len(frame), dtype=bool)
        if texts:
            present = answer.notna().to_numpy()
            empty[present] = answer[present].astype(str).str.strip().eq("").to_numpy()
        length = pd.to_numeric(frame[f"len_{side}"], errors="coerce")
        empty |= (length == 0).to_numpy()
        impossible = ~np.isfinite(length.to_numpy(dtype=float)) & length.notna().to_numpy() | (length < 0).to_numpy()
        if impossible.any():
            warnings.append(f"{int(impossible.sum()):,} len_{side} values are negative or infinite: read as missing")
            length = length.where(~impossible)
            updates[f"len_{side}"] = length
        if empty.any():
            updates[f"answer_{side}"] = answer.where(~empty, None)
            updates[f"len_{side}"] = length.where(~empty)
            for model, count in frame.loc[empty, f"model_{side}"].astype(str).value_counts().items():
                empty_by_model[model] = empty_by_model.get(model, 0) + int(count)
    if empty_by_model:
        total = sum(empty_by_model.values())
        worst = sorted(empty_by_model.items(), key=lambda item: -item[1])[:3]
        warnings.append(
            f"{total:,} empty answers ({', '.join(f'{m}: {n:,}' for m, n in worst)}"
            f"{', …' if len(empty_by_model) > 3 else ''}): read as missing, not as 0 tokens, so length measures "
            "leave those verdicts out"
        )
    return frame.assign(**updates) if updates else frame


# ------------------------------------------------------------------------------------------------ preference


def _preference(frame: pd.DataFrame, columns: list[str], warnings: list[str]) -> pd.DataFrame:
    if "preference" not in frame.columns:
        return frame
    raw = pd.to_numeric(frame["preference"], errors="coerce")
    preference = raw.replace(0.0, 1.5)
    valid = preference.between(1.0, 2.0)
    invalid = int((~valid).sum())
    if invalid:
        warnings.append(
            f"{invalid:,} preferences are not a number between 1 and 2 (missing: {int(raw.isna().sum()):,}): left out "
            "of soft win rates, and counted as parse failures of their judge"
        )
    columns.append("preference: AlpacaEval's soft preference (1 = model_a's answer, 2 = model_b's, 1.5 a draw)")
    return frame.assign(preference=preference.where(valid))


# --------------------------------------------------------------------------------------------------- wording


def turn_keys(battle: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """One int64 per (battle code, turn): the turn numbers replaced by their rank among the distinct turns first,
    so no turn number (negative, or near 2**63) can make two battle turns share a key or overflow."""
    turns, turn_code = np.unique(turn, return_inverse=True)
    return battle.astype(np.int64) * max(len(turns), 1) + turn_code.reshape(-1)


def is_llm_judge(source: pd.Series) -> np.ndarray:
    """Rows whose source is an LLM judge's (judge:<name>), testing each distinct label once, not each row."""
    judges = [label for label in pd.unique(source) if str(label).startswith("judge:")]
    return source.isin(judges).to_numpy()


def _examples(counts: pd.Series, shown: int = 4) -> str:
    if counts.empty:
        return "no values (the column is empty or absent)"
    top = ", ".join(f"{value!r} ({count:,} rows)" for value, count in counts.head(shown).items())
    more = len(counts) - shown
    return f"{len(counts):,} distinct values: {top}" + (f" and {more:,} more" if more > 0 else "")


def _counts(counts: pd.Series | Iterable[tuple[str, int]]) -> str:
    items = counts.items() if isinstance(counts, pd.Series) else counts
    return ", ".join(f"{name} {count:,} rows" for name, count in items)
