"""Benchmark: Self-Instruct records per minute from the embedded generator, and what the filters cost beside it.

One process, three measures:
  generation  `training.generate self-instruct` with the embedded model (SmolLM2-135M) to --target records: records
              per minute, and the run's own split of its time between the generator and the filters;
  filters     screen() alone on --checks candidate instructions against a realistic pool: the 175 seeds plus
              --pool real questions (TruthfulQA's 817, then seed-word sentences), as a long run's kept set;
  baseline    the same ROUGE-L maximum the way Self-Instruct computed it: rouge_score's RougeScorer.score against
              every kept text (each re-tokenized per check), on a few candidates.
The ratio that matters: filter seconds per candidate against generator seconds per candidate.

    python -m benchmarks.generate_throughput                      # target 3, pool 3000
    python -m benchmarks.generate_throughput --target 2 --max-new-tokens 32 --pool 2000 --checks 100
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from training.generate.filters import KeptTexts, screen
from training.generate.self_instruct import SEED_TASKS_FILE, add_arguments, load_seed_tasks, run

REPO = Path(__file__).resolve().parent.parent
TRUTHFULQA = REPO / "evals" / "data" / "truthfulqa" / "TruthfulQA.csv"


def realistic_pool(size: int, seed: int) -> list[str]:
    """Questions people asked (TruthfulQA), then sentences of seed-task words, `size` in all."""
    with TRUTHFULQA.open(encoding="utf-8-sig") as handle:
        texts = [row["Question"] for row in csv.DictReader(handle)][:size]
    words = " ".join(task.instruction for task in load_seed_tasks(SEED_TASKS_FILE)).split()
    rng = random.Random(seed)
    while len(texts) < size:
        texts.append(" ".join(rng.sample(words, rng.randint(6, 30))))
    return texts


def measure_generation(target: int, max_new_tokens: int, batch_size: int) -> tuple[float, float, float, int]:
    """(seconds, generation seconds, filter seconds, candidates screened) of a fresh run, from its summary line."""
    from training.generate import self_instruct

    summaries: list[self_instruct.Summary] = []
    original = self_instruct.Bootstrap.run

    def keep_summary(self: self_instruct.Bootstrap, *args: object) -> self_instruct.Summary:
        summary = original(self, *args)  # type: ignore[arg-type]
        summaries.append(summary)
        return summary

    self_instruct.Bootstrap.run = keep_summary  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as folder:
            parser = argparse.ArgumentParser()
            add_arguments(parser)
            argv = ["--generator", "smollm2-135m-greedy", "--out", str(Path(folder) / "si.jsonl")]
            argv += ["--target", str(target), "--max-new-tokens", str(max_new_tokens), "--batch-size", str(batch_size)]
            code = run(parser.parse_args(argv))
    finally:
        self_instruct.Bootstrap.run = original  # type: ignore[method-assign]
    if code != 0 or not summaries:
        sys.exit(f"the generation run failed (exit {code})")
    summary = summaries[0]
    screened = summary.kept + summary.rejected_records
    return summary.seconds, summary.generation_seconds, summary.filter_seconds, screened


def measure_filters(pool: list[str], checks: int, baseline_checks: int, seed: int) -> tuple[float, float, float]:
    """(seconds to build the pool, seconds per screen(), seconds per baseline ROUGE-L maximum)."""
    from rouge_score import rouge_scorer

    seeds = [task.instruction for task in load_seed_tasks(SEED_TASKS_FILE)]
    started = time.perf_counter()
    kept = KeptTexts([*seeds, *pool])
    build = time.perf_counter() - started
    rng = random.Random(seed + 1)
    words = " ".join(seeds).split()
    candidates = [" ".join(rng.sample(words, rng.randint(6, 25))) for _ in range(checks)]
    started = time.perf_counter()
    for candidate in candidates:
        screen(candidate, "An answer.", kept)
    per_check = (time.perf_counter() - started) / checks
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    started = time.perf_counter()
    for candidate in candidates[:baseline_checks]:
        max(scorer.score(text, candidate)["rougeL"].fmeasure for text in [*seeds, *pool])
    per_baseline = (time.perf_counter() - started) / baseline_checks
    return build, per_check, per_baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--pool", type=int, default=3000, help="kept texts beside the 175 seeds")
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--baseline-checks", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-generation", action="store_true", help="filters and baseline only")
    args = parser.parse_args()
    os.environ.setdefault("ARENA_DATA_DIR", tempfile.mkdtemp(prefix="bench-si-"))  # no arena database is read

    build, per_check, per_baseline = measure_filters(
        realistic_pool(args.pool, args.seed), args.checks, args.baseline_checks, args.seed
    )
    rows = [
        ("pool build (175 seeds + pool, tokenized once)", f"{build:.3f} s", ""),
        (f"screen() per candidate, pool {175 + args.pool}", f"{per_check * 1000:.2f} ms", "this code"),
        ("ROUGE-L max, RougeScorer.score per kept text", f"{per_baseline * 1000:.1f} ms", "baseline"),
        ("speed-up of the filters over the baseline", f"{per_baseline / per_check:.0f}x", ""),
    ]
    if not args.skip_generation:
        seconds, generation, filtering, screened = measure_generation(args.target, args.max_new_tokens, args.batch_size)
        per_candidate = generation / max(screened, 1)
        rows += [
            (f"embedded generator, target {args.target}", f"{60 * args.target / seconds:.2f} records/min", ""),
            ("run time: generator / filters", f"{generation:.1f} s / {filtering:.3f} s", f"{screened} screened"),
            ("generator seconds per screened candidate", f"{per_candidate:.2f} s", ""),
            (
                f"filters at pool {175 + args.pool} / generator, per candidate",
                f"{per_check / per_candidate:.2%}",
                "ratio",
            ),
        ]
    width = max(len(name) for name, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>22}  {note}")


if __name__ == "__main__":
    main()
