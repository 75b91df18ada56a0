"""Evaluation sets for reward models: preference pairs from anywhere, in one shape, with their subsets.

    arena                the arena's held-out helpfulness votes (the recipe's split: a model trained --from-votes
                         never saw them), every source of votes, subsets by source and by category
    arena-harmlessness   the same for the red-team battles' harmlessness votes
    hh-rlhf-harmless     Anthropic's hh-rlhf harmless-base test pairs, shipped in training/eval_data (MIT): the
                         held-out half, by prompt (the other half, hh-rlhf-harmless-train, trains harmlessness
                         reward models: recipe data.pair_sets)
    llmfao:FOLDER        LLMFAO's crowd votes (a folder of the release, leaderboard.llmfao), subsets by category
    FILE                 a clean-battle file (.jsonl/.json/.csv/.parquet; the arena's export or Chatbot Arena's
                         releases: conversation_a/b or prompt/answer_a/answer_b) or a chosen/rejected file
                         (.jsonl/.json, optionally .gz: TRL's preference records or hh-rlhf's text dialogues)

Every set becomes TRL conversational records (prompt messages, chosen, rejected, the two models' names when known),
labels per pair for each breakdown, and the "higher-rated model wins" outcome of each pair where models are named:
for the arena, from ratings fitted on the training split only; for a file, cross-fitted (each pair judged by
ratings fitted on the other prompts' folds, so no pair's own vote rates its models).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facts.vocabulary import HARMLESSNESS, HELPFULNESS
from leaderboard.io import chat_messages
from training.data import (
    ALL_SOURCES,
    PreferencePair,
    first_message_in_eval,
    first_user,
    from_battles_frame,
    to_trl_records,
)

SHIPPED = Path(__file__).parent / "eval_data"
HH_RLHF_HARMLESS = "hh-rlhf-harmless"
HH_RLHF_HARMLESS_TRAIN = "hh-rlhf-harmless-train"
# Anthropic's release ships train and test splits; the project ships only the test split (2,312 pairs), so it is
# split once more, by the first user message (training.data's rule), and the halves never share a prompt.
HH_RLHF_HELD_OUT_FRACTION = 0.5
HH_RLHF_SPLIT_SEED = 17
ARENA = "arena"
ARENA_HARMLESSNESS = "arena-harmlessness"
ARENA_SETS = {ARENA: HELPFULNESS, ARENA_HARMLESSNESS: HARMLESSNESS}  # set name -> the votes' criterion
PAIR_SETS = (HH_RLHF_HARMLESS,)  # shipped sets whose training half a recipe can add (data.pair_sets)
LLMFAO = "llmfao"
NAMED_SETS = (ARENA, ARENA_HARMLESSNESS, HH_RLHF_HARMLESS, HH_RLHF_HARMLESS_TRAIN, f"{LLMFAO}:FOLDER")
RATING_FOLDS = 5
_TURN = re.compile(r"\n\n(Human|Assistant): ")
_ROLES = {"Human": "user", "Assistant": "assistant"}

Record = dict[str, Any]


class EvalSetError(ValueError):
    """The set cannot be read or holds nothing to score; the message says which and why."""


@dataclass(frozen=True)
class EvalSet:
    name: str
    records: tuple[Record, ...]
    labels: Mapping[str, tuple[str, ...]]  # breakdown -> each pair's subset
    rating_outcomes: np.ndarray | None  # per pair 1 / 0.5 / 0, NaN where two rated models are not named
    notes: tuple[str, ...] = ()
    read: Mapping[str, int] = field(default_factory=dict)  # what became of the source rows

    def subset(self, keep: Sequence[bool]) -> EvalSet:
        """The same set restricted to the pairs where `keep` is true (e.g. those that fit the model's context)."""
        mask = np.asarray(keep, dtype=bool)
        return replace(
            self,
            records=tuple(r for r, k in zip(self.records, mask, strict=True) if k),
            labels={b: tuple(v for v, k in zip(values, mask, strict=True) if k) for b, values in self.labels.items()},
            rating_outcomes=None if self.rating_outcomes is None else self.rating_outcomes[mask],
        )

    @property
    def fingerprint(self) -> str:
        """Of the pairs themselves: two evaluations are comparable only on the same fingerprint."""
        digest = hashlib.sha256()
        for record in self.records:
            digest.update(json.dumps([record["prompt"], record["chosen"], record["rejected"]], sort_keys=True).encode())
        return digest.hexdigest()


def sample(evaluation: EvalSet, limit: int | None, seed: int) -> EvalSet:
    """At most `limit` pairs, drawn at random with `seed` (the same pairs for every model)."""
    if limit is None or len(evaluation.records) <= limit:
        return evaluation
    keep = set(random.Random(seed).sample(range(len(evaluation.records)), limit))
    return evaluation.subset([i in keep for i in range(len(evaluation.records))])


# --- by name --------------------------------------------------------------------------------------------------


def is_named(spec: str) -> bool:
    return spec in NAMED_SETS or spec.startswith(f"{LLMFAO}:")


def hh_rlhf_harmless(*, train: bool = False) -> EvalSet:
    """The held-out half of the shipped hh-rlhf harmless-base pairs (what every reward model is scored on), or
    with `train` the other half (what a harmlessness reward model may learn from)."""
    whole = chosen_rejected_file(SHIPPED / HH_RLHF_HARMLESS / "test.jsonl.gz", name=HH_RLHF_HARMLESS)
    held_out = [
        first_message_in_eval(first_user(r["prompt"]), HH_RLHF_HELD_OUT_FRACTION, HH_RLHF_SPLIT_SEED)
        for r in whole.records
    ]
    part = whole.subset([h != train for h in held_out])
    name = HH_RLHF_HARMLESS_TRAIN if train else HH_RLHF_HARMLESS
    half = "training" if train else "held-out"
    note = (
        f"the {half} half by prompt of Anthropic's harmless-base test split ({len(part.records)} of "
        f"{len(whole.records)} pairs; seed {HH_RLHF_SPLIT_SEED})"
    )
    return replace(
        part, name=name, labels={"subset": ("harmless-base",) * len(part.records)}, notes=(note, *part.notes)
    )


def llmfao_set(folder: str | Path) -> EvalSet:
    from leaderboard.llmfao import load_llmfao

    frame = load_llmfao(folder, sources=["human"])
    return battles_set(frame, f"{LLMFAO}", breakdowns=("category",))


def arena_set(frame: pd.DataFrame, *, eval_fraction: float, seed: int, name: str = ARENA) -> EvalSet:
    """The held-out votes of every source in the arena's votes frame (store.votes.read(conversations=True), of
    the criterion ARENA_SETS gives `name`): the split a --from-votes run with the same eval_fraction and seed holds
    out. The rating baseline is fitted on the training split of the same source."""
    from training.from_votes import training_split_ratings
    from training.recipes import DataRecipe

    if len(frame) == 0:
        raise EvalSetError(f"{name}: the database has no {ARENA_SETS.get(name, HELPFULNESS)} votes yet")
    records: list[Record] = []
    sources: list[str] = []
    categories: list[str] = []
    ratings_outcomes: list[float] = []
    read: dict[str, int] = {}
    for source in sorted(frame["source"].dropna().unique()):
        try:
            data = from_battles_frame(frame, sources=source, eval_fraction=eval_fraction, seed=seed)
        except ValueError:
            continue  # no decisive vote of this source
        for reason, count in data.report.items():
            if reason != "other_source" and count:
                read[reason] = read.get(reason, 0) + count
        ratings = training_split_ratings(frame, DataRecipe(sources=[source], eval_fraction=eval_fraction, seed=seed))
        records.extend(to_trl_records(data.eval))
        sources.extend(source for _ in data.eval)
        categories.extend(p.category or "unclassified" for p in data.eval)
        ratings_outcomes.extend(_rated(p, ratings) for p in data.eval)
    if not records:
        raise EvalSetError(
            f"{name}: no held-out decisive votes (eval_fraction {eval_fraction}, seed {seed}); more votes are needed"
        )
    return EvalSet(
        name,
        tuple(records),
        {"source": tuple(sources), "category": tuple(categories)},
        np.array(ratings_outcomes, dtype=float),
        notes=(f"held-out split: eval_fraction {eval_fraction}, seed {seed}; ratings fitted on the training split",),
        read=read,
    )


def _rated(pair: PreferencePair, ratings: Mapping[str, float]) -> float:
    if pair.chosen_model not in ratings or pair.rejected_model not in ratings:
        return np.nan
    chosen, rejected = ratings[pair.chosen_model], ratings[pair.rejected_model]
    return 1.0 if chosen > rejected else 0.5 if chosen == rejected else 0.0


# --- files ----------------------------------------------------------------------------------------------------


def file_set(path: str | Path) -> EvalSet:
    """A clean-battle file or a chosen/rejected file, told apart by its columns."""
    path = Path(path)
    if not path.is_file():
        raise EvalSetError(
            f"{path}: no such file, and not a known set (known: {', '.join(NAMED_SETS)}, or a file's path)"
        )
    try:
        columns = _columns(path)
    except EvalSetError:
        raise
    except (ValueError, OSError, ImportError) as exc:  # a CSV that is not UTF-8, a Parquet file that is not one
        raise EvalSetError(f"{path}: cannot be read ({exc})") from exc
    if {"chosen", "rejected"} <= columns:
        return chosen_rejected_file(path)
    if {"model_a", "model_b", "winner"} <= columns:
        from leaderboard.io import read_battles

        return battles_set(read_battles(path), path.name, breakdowns=("source", "category"))
    raise EvalSetError(
        f"{path}: neither a chosen/rejected file (columns chosen, rejected[, prompt]) nor a clean-battle file "
        f"(model_a, model_b, winner and conversation_a/b or prompt/answer_a/answer_b); it has "
        f"{', '.join(sorted(columns)) or 'no columns'}"
    )


def battles_set(frame: pd.DataFrame, name: str, *, breakdowns: Sequence[str]) -> EvalSet:
    """Every decisive, counted vote of a battles frame as a pair (no split: the whole set is evaluation)."""
    try:
        data = from_battles_frame(frame, sources=ALL_SOURCES, eval_fraction=0.0)
    except ValueError as exc:
        raise EvalSetError(f"{name}: {exc}") from exc
    pairs = data.train
    labels = {
        breakdown: tuple((pair.source if breakdown == "source" else pair.category) or "unclassified" for pair in pairs)
        for breakdown in breakdowns
    }
    read = {k: int(v) for k, v in data.report.items() if v and k != "other_source"}
    return EvalSet(name, tuple(to_trl_records(pairs)), labels, cross_fitted_rating_outcomes(pairs), read=read)


def chosen_rejected_file(path: Path, *, name: str | None = None) -> EvalSet:
    """TRL preference records (prompt as messages or text, chosen / rejected as messages or text) or hh-rlhf's
    text dialogues. Rows that are not a pair are counted and left out; none left is an error."""
    name = name or path.name
    records: list[Record] = []
    read = {"pair": 0, "malformed": 0}
    for row in _rows(path):
        record = _preference_record(row)
        if record is None:
            read["malformed"] += 1
            continue
        read["pair"] += 1
        records.append(record)
    if not records:
        raise EvalSetError(f"{name}: no chosen/rejected pair in the file ({read['malformed']} malformed rows)")
    notes = (f"{read['malformed']} malformed row(s) left out",) if read["malformed"] else ()
    models = [(r.get("chosen_model"), r.get("rejected_model")) for r in records]
    named = any(all(m) for m in models)
    outcomes = _cross_fitted([first_user(r["prompt"]) for r in records], models) if named else None
    return EvalSet(name, tuple(records), {"subset": (name,) * len(records)}, outcomes, notes=notes, read=read)


def _preference_record(row: Any) -> Record | None:
    if not isinstance(row, dict) or "chosen" not in row or "rejected" not in row:
        return None
    chosen, rejected, prompt = row["chosen"], row["rejected"], row.get("prompt")
    if isinstance(chosen, str) and isinstance(rejected, str) and prompt is None:
        chosen_turns, rejected_turns = _dialogue(chosen), _dialogue(rejected)
        if not chosen_turns or not rejected_turns:
            return None
        # hh-rlhf: the prompt is what both dialogues share (as TRL extracts it); what follows on each side is its
        # answer. A few records have two assistant turns in a row on one side: they make one answer.
        shared = 0
        while (
            shared < min(len(chosen_turns), len(rejected_turns)) - 1 and chosen_turns[shared] == rejected_turns[shared]
        ):
            shared += 1
        prompt_messages = chosen_turns[:shared]
        chosen_answer, rejected_answer = _one_answer(chosen_turns[shared:]), _one_answer(rejected_turns[shared:])
        if chosen_answer is None or rejected_answer is None:
            return None
    elif isinstance(chosen, str) and isinstance(rejected, str) and isinstance(prompt, str):
        prompt_messages = [{"role": "user", "content": prompt}]
        chosen_answer = {"role": "assistant", "content": chosen}
        rejected_answer = {"role": "assistant", "content": rejected}
    elif isinstance(chosen, list) and isinstance(rejected, list):
        chosen_messages, rejected_messages = chat_messages(chosen), chat_messages(rejected)
        if chosen_messages is None or rejected_messages is None or not chosen_messages or not rejected_messages:
            return None
        if prompt is None:  # TRL's implicit prompt: everything before each side's last message, the same on both
            if chosen_messages[:-1] != rejected_messages[:-1]:
                return None
            prompt_messages = chosen_messages[:-1]
            chosen_messages, rejected_messages = chosen_messages[-1:], rejected_messages[-1:]
        else:
            prompt_messages = chat_messages(prompt) if isinstance(prompt, list) else None
            if isinstance(prompt, str):
                prompt_messages = [{"role": "user", "content": prompt}]
            if prompt_messages is None:
                return None
        if len(chosen_messages) != 1 or len(rejected_messages) != 1:
            return None
        chosen_answer, rejected_answer = chosen_messages[0], rejected_messages[0]
    else:
        return None
    if chosen_answer["role"] != "assistant" or rejected_answer["role"] != "assistant":
        return None
    if not any(m["role"] == "user" for m in prompt_messages):
        return None
    record: Record = {"prompt": prompt_messages, "chosen": [chosen_answer], "rejected": [rejected_answer]}
    for side in ("chosen_model", "rejected_model"):
        if isinstance(row.get(side), str):
            record[side] = row[side]
    return record


def _one_answer(messages: Sequence[dict[str, str]]) -> dict[str, str] | None:
    if not messages or any(m["role"] != "assistant" for m in messages):
        return None
    return {"role": "assistant", "content": "\n\n".join(m["content"] for m in messages)}


def _dialogue(text: str) -> list[dict[str, str]] | None:
    """hh-rlhf's "\\n\\nHuman: ...\\n\\nAssistant: ..." text as chat messages, or None when it is not one."""
    parts = _TURN.split(text)
    if parts[0].strip() or len(parts) < 5:
        return None
    turns = zip(parts[1::2], parts[2::2], strict=True)  # split with one group: text, role, text, role, text...
    messages = [{"role": _ROLES[role], "content": content} for role, content in turns]
    return messages if messages[-1]["role"] == "assistant" else None


def _columns(path: Path) -> set[str]:
    suffixes = "".join(path.suffixes[-2:]).lower()
    if suffixes.endswith((".csv",)):
        return set(pd.read_csv(path, nrows=0).columns)
    if suffixes.endswith(".parquet"):
        import pyarrow.parquet as pq

        return set(pq.read_schema(path).names)
    columns: set[str] = set()
    for number, row in enumerate(_rows(path)):
        if isinstance(row, dict):
            columns |= set(row)  # the first rows together: one malformed row must not hide the file's shape
        if number >= 19:
            break
    return columns


def _rows(path: Path) -> Any:
    """The JSON objects of a .jsonl / .json file, optionally gzipped, one at a time (a .json holds a list)."""
    opener = gzip.open if path.suffix == ".gz" else open
    stem = path.with_suffix("") if path.suffix == ".gz" else path
    try:
        with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
            if stem.suffix == ".json":
                rows = json.load(handle)
                if not isinstance(rows, list):
                    raise EvalSetError(f"{path}: a .json file must hold a list of objects")
                yield from rows
                return
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise EvalSetError(f"{path}:{number}: not JSON ({exc.msg})") from exc
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as exc:
        raise EvalSetError(f"{path}: cannot be read ({exc})") from exc
    except RecursionError as exc:
        raise EvalSetError(f"{path}: JSON nested too deeply to be a pair") from exc
    except json.JSONDecodeError as exc:
        raise EvalSetError(f"{path}: not JSON ({exc.msg})") from exc


# --- the rating baseline on a file --------------------------------------------------------------------------


def cross_fitted_rating_outcomes(pairs: Sequence[PreferencePair]) -> np.ndarray | None:
    models = [(p.chosen_model, p.rejected_model) for p in pairs]
    if not any(a and b for a, b in models):
        return None
    first_users = [first_user(p.prompt_messages) for p in pairs]
    return _cross_fitted(first_users, models)


def _cross_fitted(first_users: Sequence[str], models: Sequence[tuple[str | None, str | None]]) -> np.ndarray:
    """Each pair's "higher-rated model wins" outcome from Bradley-Terry ratings fitted on the pairs of the other
    folds (folds by prompt), NaN where a model is unnamed or unrated outside the pair's fold."""
    from leaderboard.bradley_terry import strengths_from_pairs

    folds = np.array([int(hashlib.sha256(text.encode()).hexdigest(), 16) % RATING_FOLDS for text in first_users])
    outcomes = np.full(len(models), np.nan)
    named = np.array([bool(a and b) for a, b in models])
    for fold in range(RATING_FOLDS):
        train = named & (folds != fold)
        strengths = strengths_from_pairs([models[i] for i in np.flatnonzero(train)])  # type: ignore[misc]
        for i in np.flatnonzero(named & (folds == fold)):
            chosen, rejected = models[i]
            if chosen in strengths and rejected in strengths:
                a, b = strengths[chosen], strengths[rejected]  # type: ignore[index]
                outcomes[i] = 1.0 if a > b else 0.5 if a == b else 0.0
    return outcomes
