"""Benchmark: training throughput through the project's entry points vs a bare TRL script, same settings, same run.

    python -m benchmarks.bench_training                 # 2 repeats, writes BENCHMARKS.md
    python -m benchmarks.bench_training --repeats 1 --no-write

Two tasks on the embedded SmolLM2-135M with LoRA r=16 on CPU: reward-model training (RewardTrainer, batch 8,
max_length 256) and DPO (batch 4, max_length 256). For each, `python -m training.reward` / `python -m
training.rlhf --pairs ... --reward-model ...` and `python -m benchmarks.bare_trl` run as separate processes,
alternating (ours, bare, ours, bare, ...) so drift in machine load hits both. Throughput is the trainer's own
train_samples_per_second (model loading, evaluation and merging excluded for both); peak memory is each
process's maximum resident set (os.wait4). Our runs keep their real configuration, checkpoint saving included:
that is what resumability costs. Target: ours / bare >= 0.9.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import write_section

SECTION = "## Training throughput (issue 5)"
REPO = Path(__file__).resolve().parent.parent
RM = {"steps": 6, "batch": 8, "max_length": 256, "lr": 1e-4, "lora_r": 16, "lora_alpha": 32}
DPO = {"steps": 4, "batch": 4, "max_length": 256, "lr": 5e-5, "lora_r": 16, "lora_alpha": 32, "beta": 0.1}


@dataclass(frozen=True)
class Run:
    task: str
    who: str  # ours | bare
    samples_per_s: float
    peak_mb: float
    load: float


def _recipe(path: Path) -> Path:
    path.write_text(
        f"""name: bench
device: cpu
reward_model:
  max_length: {RM["max_length"]}
  per_device_train_batch_size: {RM["batch"]}
  learning_rate: {RM["lr"]}
  max_steps: {RM["steps"]}
  lora_r: {RM["lora_r"]}
  lora_alpha: {RM["lora_alpha"]}
  use_margin: true
  bootstrap_samples: 200
  save_steps: {RM["steps"]}
  logging_steps: 1
policy:
  method: dpo
  max_length: {DPO["max_length"]}
  per_device_train_batch_size: {DPO["batch"]}
  learning_rate: {DPO["lr"]}
  max_steps: {DPO["steps"]}
  lora_r: {DPO["lora_r"]}
  lora_alpha: {DPO["lora_alpha"]}
  beta: {DPO["beta"]}
  eval_prompts: 2
  eval_max_new_tokens: 8
  save_steps: {DPO["steps"]}
  logging_steps: 1
"""
    )
    return path


def _pairs(path: Path, count: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        good = f"{a} plus {b} is {a + b}. Adding the tens and then the ones gives the same result."
        bad = "I am not sure about that, " * rng.randint(2, 6) + "maybe ask someone else."
        record = {
            "prompt": [{"role": "user", "content": f"What is {a} plus {b}? ({i})"}],
            "chosen": [{"role": "assistant", "content": good}],
            "rejected": [{"role": "assistant", "content": bad}],
            "margin": 1.0,
        }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(argv: list[str]) -> tuple[str, float]:
    """Run a process; its stdout and its peak resident memory in MB."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{err.read()[-3000:]}")
        return out.read(), usage.ru_maxrss / 1024  # Linux reports KiB


def _bare(kind: str, settings: dict[str, float], model: Path, pairs: Path, out: Path) -> tuple[float, float]:
    argv = [sys.executable, "-m", "benchmarks.bare_trl", kind, "--model", str(model), "--pairs", str(pairs),
            "--out", str(out), "--steps", str(settings["steps"]), "--batch", str(settings["batch"]),
            "--max-length", str(settings["max_length"]), "--lr", str(settings["lr"]),
            "--lora-r", str(settings["lora_r"]), "--lora-alpha", str(settings["lora_alpha"])]  # fmt: skip
    if kind == "dpo":
        argv += ["--beta", str(settings["beta"])]
    stdout, peak = _run(argv)
    metrics = json.loads(stdout.strip().splitlines()[-1])
    return float(metrics["train_samples_per_second"]), peak


def _ours_reward(recipe: Path, model: Path, pairs: Path, held_out: Path, out: Path) -> tuple[float, float]:
    argv = [sys.executable, "-m", "training.reward", "--recipe", str(recipe), "--pairs", str(pairs),
            "--eval-pairs", str(held_out), "--out", str(out), "--base-model", str(model), "--no-resume"]  # fmt: skip
    _, peak = _run(argv)
    report = json.loads((out / "report.json").read_text())
    return float(report["training"]["train_samples_per_second"]), peak


def _ours_dpo(
    recipe: Path, model: Path, pairs: Path, held_out: Path, reward_model: Path, out: Path, db: str
) -> tuple[float, float]:
    argv = [sys.executable, "-m", "training.rlhf", "--recipe", str(recipe), "--pairs", str(pairs),
            "--eval-pairs", str(held_out), "--reward-model", str(reward_model), "--out", str(out),
            "--base-model", str(model), "--database-url", db, "--no-register", "--no-resume"]  # fmt: skip
    _, peak = _run(argv)
    report = json.loads((out / "report.json").read_text())
    return float(report["training"]["train_samples_per_second"]), peak


def measure(repeats: int) -> list[Run]:
    from models.embedded import ensure_converted
    from settings import Settings

    model = ensure_converted(Settings().resolved_model_cache_dir)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        root = Path(tmp)
        recipe = _recipe(root / "bench.yaml")
        pairs, held_out = _pairs(root / "pairs.jsonl", 64, 0), _pairs(root / "held-out.jsonl", 4, 1)
        db = f"sqlite:///{root / 'arena.db'}"
        reward_dir = root / "ours-reward-0"
        for i in range(repeats):
            rate, peak = _ours_reward(recipe, model, pairs, held_out, root / f"ours-reward-{i}")
            runs.append(Run("reward model", "ours", rate, peak, os.getloadavg()[0]))
            rate, peak = _bare("reward", RM, model, pairs, root / f"bare-reward-{i}")
            runs.append(Run("reward model", "bare", rate, peak, os.getloadavg()[0]))
        for i in range(repeats):
            rate, peak = _ours_dpo(recipe, model, pairs, held_out, reward_dir, root / f"ours-dpo-{i}", db)
            runs.append(Run("DPO", "ours", rate, peak, os.getloadavg()[0]))
            rate, peak = _bare("dpo", DPO, model, pairs, root / f"bare-dpo-{i}")
            runs.append(Run("DPO", "bare", rate, peak, os.getloadavg()[0]))
    return runs


def render(runs: list[Run], repeats: int, seconds: float) -> str:
    lines = [
        SECTION,
        "",
        "Command: `python -m benchmarks.bench_training`. " + __doc__.split("\n\n")[2].replace("\n", " "),
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on 2 CPU cores, {repeats} alternating repeat(s) per side "
        f"(medians shown), {seconds:.0f} s in total; reward model {RM['steps']} steps x batch {RM['batch']}, "
        f"DPO {DPO['steps']} steps x batch {DPO['batch']}, 64 pairs. 1-minute load average after each run: "
        + ", ".join(f"{r.task} {r.who} {r.load:.1f}" for r in runs)
        + ".",
        "",
        "| Task | Bare TRL (samples/s) | Ours (samples/s) | Ratio | Target | Met | Peak memory bare / ours (MB) |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for task in ("reward model", "DPO"):
        ours = [r for r in runs if r.task == task and r.who == "ours"]
        bare = [r for r in runs if r.task == task and r.who == "bare"]
        ours_rate = statistics.median(r.samples_per_s for r in ours)
        bare_rate = statistics.median(r.samples_per_s for r in bare)
        ratio = ours_rate / bare_rate
        peaks = f"{max(r.peak_mb for r in bare):,.0f} / {max(r.peak_mb for r in ours):,.0f}"
        lines.append(
            f"| {task} | {bare_rate:.2f} | {ours_rate:.2f} | {ratio:.2f} | >= 0.9 | {'yes' if ratio >= 0.9 else 'no'} "
            f"| {peaks} |"
        )
    lines += [
        "",
        "Our peak memory includes what the bare script does not do: evaluation with the reward model, and for DPO "
        "the reward model loaded for the policy gate plus the merge into full weights.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    start = time.perf_counter()
    runs = measure(args.repeats)
    text = render(runs, args.repeats, time.perf_counter() - start)
    print(text)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
