"""Evaluate reward models on preference pairs from anywhere, RewardBench's way, and say whether training helped.

    python -m training.evaluate outcomes [--db URL] [--format json]   # each registered checkpoint vs its base
    python -m training.evaluate checkpoint smollm2-135m-rlhf-v1 --judge gpt-4o-judge --out compare.json
    python -m training.evaluate reward-model runs/rm
    python -m training.evaluate reward-model runs/rm other/rm-folder owner/hub-rm \\
        --set arena --set hh-rlhf-harmless --set llmfao:../shared/data/llmfao --set battles.jsonl \\
        --out results.json [--db sqlite:///data/arena.db] [--limit 200] [--no-store]
    python -m training.evaluate reward-model runs/rm-harmless --set arena-harmlessness --set hh-rlhf-harmless

MODEL: a `python -m training.reward` run folder, a local transformers sequence-classification model, or a hub id
(when the hub can be reached). --set (repeatable; default: arena, arena-harmlessness and hh-rlhf-harmless, the
arena's sets skipped when they have no votes): the sets of training.reward_sets. Per model and set: accuracy (the
share of pairs whose chosen answer scores higher, ties half) with a bootstrap 95% interval, per subset (category,
source), and beside it the baselines on the same pairs (answer length in both directions, the higher-rated model
where models are named, a random scorer) with the paired difference to the best of them; then the mean over sets
(RewardBench's overall score, training.reward_bench). Pairs longer than the model's context are counted and left
out, never truncated.

The arena sets (arena: helpfulness votes; arena-harmlessness: the red-team battles' votes) are the held-out split
of a recipe's data section: by default the recipe the run folders were trained with (their report.json), so a model
is never scored on votes it learned from; run folders of different recipes, or one trained on every pair
(cross-validated for lack of prompts), are refused on them (skipped when not named). hh-rlhf-harmless is the half
of the shipped pairs that no recipe trains on (data.pair_sets trains on the other half).

Results go to the arena's database (the reward-model leaderboard reads them; --no-store skips it; the database
must exist, as the app creates it), to --out as JSON, and to the screen. Errors (an unknown set, a model without a
score head, a file with no pair, nothing left within the context) exit 2 and store nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
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
    ARENA_SETS,
    HH_RLHF_HARMLESS,
    HH_RLHF_HARMLESS_TRAIN,
    LLMFAO,
    NAMED_SETS,
    EvalSet,
    EvalSetError,
    arena_set,
    file_set,
    hh_rlhf_harmless,
    is_named,
    llmfao_set,
    sample,
)

log = logging.getLogger(__name__)
DEFAULT_SETS = (*ARENA_SETS, HH_RLHF_HARMLESS)
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
            "sets": [
                {**score.to_dict(), **{k: v for k, v in extra.items() if k != "groups"}} for score, extra in self.sets
            ],
        }


# --- sets -----------------------------------------------------------------------------------------------------


def load_sets(
    specs: Sequence[str], *, store: Any, recipe_name: str, limit: int | None, seed: int, explicit: bool
) -> list[EvalSet]:
    sets = []
    for spec in dict.fromkeys(specs):
        if spec in ARENA_SETS:
            from training.recipes import load_recipe

            data = load_recipe(recipe_name).data
            try:
                frame = store.votes.read(conversations=True, criterion=ARENA_SETS[spec])
                evaluation = arena_set(frame, eval_fraction=data.eval_fraction, seed=data.seed, name=spec)
            except EvalSetError as exc:
                if explicit:
                    raise
                log.warning("skipping the %s set: %s", spec, exc)
                continue
        elif spec in (HH_RLHF_HARMLESS, HH_RLHF_HARMLESS_TRAIN):
            evaluation = hh_rlhf_harmless(train=spec == HH_RLHF_HARMLESS_TRAIN)
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


# --- scoring --------------------------------------------------------------------------------------------------


def evaluate_model(
    loaded: Any, sets: Sequence[EvalSet], *, min_pairs: int, samples: int, seed: int, min_prompts: int = 10
) -> ModelResult:
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
            min_prompts=min_prompts,
        )
        extra = {
            "fingerprint": kept.fingerprint,
            "over_context": over,
            "read": dict(evaluation.read),
            "notes": list(evaluation.notes),
            "outcomes": pair_outcomes(chosen, rejected).tolist(),
            "groups": [prompt_group(r) for r in kept.records],
        }
        scored.append((score, extra))
    combined = overall(
        [extra["outcomes"] for _, extra in scored],
        samples=samples,
        seed=seed,
        groups=[extra["groups"] for _, extra in scored],
    )
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
            report = {**score.to_dict(), **{k: v for k, v in extra.items() if k not in ("outcomes", "groups")}}
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
        help=f"{', '.join(NAMED_SETS)} or a file (repeatable; default: {', '.join(DEFAULT_SETS)})",
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
    rm.add_argument("--min-prompts", type=int, default=10, help="nor pairs under fewer distinct prompts")
    rm.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples per interval")
    rm.add_argument("--seed", type=int, default=0)
    checkpoint = commands.add_parser("checkpoint", help="a registered checkpoint against its base, judged")
    checkpoint.add_argument("model", metavar="MODEL", help="the registered contender to evaluate")
    checkpoint.add_argument("--base", help="the contender to compare with (default: the one it was trained from)")
    checkpoint.add_argument("--judge", help="registry model that judges (default: the app's judge setting)")
    checkpoint.add_argument("--scale", choices=["arena_hard", "mt_bench"], help="verdict scale (default: settings)")
    checkpoint.add_argument("--held-out", type=int, default=50, help="the arena's held-out prompts to ask, at most")
    checkpoint.add_argument("--arena-hard", type=int, default=50, help="Arena-Hard questions to ask (seeded sample)")
    checkpoint.add_argument("--reward-model", type=Path, help="also score both answers with this reward run folder")
    checkpoint.add_argument("--max-new-tokens", type=int, help="answer length cap (default: each model's own)")
    checkpoint.add_argument("--judge-max-tokens", type=int, default=512)
    checkpoint.add_argument(
        "--recipe", help="whose data section splits the arena's votes (default: the recipe the checkpoint's run used)"
    )
    checkpoint.add_argument(
        "--db", "--database-url", dest="db", metavar="URL", help="the arena's database (default: the app's settings)"
    )  # fmt: skip
    checkpoint.add_argument("--out", type=Path, help="write the comparison (every prompt and answer) as JSON here")
    checkpoint.add_argument("--seed", type=int, default=0)
    outcomes = commands.add_parser("outcomes", help="did training help? each registered checkpoint against its base")
    outcomes.add_argument(
        "--db", "--database-url", dest="db", metavar="URL", help="the arena's database (default: the app's settings)"
    )  # fmt: skip
    outcomes.add_argument("--format", choices=["markdown", "json"], default="markdown")
    return parser


def checkpoint_main(args: argparse.Namespace, echo: Callable[[str], None]) -> int:
    """Answers from the checkpoint and its base on held-out and Arena-Hard prompts, judged in both orders; the
    summary is stored with the training run that registered the checkpoint."""
    from models.pool import BackendPool
    from store import Store, StoreError
    from training.checkpoint_eval import ARENA_HARD_SOURCE, HELD_OUT, arena_hard_prompts, compare_checkpoint, render
    from training.from_votes import NotEnoughVotes, load_vote_dataset
    from training.recipes import RecipeError, load_recipe
    from training.reward_models import RewardModelError, load_reward_model

    settings = Settings()
    store = None
    try:
        for name in ("held_out", "arena_hard", "judge_max_tokens"):
            if getattr(args, name) < 0 or (name == "judge_max_tokens" and args.judge_max_tokens < 1):
                raise ValueError(f"--{name.replace('_', '-')} cannot be {getattr(args, name)}")
        store = Store.open_existing(args.db or settings.resolved_database_url)
        specs = {spec.name: spec for spec in store.registry.models(enabled_only=False)}
        model = _spec(specs, args.model, "the checkpoint")
        base_name = args.base or model.base
        if not base_name:
            raise ValueError(f"{model.name} names no base it was trained from; give --base")
        base = _spec(specs, base_name, "the base")
        judge = _spec(specs, args.judge or settings.resolved_judge_model(), "the judge")
        prompts: list[tuple[str, Any]] = []
        if args.held_out:
            runs = [r for r in store.training_runs.runs() if r.registered_model == model.name]
            recipe_name = args.recipe or (runs[0].recipe if runs else DEFAULT_RECIPE)
            try:
                dataset = load_vote_dataset(store, load_recipe(recipe_name).data)
                prompts += [(HELD_OUT, p) for p in dataset.eval_prompts[: args.held_out]]
            except NotEnoughVotes as exc:
                log.warning("no held-out arena prompts: %s", exc)
        prompts += [(ARENA_HARD_SOURCE, p) for p in arena_hard_prompts(args.arena_hard, args.seed)]
        if not prompts:
            raise ValueError("no prompts to ask: the arena has no held-out votes and --arena-hard is 0")
        reward = None
        if args.reward_model is not None:
            scorer = load_reward_model(str(args.reward_model), device=settings.device).scorer
            reward = scorer.score
        pool = BackendPool(settings.resolved_model_cache_dir, device=settings.device)
        comparison = compare_checkpoint(
            model,
            base,
            judge,
            prompts,
            pool.get,
            scale=args.scale or settings.judge_scale,  # type: ignore[arg-type]
            max_new_tokens=args.max_new_tokens,
            judge_max_tokens=args.judge_max_tokens,
            reward=reward,
            seed=args.seed,
            progress=lambda done, total: log.info("judged %d of %d prompts", done, total),
        )
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(dumps(comparison.to_dict(), indent=2) + "\n")
        stored = {k: v for k, v in comparison.to_dict().items() if k != "results"}  # the figures, not the texts
        run_id = store.training_runs.attach(model.name, "checkpoint_evaluation", json_safe(stored))
    except (ValueError, OSError, StoreError, RecipeError, RewardModelError) as exc:
        echo(f"error: {exc}")
        return 2
    finally:
        if store is not None:
            store.dispose()
    for line in render(comparison):
        echo(line)
    echo(f"stored with training run {run_id}" if run_id else "not from a training run: nothing stored (see --out)")
    return 0


def _spec(specs: dict[str, Any], name: str, role: str) -> Any:
    if not name:
        raise ValueError(f"no {role} named: give one (a judge: --judge or ARENA_JUDGE_MODEL)")
    if name not in specs:
        raise ValueError(f"{role} {name!r} is not a registered model; registered: {', '.join(sorted(specs))}")
    return specs[name]


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
    if args.command == "checkpoint":
        return checkpoint_main(args, echo)
    store = None
    try:
        _check_arguments(args)
        settings = Settings()
        specs = args.sets or list(DEFAULT_SETS)
        unknown = [s for s in specs if not is_named(s) and not Path(s).is_file()]
        if unknown:
            raise EvalSetError(
                f"unknown evaluation set {unknown[0]!r}: not one of {', '.join(NAMED_SETS)}, and no such file"
            )
        if any(s in ARENA_SETS for s in specs) or not args.no_store:
            try:
                store = _open_store(args.db, settings)
            except StoreError:
                if args.sets or not args.no_store:
                    raise
                log.warning("no arena database to read: the default arena sets are skipped")
                specs = [s for s in specs if s not in ARENA_SETS]
        device = args.device or _default_device()
        loaded = [
            load_reward_model(m, device=device, base_model=args.base_model, max_length=args.max_length)
            for m in args.models
        ]  # every model loads before any scoring: a bad name fails fast
        arena_recipe = _arena_recipe(args.models, specs, explicit=any(s in ARENA_SETS for s in args.sets or ()))
        if arena_recipe is None:
            specs = [s for s in specs if s not in ARENA_SETS]
        recipe_name = args.recipe or arena_recipe or DEFAULT_RECIPE
        sets = load_sets(
            specs, store=store, recipe_name=recipe_name, limit=args.limit, seed=args.seed, explicit=bool(args.sets)
        )
        if not sets:
            raise EvalSetError("no evaluation set has pairs to score")
        results = [
            evaluate_model(
                model,
                sets,
                min_pairs=args.min_pairs,
                samples=args.bootstrap,
                seed=args.seed,
                min_prompts=args.min_prompts,
            )
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
    for model in args.models:
        if len(model) > 512:  # the reward_evaluations column's width: refused before any scoring
            raise ValueError(f"a model name or path of {len(model)} characters is too long (512 at most)")
    for name in ("limit", "max_length", "bootstrap"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    for name in ("min_pairs", "min_prompts"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")


def _open_store(url: str | None, settings: Settings) -> Any:
    """The arena's existing database: a mistyped --db is an error, never a new empty database holding results."""
    from store import Store

    return Store.open_existing(url or settings.resolved_database_url)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _run_report(model: str) -> dict[str, Any]:
    """The report.json of a run folder ({} for a model folder or a hub id)."""
    from training.reward import REPORT_FILE

    report = Path(model) / REPORT_FILE
    if not report.is_file():
        return {}
    try:
        loaded = json.loads(report.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _arena_recipe(models: Sequence[str], specs: Sequence[str], *, explicit: bool) -> str | None:
    """The recipe whose split the arena set holds out: the one every run folder was trained with, so no model is
    scored on votes it learned from. None (the arena set is skipped) when that cannot hold and it was not asked
    for by name; an error when it was."""
    if not any(s in ARENA_SETS for s in specs):
        return DEFAULT_RECIPE
    reports = {model: _run_report(model) for model in models}
    problem = None
    if everything := [m for m, r in reports.items() if r.get("trained_on_all_pairs")]:
        problem = (
            f"{everything[0]} trained on every pair (too few prompts for a held-out split; its evidence is the "
            "cross-validation in its report), so no arena vote is held out from it"
        )
    recipes = {r.get("recipe") for r in reports.values() if r.get("recipe")}
    if len(recipes) > 1:
        problem = f"the run folders were trained with different recipes ({', '.join(sorted(recipes))}): score them "
        problem += "on the arena set one at a time, each on the split it held out"
    if problem is None:
        return recipes.pop() if recipes else DEFAULT_RECIPE
    if explicit:
        raise EvalSetError(f"arena: {problem}")
    log.warning("skipping the arena set: %s", problem)
    return None


if __name__ == "__main__":
    raise SystemExit(main())
