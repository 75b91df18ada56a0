"""Evaluate reward models on preference pairs from anywhere, RewardBench's way, and say whether training helped.

    python -m training.evaluate outcomes [--db URL] [--format json]   # each registered checkpoint vs its base
    python -m training.evaluate reward-model runs/rm
    python -m training.evaluate reward-model runs/rm other/rm-folder owner/hub-rm \\
        --set arena --set hh-rlhf-harmless --set llmfao:../shared/data/llmfao --set battles.jsonl \\
        --out results.json [--db sqlite:///data/arena.db] [--limit 200] [--no-store]

MODEL: a `python -m training.reward` run folder, a local transformers sequence-classification model, or a hub id
(when the hub can be reached). --set (repeatable; default: arena and hh-rlhf-harmless): the sets of
training.reward_sets. Per model and set: accuracy (the share of pairs whose chosen answer scores higher, ties
half) with a bootstrap 95% interval, per subset (category, source), and beside it the baselines on the same pairs
(answer length in both directions, the higher-rated model where models are named, a random scorer) with the paired
difference to the best of them; then the mean over sets (RewardBench's overall score, training.reward_bench).
Pairs longer than the model's context are counted and left out, never truncated.

The arena set is the held-out split of a recipe's data section: by default the recipe the run folder was trained
with (its report.json), so a model is never scored on votes it learned from; --recipe overrides.

Results go to the arena's database (the reward-model leaderboard reads them; --no-store skips it), to --out as
JSON, and to the screen. Errors (an unknown set, a model without a score head, a file with no pair, nothing left
within the context) exit 2 and store nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facts.json_safe import dumps, json_safe
from settings import Settings
from training.evidence import length_outcomes, pair_outcomes
from training.reward import prompt_group
from training.reward_bench import SetScore, overall, score_set
from training.reward_sets import (
    ARENA,
    HH_RLHF_HARMLESS,
    LLMFAO,
    EvalSet,
    EvalSetError,
    arena_set,
    file_set,
    hh_rlhf_harmless,
    is_named,
    llmfao_set,
)

log = logging.getLogger(__name__)
DEFAULT_SETS = (ARENA, HH_RLHF_HARMLESS)
DEFAULT_RECIPE = "cpu-smoke"


@dataclass(frozen=True)
class ModelResult:
    model: str
    kind: str
    max_length: int
    sets: tuple[tuple[SetScore, dict[str, Any]], ...]  # each set's score and what was left out
    overall: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "kind": self.kind,
            "max_length": self.max_length,
            "overall": self.overall,
            "sets": [{**score.to_dict(), **extra} for score, extra in self.sets],
        }


# --- sets -----------------------------------------------------------------------------------------------------


def load_sets(
    specs: Sequence[str], *, store: Any, recipe_name: str, limit: int | None, seed: int, explicit: bool
) -> list[EvalSet]:
    sets = []
    for spec in dict.fromkeys(specs):
        if spec == ARENA:
            from training.recipes import load_recipe

            data = load_recipe(recipe_name).data
            try:
                frame = store.votes.read(conversations=True)
                evaluation = arena_set(frame, eval_fraction=data.eval_fraction, seed=data.seed)
            except EvalSetError as exc:
                if explicit:
                    raise
                log.warning("skipping the arena set: %s", exc)
                continue
        elif spec == HH_RLHF_HARMLESS:
            evaluation = hh_rlhf_harmless()
        elif spec.startswith(f"{LLMFAO}:"):
            from leaderboard.llmfao import LLMFAOError

            try:
                evaluation = llmfao_set(spec.split(":", 1)[1])
            except LLMFAOError as exc:
                raise EvalSetError(f"{spec}: {exc}") from exc
        else:
            evaluation = file_set(spec)
        sets.append(sample(evaluation, limit, seed))
    return sets


def sample(evaluation: EvalSet, limit: int | None, seed: int) -> EvalSet:
    """At most `limit` pairs, drawn at random with `seed` (the same pairs for every model)."""
    if limit is None or len(evaluation.records) <= limit:
        return evaluation
    keep = set(random.Random(seed).sample(range(len(evaluation.records)), limit))
    return evaluation.subset([i in keep for i in range(len(evaluation.records))])


# --- scoring --------------------------------------------------------------------------------------------------


def evaluate_model(loaded: Any, sets: Sequence[EvalSet], *, min_pairs: int, samples: int, seed: int) -> ModelResult:
    """Score one loaded reward model (training.reward_models) on every set."""
    scored = []
    for evaluation in sets:
        scorer = loaded.scorer
        chosen_ids = [scorer.encode([*r["prompt"], *r["chosen"]]) for r in evaluation.records]
        rejected_ids = [scorer.encode([*r["prompt"], *r["rejected"]]) for r in evaluation.records]
        fits = [max(len(c), len(r)) <= loaded.max_length for c, r in zip(chosen_ids, rejected_ids, strict=True)]
        over = len(fits) - sum(fits)
        if not any(fits):
            raise EvalSetError(
                f"{evaluation.name}: every one of its {len(fits)} pairs is longer than {loaded.name}'s context "
                f"({loaded.max_length} tokens); give --max-length if the model reads more"
            )
        kept = evaluation.subset(fits)
        ids = [c for c, f in zip(chosen_ids, fits, strict=True) if f] + [
            r for r, f in zip(rejected_ids, fits, strict=True) if f
        ]
        scores = scorer.score_ids(ids)
        chosen, rejected = scores[: len(kept.records)], scores[len(kept.records) :]
        baselines: dict[str, Any] = length_outcomes(
            [_chars(r["chosen"]) for r in kept.records], [_chars(r["rejected"]) for r in kept.records]
        )
        if kept.rating_outcomes is not None and not np.isnan(kept.rating_outcomes).all():
            baselines["higher-rated model wins"] = kept.rating_outcomes
        score = score_set(
            kept.name,
            pair_outcomes(chosen, rejected),
            kept.labels,
            baselines,
            min_pairs=min_pairs,
            samples=samples,
            seed=seed,
            groups=[prompt_group(r) for r in kept.records],
        )
        extra = {
            "fingerprint": kept.fingerprint,
            "over_context": over,
            "read": dict(evaluation.read),
            "notes": list(evaluation.notes),
            "outcomes": pair_outcomes(chosen, rejected).tolist(),
        }
        scored.append((score, extra))
    combined = overall([extra["outcomes"] for _, extra in scored], samples=samples, seed=seed)
    return ModelResult(
        loaded.name,
        loaded.kind,
        loaded.max_length,
        tuple(scored),
        {"score": combined.estimate, "low": combined.low, "high": combined.high, "sets": len(scored)},
    )


def _chars(messages: Sequence[dict[str, str]]) -> int:
    return sum(len(m.get("content", "")) for m in messages)


def stored_rows(results: Sequence[ModelResult]) -> list[Any]:
    from store import NewRewardEvaluation

    rows = []
    for result in results:
        for score, extra in result.sets:
            report = {**score.to_dict(), **{k: v for k, v in extra.items() if k != "outcomes"}}
            report.update(model_kind=result.kind, max_length=result.max_length)
            rows.append(
                NewRewardEvaluation(
                    reward_model=result.model,
                    eval_set=score.name,
                    fingerprint=extra["fingerprint"],
                    pairs=score.pairs,
                    accuracy=score.accuracy.estimate,
                    low=_finite(score.accuracy.low),
                    high=_finite(score.accuracy.high),
                    report=json_safe(report),
                )
            )
    return rows


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def summary_lines(results: Sequence[ModelResult]) -> list[str]:
    lines = []
    for result in results:
        o = result.overall
        interval = f"{o['score']:.3f} [{o['low']:.3f}, {o['high']:.3f}]"
        lines.append(f"{result.model}: score {interval} over {o['sets']} set(s)")
        for score, extra in result.sets:
            best = score.baselines[0]
            left = f", {extra['over_context']} over the context left out" if extra["over_context"] else ""
            lines.append(
                f"  {score.name}: accuracy {score.accuracy.text()} on {score.pairs} pairs{left}; best baseline "
                f"{best.name} {best.accuracy:.3f}; {score.evidence.verdict}"
            )
    return lines


# --- command line ---------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rm = commands.add_parser("reward-model", help="score reward models on evaluation sets")
    rm.add_argument("models", nargs="+", metavar="MODEL", help="run folder, model folder or hub id")
    rm.add_argument(
        "--set", dest="sets", action="append", metavar="SET",
        help=f"{ARENA}, {HH_RLHF_HARMLESS}, {LLMFAO}:FOLDER or a file (repeatable; default: {', '.join(DEFAULT_SETS)})",
    )  # fmt: skip
    rm.add_argument("--out", type=Path, help="write every figure as JSON here")
    rm.add_argument(
        "--db", "--database-url", dest="db", metavar="URL",
        help="the arena's database: the arena set and where results are stored (default: the app's settings)",
    )  # fmt: skip
    rm.add_argument("--no-store", action="store_true", help="do not store the results in the database")
    rm.add_argument("--recipe", help="whose data section splits the arena's votes (default: the run's own recipe)")
    rm.add_argument("--limit", type=int, help="score at most N pairs of each set, drawn at random (quick runs)")
    rm.add_argument("--max-length", type=int, help="the model's context in tokens (default: from the model)")
    rm.add_argument("--base-model", help="local base model folder of a run folder's adapter")
    rm.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when present")
    rm.add_argument("--min-pairs", type=int, default=30, help="fewer pairs than this are never called evidence")
    rm.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples per interval")
    rm.add_argument("--seed", type=int, default=0)
    outcomes = commands.add_parser("outcomes", help="did training help? each registered checkpoint against its base")
    outcomes.add_argument(
        "--db", "--database-url", dest="db", metavar="URL", help="the arena's database (default: the app's settings)"
    )  # fmt: skip
    outcomes.add_argument("--format", choices=["markdown", "json"], default="markdown")
    return parser


def outcomes_main(args: argparse.Namespace, echo: Callable[[str], None]) -> int:
    """The "Did training help?" view of the leaderboard page, from the newest stored snapshot."""
    from leaderboard.training_outcomes import outcomes_table
    from store import Store, StoreError
    from store.snapshots import LEADERBOARD
    from training.outcomes import read_training_outcomes

    try:
        store = Store.open_existing(args.db or Settings().resolved_database_url)
    except StoreError as exc:
        echo(f"error: {exc}")
        return 2
    try:
        snapshot = store.snapshots.latest(LEADERBOARD)
        outcomes = read_training_outcomes(store, snapshot.payload if snapshot else None)
    finally:
        store.dispose()
    if args.format == "json":
        echo(json.dumps({"outcomes": [o.to_dict() for o in outcomes]}, indent=2))
        return 0
    if not outcomes:
        echo("No checkpoint registered by a training run yet.")
        return 0
    columns, rows = outcomes_table(outcomes)
    echo("| " + " | ".join(columns) + " |")
    echo("|" + "---|" * len(columns))
    for row in rows:
        echo("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    if snapshot is None:
        echo("(no leaderboard snapshot yet: ratings appear after the first refresh)")
    return 0


def main(argv: Sequence[str] | None = None, *, echo: Callable[[str], None] = print) -> int:
    from store import StoreError
    from training.recipes import RecipeError
    from training.reward_models import RewardModelError, load_reward_model

    args = _parser().parse_args(argv)
    if args.command == "outcomes":
        return outcomes_main(args, echo)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = None
    try:
        _check_arguments(args)
        settings = Settings()
        specs = args.sets or list(DEFAULT_SETS)
        unknown = [s for s in specs if not is_named(s) and not Path(s).is_file()]
        if unknown:
            raise EvalSetError(
                f"unknown evaluation set {unknown[0]!r}: not {ARENA}, {HH_RLHF_HARMLESS} or {LLMFAO}:FOLDER, and no "
                "such file"
            )
        if ARENA in specs or not args.no_store:
            try:
                store = _open_store(args.db, settings, create=not args.no_store)
            except StoreError:
                if args.sets or not args.no_store:
                    raise
                log.warning("no arena database to read: the default arena set is skipped")
                specs = [s for s in specs if s != ARENA]
        device = args.device or _default_device()
        loaded = [
            load_reward_model(m, device=device, base_model=args.base_model, max_length=args.max_length)
            for m in args.models
        ]  # every model loads before any scoring: a bad name fails fast
        recipe_name = args.recipe or _run_recipe(args.models[0]) or DEFAULT_RECIPE
        sets = load_sets(
            specs, store=store, recipe_name=recipe_name, limit=args.limit, seed=args.seed, explicit=bool(args.sets)
        )
        if not sets:
            raise EvalSetError("no evaluation set has pairs to score")
        results = [
            evaluate_model(model, sets, min_pairs=args.min_pairs, samples=args.bootstrap, seed=args.seed)
            for model in loaded
        ]
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(dumps({"results": [r.to_dict() for r in results]}, indent=2) + "\n")
        if store is not None and not args.no_store:
            store.reward_evaluations.record(stored_rows(results))
    except (EvalSetError, RewardModelError, RecipeError, StoreError, OSError, ValueError) as exc:
        echo(f"error: {exc}")
        return 2
    finally:
        if store is not None:
            store.dispose()
    for line in summary_lines(results):
        echo(line)
    if not args.no_store:
        echo(f"stored {sum(len(r.sets) for r in results)} result(s): the reward-model leaderboard shows them")
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    for name in ("limit", "max_length", "bootstrap"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.min_pairs < 1:
        raise ValueError(f"--min-pairs must be at least 1, got {args.min_pairs}")


def _open_store(url: str | None, settings: Settings, *, create: bool) -> Any:
    from store import Store

    url = url or settings.resolved_database_url
    return Store.open(url) if create else Store.open_existing(url)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _run_recipe(model: str) -> str | None:
    """The recipe a run folder was trained with, so its arena split is the one it held out."""
    from training.reward import REPORT_FILE

    report = Path(model) / REPORT_FILE
    if not report.is_file():
        return None
    try:
        return json.loads(report.read_text()).get("recipe")
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    raise SystemExit(main())
