"""`--from-votes`: the arena's database -> training pairs, held-out pairs, held-out prompts and baseline ratings.

Ratings for the "higher-rated model wins" baseline are fitted on the training split's votes only: ratings from
all votes would have seen the held-out verdicts and make the baseline look better than it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from facts.vocabulary import HUMAN
from settings import Settings
from store import Store
from training.data import (
    ALL_SOURCES,
    Message,
    PreferenceData,
    first_message_in_eval,
    from_battles_frame,
    to_trl_records,
)
from training.recipes import DataRecipe


class NotEnoughVotes(ValueError):
    """Too few votes, or too few decisive ones, to train on."""


@dataclass(frozen=True)
class VoteDataset:
    data: PreferenceData
    train_records: list[dict[str, Any]]
    eval_records: list[dict[str, Any]]
    eval_prompts: list[list[Message]]  # held-out conversations (pairs and ties), for the policy gate
    ratings: dict[str, float]  # fitted on the training split only
    summary: dict[str, Any]


def open_store(url: str | None, settings: Settings) -> Store:
    """The arena's database at `url`, else the one the app's settings name."""
    return Store.open(url or settings.resolved_database_url)


def load_vote_dataset(store: Store, recipe: DataRecipe) -> VoteDataset:
    return vote_dataset_from_frame(store.votes.read(conversations=True), recipe)


def vote_dataset_from_frame(frame: pd.DataFrame, recipe: DataRecipe) -> VoteDataset:
    sources: str | Sequence[str] = recipe.sources
    if len(frame) == 0:
        raise NotEnoughVotes(f"the database has no votes yet; at least {recipe.min_votes} are needed")
    try:
        data = from_battles_frame(
            frame, sources=sources, eval_fraction=recipe.eval_fraction, seed=recipe.seed, min_votes=recipe.min_votes
        )
    except ValueError as exc:
        raise NotEnoughVotes(str(exc)) from exc
    pairs = len(data.train) + len(data.eval)
    if pairs < recipe.min_pairs:
        raise NotEnoughVotes(
            f"too few decisive pairs: {pairs} after dropping ties, flagged votes and duplicates, need at least "
            f"{recipe.min_pairs} (data.min_pairs) ({_counts(data.report)})"
        )
    if not data.train or not data.eval:
        empty = "training" if not data.train else "held-out"
        raise NotEnoughVotes(
            f"the {empty} split is empty ({len(data.train)} train / {len(data.eval)} held-out pairs from "
            f"{pairs}); more prompts are needed, or another data.eval_fraction"
        )
    eval_prompts = _unique_prompts([p.prompt_messages for p in data.eval] + [t.prompt_messages for t in data.ties])
    eval_prompts = [p for p in eval_prompts if _held_out(p, recipe)]
    ratings = training_split_ratings(frame, recipe)
    summary = {
        "votes": {k: int(v) for k, v in sorted(data.report.items()) if v},
        "train_pairs": len(data.train),
        "eval_pairs": len(data.eval),
        "ties_and_both_bad": len(data.ties),
        "eval_prompts": len(eval_prompts),
        "sources": list(recipe.sources),
        "rated_models": len(ratings),
    }
    return VoteDataset(data, to_trl_records(data.train), to_trl_records(data.eval), eval_prompts, ratings, summary)


def training_split_ratings(frame: pd.DataFrame, recipe: DataRecipe) -> dict[str, float]:
    """Bradley-Terry ratings from the training split's votes of the selected sources ({} if none fit)."""
    from leaderboard.ratings import compute_leaderboard

    first_messages = frame["prompt"].astype(str)
    train_rows = frame[[not first_message_in_eval(m, recipe.eval_fraction, recipe.seed) for m in first_messages]]
    sources = list(recipe.sources)
    if ALL_SOURCES in sources or len(sources) > 1:
        if ALL_SOURCES not in sources:
            train_rows = train_rows[train_rows["source"].isin(sources)]
        source = None
    else:
        source = sources[0] if sources else HUMAN
    board = compute_leaderboard(train_rows, source=source, ci="none")
    return {row.model: float(row.rating) for row in board.rows}


def _held_out(prompt: list[Message], recipe: DataRecipe) -> bool:
    first_user = next(m["content"] for m in prompt if m["role"] == "user")
    return first_message_in_eval(first_user, recipe.eval_fraction, recipe.seed)


def _unique_prompts(prompts: Sequence[Sequence[Message]]) -> list[list[Message]]:
    seen: set[tuple[tuple[str, str], ...]] = set()
    unique = []
    for prompt in prompts:
        key = tuple((m["role"], m["content"]) for m in prompt)
        if key not in seen:
            seen.add(key)
            unique.append([dict(m) for m in prompt])
    return unique


def _counts(report: Any) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(report.items()) if v) or "no votes"
