"""Benchmark: the harmlessness reward model as an operator trains it (`python -m training.reward --from-votes
--recipe harmless-cpu-smoke`), with more pairs and one epoch: held-out accuracy on hh-rlhf's harmless pairs against
the length and random baselines, with intervals.

    python -m benchmarks.bench_harmless_reward                   # writes BENCHMARKS.md
    python -m benchmarks.bench_harmless_reward --pairs 120 --no-write

The recipe is harmless-cpu-smoke (data.criterion harmlessness, data.pair_sets [hh-rlhf-harmless]) with
pair_set_limit PAIRS (a seeded sample of each half of the shipped pairs, split by prompt: the training half trains,
the held-out half, never sharing a prompt with it, is scored), one epoch at batch 8, max_length 256 (longer pairs
are counted and left out), LoRA r 8. The database is a new, empty arena: no red-team vote yet, so the votes are
left out with a warning and the hh-rlhf pairs are the data, as on a new deployment. Accuracy intervals and the
paired differences resample prompts (training.evidence). A measurement of this machine's CPU budget (135M
parameters, one epoch), not of what a GPU run reaches.
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

SECTION = "## Harmlessness reward model (issue 17)"
REPO = Path(__file__).resolve().parent.parent


def run(pairs: int) -> dict[str, Any]:
    from store import Store
    from training.reward import main as train

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'arena.db'}"
        Store.open(url).dispose()  # a new arena's database: migrated, no votes
        recipe = yaml.safe_load((REPO / "training" / "recipes" / "harmless-cpu-smoke.yaml").read_text())
        recipe["name"] = "bench-harmless"
        recipe["data"].update(pair_set_limit=pairs)
        recipe["reward_model"].update(
            max_length=256, per_device_train_batch_size=8, max_steps=-1, num_train_epochs=1.0,
            save_steps=10_000, logging_steps=10, report_to=["none"], bootstrap_samples=2000,
        )  # fmt: skip
        (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        argv = ["--from-votes", "--db", url, "--recipe", str(folder / "recipe.yaml"), "--out", str(folder / "rm")]
        messages: list[str] = []
        if train(argv, echo=messages.append) != 0:
            raise SystemExit("\n".join(messages))
        report = json.loads((folder / "rm" / "report.json").read_text())
    evaluation = report["evaluation"]
    return {
        "pairs": pairs,
        "train_pairs": report["data"]["train_pairs"],
        "dropped": report["data"]["dropped_too_long"],
        "steps": report.get("train", {}).get("steps"),
        "accuracy": evaluation["accuracy"],
        "accuracy_ci95": evaluation["accuracy_ci95"],
        "held_out_pairs": evaluation["pairs"],
        "comparisons": evaluation["evidence"]["comparisons"],
        "verdict": evaluation["evidence"]["verdict"],
        "seconds": time.perf_counter() - started,
    }


def section(result: dict[str, Any]) -> str:
    low, high = result["accuracy_ci95"]
    rows = [f"| reward model | {result['accuracy']:.3f} [{low:.3f}, {high:.3f}] | |"]
    for c in result["comparisons"]:
        d = c["difference"]
        rows.append(
            f"| {c['baseline']} | {c['baseline_accuracy']:.3f} | {d['estimate']:+.3f} [{d['low']:+.3f}, "
            f"{d['high']:+.3f}] |"
        )
    return (
        f"{SECTION}\n\n"
        f"Command: `python -m benchmarks.bench_harmless_reward`. "
        f"{' '.join(__doc__.split(chr(10) + chr(10))[2].split())}\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores, pair_set_limit {result['pairs']:,}: "
        f"{result['train_pairs']:,} training pairs drawn ({result['train_pairs'] - result['dropped']['train']:,} "
        f"within 256 tokens trained), {result['held_out_pairs']:,} held-out pairs scored (left out over 256 tokens: "
        f"{result['dropped']['eval']}), "
        f"{result['seconds'] / 60:.0f} min in total.\n\n"
        "| On the held-out hh-rlhf pairs | Accuracy [95%] | Reward model minus it [95%] |\n"
        "|---|---:|---:|\n" + "\n".join(rows) + f"\n\nGate: {result['verdict']}.\n" + FLOOR
    )


FLOOR = (
    "\nRead it as a floor: one CPU epoch of a 135M model over a few hundred pairs learns nothing measurable about "
    "harmlessness (the learning curve above found the same), and the gate says so with intervals rather than "
    "passing a model that is not better than the length of its answers. The pipeline is what this measures: votes "
    "and hh-rlhf pairs in, a scored and gated model out. `--pairs 0` trains on all 1,125 training-half pairs (a "
    "GPU job, with gpu-default's reward-model settings).\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400, help="pairs of each half (default 400; 0: all)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = run(args.pairs)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", SECTION, section(result))


if __name__ == "__main__":
    main()
