"""Static benchmarks beside the arena, stored per item and resumable.

    python -m evals over-refusal smollm2-135m-greedy --limit 100
    python -m evals over-refusal smollm2-135m-greedy smollm2-135m-concise --detector judge --judge-model gpt-4o-judge
    python -m evals mt-bench smollm2-135m-greedy --judge-model gpt-4o-judge --limit 10
    python -m evals arena-hard smollm2-135m-greedy --judge-model gpt-4o-judge --limit 50
    python -m evals truthfulqa-mc smollm2-135m-greedy smollm2-135m-int8 --limit 200
    python -m evals truthfulqa-gen gpt-4o-mini --judge-model gpt-4o-judge --limit 200
    python -m evals refusal-detector --detector judge --judge-model gpt-4o-judge
    python -m evals list

Models are the arena's registry (models.yaml, ARENA_MODELS, and checkpoints training runs registered); results go to
the arena database (--db, default the app's), where the leaderboard shows each model's newest figures at its next
refresh. A run resumes where it stopped; what is stored is not run again unless --force (which starts a new run and
keeps the old one, superseded). Exit codes: 0 done, 1 a model or judge failed on every item, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from facts.json_safe import dumps


def _run_options(
    command: argparse.ArgumentParser, *, limit_help: str, judge_help: str | None, batch_size: int = 8
) -> None:
    command.add_argument("models", nargs="+", metavar="MODEL", help="registry model names")
    command.add_argument("--db", help="database URL (default: the app's, ARENA_DATABASE_URL)")
    command.add_argument("--limit", type=int, help=limit_help)
    if judge_help is not None:  # None: the benchmark has no judge
        command.add_argument("--judge-model", help=judge_help)
    command.add_argument(
        "--batch-size",
        type=int,
        default=batch_size,
        help=f"items answered (and stored) together (default {batch_size})",
    )
    command.add_argument("--force", action="store_true", help="start a new run even when one is stored")
    command.add_argument("--format", choices=("text", "json"), default="text")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    over = commands.add_parser("over-refusal", help="how often models refuse benign requests (Arena-Hard, MT-Bench)")
    _run_options(over, limit_help="only the first N of the 580 requests (a seeded sample)",
                 judge_help="the registry model that reads the answers (--detector judge)")  # fmt: skip
    over.add_argument("--detector", choices=("phrases", "judge"), default="phrases")
    over.add_argument("--max-new-tokens", type=int, default=160, help="answer cap; a refusal shows at the head")

    mt_bench = commands.add_parser("mt-bench", help="MT-Bench: 80 two-turn questions graded 1-10 by the judge")
    _run_options(mt_bench, limit_help="only the first N of the 80 questions (a seeded sample)",
                 judge_help="the registry model that grades (default: the app's judge, ARENA_JUDGE_MODEL)")  # fmt: skip
    mt_bench.add_argument("--max-new-tokens", type=int, help="answer cap (default: each model's own)")
    mt_bench.add_argument("--judge-max-tokens", type=int, default=1024)

    arena_hard = commands.add_parser("arena-hard", help="Arena-Hard v0.1: 500 hard prompts vs GPT-4-0314, both orders")
    _run_options(arena_hard, limit_help="only the first N of the 500 questions (N <= 250: N different topics)",
                 judge_help="the registry model that judges (default: the app's judge, ARENA_JUDGE_MODEL)")  # fmt: skip
    arena_hard.add_argument("--max-new-tokens", type=int, help="answer cap (default: each model's own)")
    arena_hard.add_argument("--judge-max-tokens", type=int, default=1024)

    multiple_choice = commands.add_parser(
        "truthfulqa-mc", help="TruthfulQA MC1/MC2 by log-likelihood through lm-eval (local models)"
    )
    _run_options(multiple_choice, limit_help="only the first N of the 817 questions (a seeded sample)",
                 judge_help=None, batch_size=64)  # fmt: skip

    generation = commands.add_parser(
        "truthfulqa-gen", help="TruthfulQA answered freely and judged truthful/informative (remote models)"
    )
    _run_options(generation, limit_help="only the first N of the 817 questions (a seeded sample)",
                 judge_help="the registry model that grades (default: the app's judge, ARENA_JUDGE_MODEL)")  # fmt: skip
    generation.add_argument("--max-new-tokens", type=int, help="answer cap (default 96: a sentence)")

    detector = commands.add_parser("refusal-detector", help="score a refusal detector on the hand-labelled answers")
    detector.add_argument("--detector", choices=("phrases", "judge"), default="phrases")
    detector.add_argument("--judge-model", help="the registry model that reads the answers (--detector judge)")
    detector.add_argument("--labels", help="a labelled JSONL (default: training/eval_data/refusal-labels)")
    detector.add_argument("--format", choices=("text", "json"), default="text")

    listing = commands.add_parser("list", help="the stored runs and their figures")
    listing.add_argument("--db", help="database URL (default: the app's, ARENA_DATABASE_URL)")
    listing.add_argument("--model")
    listing.add_argument("--benchmark")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from evals.service import EvalsError
    from models.registry import RegistryError
    from store import StoreError

    try:
        if args.command == "refusal-detector":
            return _refusal_detector(args)
        if args.command == "list":
            return _list(args)
        return _run(args)
    except (EvalsError, RegistryError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    """Open the store, find the models, build the benchmark, run it for each model with a progress bar each."""
    from tqdm import tqdm

    from evals.service import EvalsError, build_benchmark, failed_everywhere, line, run_for_models
    from leaderboard.benchmark_columns import describe
    from models.pool import BackendPool
    from settings import Settings
    from store import Store

    settings = Settings()
    store = Store.open(args.db or settings.resolved_database_url)
    try:
        judge_name = getattr(args, "judge_model", None)
        if judge_name is None and args.command not in ("over-refusal", "truthfulqa-mc"):
            judge_name = settings.resolved_judge_model() or None
        specs, judge = _specs(store, settings, args.models, judge_name)
        pool = BackendPool(settings.resolved_model_cache_dir, device=settings.device)
        options = {k: v for k, v in vars(args).items() if k in ("detector", "max_new_tokens", "judge_max_tokens")}
        benchmark = build_benchmark(args.command, pool.get, judge=judge, **options)
        bars: dict[str, tqdm] = {}

        def progress(model: str):  # one bar per model, on stderr so --format json stays parseable
            def update(done: int, total: int) -> None:
                bar = bars.get(model)
                if bar is None:
                    bar = bars[model] = tqdm(total=total, desc=model, unit="item", file=sys.stderr)
                bar.n = done
                bar.refresh()
                if done == total:
                    bar.close()

            return update

        try:
            runs = run_for_models(
                store, specs, benchmark, limit=args.limit, force=args.force, batch_size=args.batch_size,
                progress=progress,
            )  # fmt: skip
        except ValueError as exc:
            raise EvalsError(str(exc)) from exc
        _print([describe(run) for run in runs], args.format, [line(run) for run in runs])
        return 1 if any(failed_everywhere(run) for run in runs) else 0
    finally:
        store.dispose()


def _specs(store: Any, settings: Any, names: Sequence[str], judge_name: str | None) -> tuple[list[Any], Any]:
    """The models by name: the arena's registry (checkpoints included), else the registry file (not written to the
    database: registering is the app's job)."""
    from evals.service import EvalsError
    from models.registry import load_model_specs

    known = {spec.name: spec for spec in load_model_specs(settings.models_file)}
    known.update({spec.name: spec for spec in store.registry.models(enabled_only=False)})
    missing = [name for name in (*names, *([judge_name] if judge_name else [])) if name not in known]
    if missing:
        names_given = ", ".join(map(repr, missing))
        raise EvalsError(f"no model named {names_given}; the registry's models are: {', '.join(known)}")
    return [known[name] for name in names], known[judge_name] if judge_name else None


def _refusal_detector(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evals.service import REFUSAL_LABELS, EvalsError, refusal_detector
    from models.pool import BackendPool
    from models.registry import load_model_specs
    from settings import Settings

    judge_backend, name = None, "phrases"
    if args.detector == "judge":
        if not args.judge_model:
            raise EvalsError("--detector judge needs --judge-model, a model of the registry file")
        settings = Settings()
        specs = {spec.name: spec for spec in load_model_specs(settings.models_file)}
        if args.judge_model not in specs:
            raise EvalsError(f"no model {args.judge_model!r} in {settings.models_file}")
        judge_backend = BackendPool(settings.resolved_model_cache_dir, device=settings.device).get(
            specs[args.judge_model]
        )
        name = f"judge:{args.judge_model}"
    report = refusal_detector(judge_backend, name, Path(args.labels) if args.labels else REFUSAL_LABELS)
    _print(report.to_dict(), args.format, report.lines())
    return 0


def _list(args: argparse.Namespace) -> int:
    from evals.service import line
    from leaderboard.benchmark_columns import describe
    from settings import Settings
    from store import Store

    store = Store.open_existing(args.db or Settings().resolved_database_url)
    try:
        runs = store.benchmark_runs.runs(model=args.model, benchmark=args.benchmark)
    finally:
        store.dispose()
    _print([describe(run) for run in runs], args.format, [line(run) for run in runs] or ["no stored runs"])
    return 0


def _print(data: Any, output_format: str, lines: Sequence[str]) -> None:
    print(dumps(data, indent=2) if output_format == "json" else "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
