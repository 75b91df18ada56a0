"""Benchmark: the reward model's learning curve on hh-rlhf harmless pairs (`python -m training.reward
--learning-curve`): held-out accuracy against the number of training pairs.

    python -m benchmarks.bench_learning_curve                     # writes BENCHMARKS.md
    python -m benchmarks.bench_learning_curve --pairs 400 --no-write

The pairs are the hh-rlhf harmless-base test pairs shipped in training/eval_data, in the project's fixed split by
prompt (training.reward_sets): the curve trains on the training half (1,125 pairs) and scores the held-out half
(1,187), the same held-out pairs every reward model is scored on; --pairs samples each half. The recipe is
cpu-smoke's reward model with one epoch per share (max_steps -1), batch 8, max_length 256 (longer pairs are counted
and left out), LoRA r 8; shares 10/25/50/100% of the training pairs, nested. Each point has its 95% interval
(resampling prompts) and the best baseline on the same held-out pairs; the last doubling's gain is a paired
interval. A measurement of this machine's CPU budget (135M parameters, one epoch), not of what a GPU run reaches.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.report import write_section

SECTION = "## Reward-model learning curve (issue 15)"
REPO = Path(__file__).resolve().parent.parent


def run(pairs: int | None) -> dict[str, Any]:
    from training.reward import main as train
    from training.reward_sets import hh_rlhf_harmless, sample

    started = time.perf_counter()
    training = sample(hh_rlhf_harmless(train=True), pairs, seed=0)
    held_out = sample(hh_rlhf_harmless(), pairs, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, half in (("pairs", training), ("eval-pairs", held_out)):
            (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in half.records))
        recipe = yaml.safe_load((REPO / "training" / "recipes" / "cpu-smoke.yaml").read_text())
        recipe["name"] = "bench-curve"
        recipe["reward_model"].update(
            max_length=256, per_device_train_batch_size=8, max_steps=-1, num_train_epochs=1.0,
            eval_fraction=0.2, save_steps=10_000, logging_steps=10, report_to=["none"],
            learning_curve=[0.1, 0.25, 0.5, 1.0],
        )  # fmt: skip
        (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        argv = ["--pairs", str(folder / "pairs.jsonl"), "--eval-pairs", str(folder / "eval-pairs.jsonl")]
        argv += ["--recipe", str(folder / "recipe.yaml")]
        messages: list[str] = []
        code = train([*argv, "--out", str(folder / "rm")], echo=messages.append)
        if code != 0:
            raise SystemExit("\n".join(messages))
        report = json.loads((folder / "rm" / "report.json").read_text())
    return {
        "pairs": len(training.records) + len(held_out.records),
        "curve": report["learning_curve"],
        "dropped": report["data"]["dropped_too_long"],
        "evidence": report["evaluation"]["evidence"]["verdict"],
        "seconds": time.perf_counter() - started,
    }


def section(result: dict[str, Any]) -> str:
    curve = result["curve"]
    rows = "\n".join(
        f"| {p['share']:.0%} | {p['train_pairs']:,} | {p['steps']} | {p['held_out_pairs']} | "
        f"{p['accuracy']['estimate']:.3f} [{p['accuracy']['low']:.3f}, {p['accuracy']['high']:.3f}] | "
        f"{p['best_baseline']} {p['best_baseline_accuracy']:.3f} |"
        for p in curve["points"]
    )
    return (
        f"{SECTION}\n\n"
        f"Command: `python -m benchmarks.bench_learning_curve`. {' '.join(__doc__.split(chr(10) + chr(10))[2].split())}"
        f"\n\nMeasured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores, {result['pairs']:,} pairs, "
        f"{result['seconds'] / 60:.0f} min in total; pairs over 256 tokens left out: {result['dropped']['train']} "
        f"training, {result['dropped']['eval']} held-out.\n\n"
        "| Share | Training pairs | Steps | Held-out pairs | Accuracy [95%] | Best baseline |\n"
        "|---:|---:|---:|---:|---|---|\n"
        f"{rows}\n\n"
        f"Last doubling: {curve['last_doubling']['reading']}. The full run's gate: {result['evidence']}.\n\n"
        "LLMFAO has no curve here: its 13 prompts leave one or two held-out prompts, so its evidence comes from "
        "grouped k-fold (`reward_model.few_prompts`), and a curve per fold would take this machine hours.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, help="a seeded sample of this many pairs of each half (default: all)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = run(args.pairs)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", SECTION, section(result))


if __name__ == "__main__":
    main()
