"""Votes -> preference data for reward models and DPO: pairs (prompt, chosen, rejected, margin), split by prompt.

Two steps, kept apart so the conversion is testable on any frame:
- loading: the arena's votes come from the one votes reader, `store.votes.read(conversations=True)` (one row
  per vote, each side's conversation up to the voted turn, the stored verdict); `leaderboard.llmfao.load_llmfao`
  gives external votes with texts in the same schema.
- conversion: `from_battles_frame(frame, ...)` is pure and works on either frame.

Decisions (each one a knob or a documented default):
- Prompt history. In a multi-turn battle each side answered its own earlier turns, so there are two
  histories. The pair uses the CHOSEN side's history: that is the conversation the preferred answer was
  written in, so the chosen completion stays on-policy for its own context; the rejected answer was written
  after a different history, a mismatch we accept (the voter compared the two last answers as shown).
  LLMFAO rows are single-turn: the prompt is one user message.
- Margin. "How much better" maps slightly / clearly / much to 0.5 / 1.0 / 2.0 (`Margins`); a decisive vote
  without a strength (strength not asked yet, LLMFAO, judge verdicts) gets `Margins.unrated`, 1.0, i.e. a
  plain "clearly better".
- Ties and both-bad carry no preference: they never become pairs and come back in `ties` for evaluation
  (a reward model should score the two close; both-bad ones should score low).
- Votes that do not count are dropped and counted by their reason: the stored verdict (facts.eligibility:
  names shown, a model named or asked who it is, a model that failed to answer), or for a file from
  elsewhere its `anony` flag; rows missing a text are dropped as "missing_text".
- Duplicates. Same prompt messages + same chosen + same rejected -> one pair, the margins averaged.
  Conflicting duplicates (A>B and B>A on the same prompt) are settled by majority: the direction with more
  votes is kept (the minority's votes are counted as "outvoted"), and an even split is dropped, all its votes
  counted as "conflicting": such a pair teaches the reward model only noise. Dropping every contested pair
  instead would lose over half of LLMFAO's decisive crowd votes, most of them clear 2-to-1 majorities.
- Split. A conversation's first user message decides its split, by a hash of (seed, text): deterministic
  across runs and machines, and every turn of a conversation, and every battle on the same prompt, lands on
  the same side, so no prompt is in both train and eval.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from facts.eligibility import NOT_ANONYMOUS
from facts.vocabulary import BOTH_BAD, DECISIVE, HUMAN, is_source

ALL_SOURCES = "all"

Message = dict[str, str]


@dataclass(frozen=True)
class Margins:
    """How far apart a vote puts the two answers, by the voter's "how much better"."""

    slightly: float = 0.5
    clearly: float = 1.0
    much: float = 2.0
    unrated: float = 1.0  # decisive vote without a strength: LLMFAO, judges, or not answered yet

    def of(self, strength: Any) -> float:
        if strength is None or (isinstance(strength, float) and math.isnan(strength)):
            return self.unrated
        values = {"slightly": self.slightly, "clearly": self.clearly, "much": self.much}
        if strength not in values:
            raise ValueError(f"unknown strength {strength!r}; expected one of {', '.join(values)} or none")
        return values[strength]


@dataclass(frozen=True)
class PreferencePair:
    prompt_messages: tuple[Message, ...]  # the conversation up to and including the voted user message
    chosen: str
    rejected: str
    margin: float
    source: str
    battle_id: str | None
    turn: int | None
    category: str | None
    chosen_model: str | None = None  # for the "higher-rated model wins" baseline
    rejected_model: str | None = None


@dataclass(frozen=True)
class TiedPair:
    """A tie or both-bad vote: no preference to train on, but a check that a reward model scores them close."""

    prompt_messages: tuple[Message, ...]
    answer_a: str
    answer_b: str
    both_bad: bool
    source: str
    battle_id: str | None
    turn: int | None
    category: str | None


@dataclass(frozen=True)
class PreferenceData:
    train: tuple[PreferencePair, ...]
    eval: tuple[PreferencePair, ...]
    ties: tuple[TiedPair, ...]
    # Votes of the selected sources by what became of them: "pair" (before dedup), "tie", "both_bad",
    # "excluded: <verdict>" (the stored facts.eligibility verdict), "missing_text", "duplicate", "conflicting",
    # "outvoted"; plus "other_source" for rows of sources not selected.
    report: Mapping[str, int] = field(default_factory=dict)


# --- conversion ------------------------------------------------------------------------------------------


def from_battles_frame(
    frame: pd.DataFrame,
    *,
    sources: str | Sequence[str] = HUMAN,
    margins: Margins = Margins(),  # frozen, so one shared default is safe
    eval_fraction: float = 0.1,
    seed: int = 0,
    min_votes: int = 1,
) -> PreferenceData:
    """Preference data from a battles frame (`store.votes.read(conversations=True)` or load_llmfao output).

    `sources`: "human", "judge:<name>", a list of them, or "all". ValueError for an unknown source, fewer
    than `min_votes` votes from the selected sources, or no decisive vote left to pair.
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    selected = _select_sources(frame, sources)
    report: Counter[str] = Counter(other_source=int((~selected).sum()))
    rows = frame[selected]
    if len(rows) < min_votes:
        raise ValueError(f"too few votes: {len(rows)} from the selected sources, need at least {min_votes}")

    pairs: list[PreferencePair] = []
    ties: list[TiedPair] = []
    for row in rows.to_dict("records"):
        reason = _drop_reason(row)
        if reason is not None:
            report[reason] += 1
            continue
        winner = row["winner"]
        turn = None if _missing(row.get("turn")) else int(row["turn"])
        battle_id = None if _missing(row.get("battle_id")) else str(row["battle_id"])
        category = None if _missing(row.get("category")) else str(row["category"])
        if winner in DECISIVE:
            chosen_side, rejected_side = ("a", "b") if winner == "model_a" else ("b", "a")
            pairs.append(
                PreferencePair(
                    prompt_messages=_messages(row, chosen_side),
                    chosen=row[f"answer_{chosen_side}"],
                    rejected=row[f"answer_{rejected_side}"],
                    margin=margins.of(row.get("strength")),
                    source=row["source"],
                    battle_id=battle_id,
                    turn=turn,
                    category=category,
                    chosen_model=_text_or_none(row.get(f"model_{chosen_side}")),
                    rejected_model=_text_or_none(row.get(f"model_{rejected_side}")),
                )
            )
            report["pair"] += 1
            continue
        both_bad = winner == BOTH_BAD
        report["both_bad" if both_bad else "tie"] += 1
        # Side A's history: neither side was preferred, and any fixed choice keeps the prompt reproducible.
        prompt = _messages(row, "a")
        ties.append(
            TiedPair(prompt, row["answer_a"], row["answer_b"], both_bad, row["source"], battle_id, turn, category)
        )

    unique = _deduplicate(pairs, report)
    if not unique:
        raise ValueError(
            f"no decisive votes to pair among {len(rows)} votes from the selected sources "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(report.items()) if v)})"
        )
    train = tuple(p for p in unique if not in_eval_split(p.prompt_messages, eval_fraction, seed))
    evaluation = tuple(p for p in unique if in_eval_split(p.prompt_messages, eval_fraction, seed))
    return PreferenceData(train, evaluation, tuple(ties), dict(report))


def _select_sources(frame: pd.DataFrame, sources: str | Sequence[str]) -> pd.Series:
    wanted = [sources] if isinstance(sources, str) else list(sources)
    if not wanted:
        raise ValueError("no source selected; use 'human', 'judge:<name>' or 'all'")
    present = sorted(frame["source"].dropna().unique()) if "source" in frame.columns else []
    if ALL_SOURCES in wanted:
        return pd.Series(True, index=frame.index)
    for source in wanted:
        if not is_source(source) or source not in present:
            raise ValueError(
                f"unknown source {source!r}; this data has {', '.join(present) or 'no votes'} (or use {ALL_SOURCES!r})"
            )
    return frame["source"].isin(wanted)


def _drop_reason(row: Mapping[str, Any]) -> str | None:
    """Why this vote is not trained on, as its report key (None: it is), one key per vote so that the report
    adds up. The verdict was decided when the vote was stored (facts.eligibility); here it is only read."""
    if not _missing(row.get("excluded_reason")):
        return f"excluded: {row['excluded_reason']}"
    if not _flag(row.get("anony"), default=True):  # a file from elsewhere says it only here
        return f"excluded: {NOT_ANONYMOUS}"
    texts = (row.get("answer_a"), row.get("answer_b"), row.get("prompt"))
    if any(_missing(text) or not str(text).strip() for text in texts):
        return "missing_text"
    if "messages_a" in row and (row["messages_a"] is None or row["messages_b"] is None):
        return "missing_text"
    return None


def _messages(row: Mapping[str, Any], side: str) -> tuple[Message, ...]:
    # Arena rows carry each side's conversation; external single-turn rows (LLMFAO) only the prompt.
    stored = row.get(f"messages_{side}")
    if stored is not None:
        return tuple(dict(message) for message in stored)
    return ({"role": "user", "content": str(row["prompt"])},)


def _flag(value: Any, *, default: bool) -> bool:
    # numpy booleans and missing values come through to_dict; `is True` would miss the former
    return default if _missing(value) else bool(value)


def _text_or_none(value: Any) -> str | None:
    return None if _missing(value) else str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _prompt_key(messages: tuple[Message, ...]) -> str:
    return json.dumps(messages, sort_keys=True, ensure_ascii=False)


def _deduplicate(pairs: list[PreferencePair], report: Counter[str]) -> list[PreferencePair]:
    groups: dict[tuple[str, str, str], list[PreferencePair]] = {}
    for pair in pairs:
        groups.setdefault((_prompt_key(pair.prompt_messages), pair.chosen, pair.rejected), []).append(pair)
    unique: list[PreferencePair] = []
    for (prompt, chosen, rejected), group in groups.items():
        against = len(groups.get((prompt, rejected, chosen), ()))
        if against > len(group):
            report["outvoted"] += len(group)
            continue
        if against == len(group):
            report["conflicting"] += len(group)
            continue
        report["duplicate"] += len(group) - 1
        first = group[0]
        margin = sum(p.margin for p in group) / len(group)
        unique.append(PreferencePair(**{**first.__dict__, "margin": margin}))
    return unique


def first_user(prompt_messages: Sequence[Mapping[str, str]]) -> str:
    """A conversation's first user message: what identifies its prompt for the split, the folds and the intervals
    ("" when it has none)."""
    return next((str(m.get("content", "")) for m in prompt_messages if m.get("role") == "user"), "")


def in_eval_split(prompt_messages: Sequence[Mapping[str, str]], eval_fraction: float, seed: int) -> bool:
    """Whether a conversation is held out: decided by its first user message alone (see the module notes)."""
    return first_message_in_eval(first_user(prompt_messages), eval_fraction, seed)


def first_message_in_eval(first_user: str, eval_fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}\0{first_user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction


# --- TRL formats -----------------------------------------------------------------------------------------


def to_trl_records(pairs: Sequence[PreferencePair]) -> list[dict[str, Any]]:
    """Conversational preference records with an explicit prompt, as TRL's RewardTrainer and DPOTrainer take
    them (`datasets.Dataset.from_list(records)`); RewardTrainer uses "margin", DPOTrainer ignores it. The model
    names, when known, ride along for the rating baseline (the trainers are given only the columns they read)."""
    records = []
    for pair in pairs:
        record: dict[str, Any] = {
            "prompt": [dict(message) for message in pair.prompt_messages],
            "chosen": [{"role": "assistant", "content": pair.chosen}],
            "rejected": [{"role": "assistant", "content": pair.rejected}],
            "margin": pair.margin,
        }
        if pair.chosen_model is not None and pair.rejected_model is not None:
            record["chosen_model"], record["rejected_model"] = pair.chosen_model, pair.rejected_model
        records.append(record)
    return records
