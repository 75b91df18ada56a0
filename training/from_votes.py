"""`--from-votes` / `--from-battles FILE`: the arena's database, or a clean-battle file (the arena's export,
Chatbot Arena's releases, LLMFAO imported by leaderboard.llmfao) -> training pairs, held-out pairs, held-out
prompts and baseline ratings, through the same pairing and split (training.data) either way.

Few prompts (LLMFAO has 13): the split holds out whole prompts, so the held-out pairs come from a handful of them;
the summary says so, and the gates' intervals resample prompts rather than pairs (training.evidence), so pairs
that share a prompt are not counted as independent evidence.

Ratings for the "higher-rated model wins" baseline are fitted on the training split's votes only: ratings from
all votes would have seen the held-out verdicts and make the baseline look better than it is.

The recipe's data.criterion picks the votes: helpfulness (the default), or harmlessness (the red-team battles'
votes; a battle file's `criterion` column, absent meaning helpfulness). The two are never pooled. data.pair_sets
adds shipped preference pairs (hh-rlhf's harmless pairs, split by prompt in training.reward_sets): their training
half joins the training pairs and their held-out half the held-out pairs and prompts, counted in the summary; with
them, too few votes of the criterion leaves the votes out with a warning instead of failing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from facts.schema import of_criterion
from facts.vocabulary import HELPFULNESS, HUMAN
from settings import Settings
from store import Store
from training.data import (
    ALL_SOURCES,
    Message,
    PreferenceData,
    first_message_in_eval,
    first_user,
    from_battles_frame,
    to_trl_records,
)
from training.recipes import DataRecipe

log = logging.getLogger(__name__)
FEW_PROMPTS = 10  # fewer distinct held-out prompts than this is said out loud


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
    frame = store.votes.read(conversations=True, criterion=recipe.criterion)
    return with_pair_sets(frame, recipe, origin="the database")


def load_battles_dataset(path: Path, recipe: DataRecipe) -> VoteDataset:
    """A clean-battle file's votes (leaderboard.io.read_battles: JSONL, JSON, CSV or Parquet, with the texts as
    conversation_a/b or prompt/answer_a/answer_b)."""
    from leaderboard.io import read_battles

    return with_pair_sets(of_criterion(read_battles(path), recipe.criterion), recipe, origin=f"{path}")


def with_pair_sets(frame: pd.DataFrame, recipe: DataRecipe, *, origin: str) -> VoteDataset:
    """The votes' dataset with the recipe's pair sets added (just the votes' when it names none)."""
    if not recipe.pair_sets:
        return vote_dataset_from_frame(frame, recipe, origin=origin)
    try:
        votes = vote_dataset_from_frame(frame, recipe, origin=origin, warn=False)  # the pairs change the count
    except NotEnoughVotes as exc:
        log.warning("%s votes left out: %s", recipe.criterion, exc)
        votes = _no_votes(f"{origin} ({recipe.criterion}): {exc}", recipe)
    return add_pair_sets(votes, recipe)


def add_pair_sets(votes: VoteDataset, recipe: DataRecipe) -> VoteDataset:
    from training.reward_sets import hh_rlhf_harmless, sample

    train, held_out = list(votes.train_records), list(votes.eval_records)
    prompts = list(votes.eval_prompts)
    added: dict[str, dict[str, int]] = {}
    for name in recipe.pair_sets:
        halves = [hh_rlhf_harmless(train=True), hh_rlhf_harmless(train=False)]
        if recipe.pair_set_limit:
            halves = [sample(half, recipe.pair_set_limit, recipe.seed) for half in halves]
        train += [dict(r) for r in halves[0].records]
        held_out += [dict(r) for r in halves[1].records]
        prompts += _unique_prompts([r["prompt"] for r in halves[1].records])
        added[name] = {"train_pairs": len(halves[0].records), "eval_pairs": len(halves[1].records)}
    if not train or not held_out:
        raise NotEnoughVotes(empty_split(len(train), len(held_out)))
    held_out_prompts = {first_user(r["prompt"]) for r in held_out}
    summary = {
        **{k: v for k, v in votes.summary.items() if k != "few_prompts"},
        "criterion": recipe.criterion,
        "pair_sets": added,
        "train_pairs": len(train),
        "eval_pairs": len(held_out),
        "eval_prompts": len(prompts),
        "distinct_prompts": len(held_out_prompts | {first_user(r["prompt"]) for r in train}),
        "held_out_distinct_prompts": len(held_out_prompts),
    }
    if len(held_out_prompts) < FEW_PROMPTS:
        summary["few_prompts"] = (
            f"only {len(held_out_prompts)} distinct prompt(s) held out of {summary['distinct_prompts']}, pair sets "
            "included: held-out figures speak for these prompts, and the gates' intervals resample prompts"
        )
        log.warning("%s", summary["few_prompts"])
    return VoteDataset(votes.data, train, held_out, prompts, votes.ratings, summary)


def _no_votes(reason: str, recipe: DataRecipe) -> VoteDataset:
    data = PreferenceData(train=(), eval=(), ties=())
    summary = {"origin": reason, "train_pairs": 0, "eval_pairs": 0, "sources": list(recipe.sources)}
    return VoteDataset(data, [], [], [], {}, summary)


def vote_dataset_from_frame(
    frame: pd.DataFrame, recipe: DataRecipe, *, origin: str = "the database", warn: bool = True
) -> VoteDataset:
    sources: str | Sequence[str] = recipe.sources
    if len(frame) == 0:
        kind = "" if recipe.criterion == HELPFULNESS else f"{recipe.criterion} "
        raise NotEnoughVotes(f"{origin} has no {kind}votes yet; at least {recipe.min_votes} are needed")
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
    all_prompts = {first_user(p.prompt_messages) for p in (*data.train, *data.eval)}
    if (not data.train or not data.eval) and len(all_prompts) < 2:
        raise NotEnoughVotes(empty_split(len(data.train), len(data.eval)))
    eval_prompts = _unique_prompts([p.prompt_messages for p in data.eval] + [t.prompt_messages for t in data.ties])
    eval_prompts = [p for p in eval_prompts if _held_out(p, recipe)]
    ratings = training_split_ratings(frame, recipe)
    prompts = all_prompts
    held_out_prompts = {first_user(p.prompt_messages) for p in data.eval}
    summary = {
        "origin": origin,
        "distinct_prompts": len(prompts),
        "held_out_distinct_prompts": len(held_out_prompts),
        "votes": {k: int(v) for k, v in sorted(data.report.items()) if v},
        "train_pairs": len(data.train),
        "eval_pairs": len(data.eval),
        "ties_and_both_bad": len(data.ties),
        "eval_prompts": len(eval_prompts),
        "sources": list(recipe.sources),
        "criterion": recipe.criterion,
        "rated_models": len(ratings),
    }
    if len(held_out_prompts) < FEW_PROMPTS:
        summary["few_prompts"] = (
            f"only {len(held_out_prompts)} distinct prompt(s) held out of {len(prompts)}: held-out figures speak "
            "for these prompts, and the gates' intervals resample prompts, so they are wide"
        )
        if warn:
            log.warning("%s", summary["few_prompts"])
    return VoteDataset(data, to_trl_records(data.train), to_trl_records(data.eval), eval_prompts, ratings, summary)


def empty_split(train: int, held_out: int) -> str:
    empty = "training" if not train else "held-out"
    return (
        f"the {empty} split is empty ({train} train / {held_out} held-out pairs from {train + held_out}); more "
        "prompts are needed, or another data.eval_fraction"
    )


def require_split(dataset: VoteDataset) -> None:
    """For what needs a held-out split (the policy gate): few prompts can leave one side empty, which only the
    reward model's grouped k-fold can work with."""
    if not dataset.train_records or not dataset.eval_records:
        raise NotEnoughVotes(empty_split(len(dataset.train_records), len(dataset.eval_records)))


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
    return first_message_in_eval(first_user(prompt), recipe.eval_fraction, recipe.seed)


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


def red_team_prompts(
    store: Store | None, recipe: DataRecipe, count: int
) -> tuple[list[list[Message]], list[list[Message]]]:
    """Up to `count` training and `count` held-out red-team prompts for a policy trained on two goals: the red-team
    battles' harmlessness votes (split like every vote) and hh-rlhf's harmless halves, held-out prompts never in
    training. Without a database, hh-rlhf's alone."""
    from dataclasses import replace

    from facts.vocabulary import HARMLESSNESS
    from training.reward_sets import HH_RLHF_HARMLESS

    if count == 0:
        return [], []
    harmless = replace(recipe, criterion=HARMLESSNESS, pair_sets=[HH_RLHF_HARMLESS], pair_set_limit=count)
    frame = store.votes.read(conversations=True, criterion=HARMLESSNESS) if store is not None else pd.DataFrame()
    dataset = with_pair_sets(frame, harmless, origin="red-team prompts")
    train = _unique_prompts([r["prompt"] for r in dataset.train_records])
    return train[:count], dataset.eval_prompts[:count]
