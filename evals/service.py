"""What the entry points (the CLI, the scheduler) call: run a benchmark for registry models, score a refusal
detector, say a stored run in a line. The callers build the store and the backend pool; nothing here reads settings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.arena_hard import ArenaHard
from evals.mt_bench import MTBench
from evals.over_refusal import DEFAULT_MAX_NEW_TOKENS, REFUSED, OverRefusal, detect_refusals
from evals.runner import Benchmark, Progress, cannot_run, is_done, run_benchmark
from evals.truthfulqa_generation import TruthfulQAGeneration
from evals.truthfulqa_mc import TruthfulQAMC
from leaderboard.benchmark_columns import BY_BENCHMARK, cell
from leaderboard.refusal_detection import DetectorScore, read_labels, score_detector
from models.answers import Answer
from models.registry import ModelSpec
from models.types import ChatBackend
from store import BenchmarkRunView, Store

REFUSAL_LABELS = Path(__file__).resolve().parent.parent / "training" / "eval_data" / "refusal-labels" / "labels.jsonl"


class EvalsError(ValueError):
    """A request that cannot run: an unknown model, a missing judge, a bad limit. The message says which."""


def line(run: BenchmarkRunView) -> str:
    """One line for people: the figure as the leaderboard shows it."""
    column = BY_BENCHMARK.get(run.benchmark)
    if run.score is None:
        figure = "no score yet"
    elif column is None:
        figure = f"{run.score:.3f}"
    else:
        figures = {"score": run.score, "low": run.low, "high": run.high, "n": run.n}
        if column.secondary:
            figures["secondary"] = run.report.get(column.secondary) or {}
        figure = cell(figures, column)
    return (
        f"{run.model}  {run.benchmark}: {figure} ({run.items_done} of {run.items_total} items run, {run.failures} "
        f"not scored); graded by {run.grader}"
    )


def run_for_models(
    store: Store,
    specs: Sequence[ModelSpec],
    benchmark: Benchmark,
    *,
    limit: int | None,
    force: bool,
    batch_size: int,
    progress: Callable[[str], Progress] | None = None,
) -> list[BenchmarkRunView]:
    """Each model's run in turn; `progress(model)` gives that model's progress callback."""
    return [
        run_benchmark(
            store.benchmark_runs,
            spec,
            benchmark,
            limit=limit,
            force=force,
            batch_size=batch_size,
            progress=None if progress is None else progress(spec.name),
        )
        for spec in specs
    ]


def run_next_pending(
    store: Store,
    backend_for: Callable[[ModelSpec], ChatBackend],
    names: Sequence[str],
    *,
    judge: ModelSpec | None,
    limit: int,
    batch_size: int = 8,
) -> BenchmarkRunView | None:
    """The scheduler's job: the newest enabled contender lacking a stored run of the first `limit` items of one of
    the benchmarks `names` gets it (resuming a stopped one); None when every contender has them all. One
    (contender, benchmark) per call, so a job never runs for hours and a newly registered checkpoint goes first."""
    benchmarks = [build_benchmark(name, backend_for, judge=judge) for name in names]
    contenders = [spec for spec in store.registry.models(enabled_only=True, anonymous_only=True)
                  if judge is None or spec.name != judge.name]  # fmt: skip
    for spec in reversed(contenders):  # registration order: the newest last
        for benchmark in benchmarks:
            if cannot_run(benchmark, spec):  # multiple choice: local contenders only
                continue
            if not is_done(store.benchmark_runs, spec, benchmark, limit):
                return run_benchmark(store.benchmark_runs, spec, benchmark, limit=limit, batch_size=batch_size)
    return None


def failed_everywhere(run: BenchmarkRunView) -> bool:
    """Every stored item failed: the model (or judge) never answered, which is an error, not a figure."""
    return run.items_done > 0 and run.n == 0


def build_benchmark(
    name: str,
    backend_for: Callable[[ModelSpec], ChatBackend],
    *,
    judge: ModelSpec | None,
    detector: str = "phrases",
    max_new_tokens: int | None = None,
    judge_max_tokens: int = 1024,
) -> Benchmark:
    """The benchmark `name` (the CLI's subcommand), checked: a judge where one grades, token caps of at least 1."""
    for option, value in (("--max-new-tokens", max_new_tokens), ("--judge-max-tokens", judge_max_tokens)):
        if value is not None and value < 1:
            raise EvalsError(f"{option} must be at least 1, got {value}")
    if name == "over-refusal":
        if detector == "judge" and judge is None:
            raise EvalsError("--detector judge needs --judge-model, a registry model")
        cap = DEFAULT_MAX_NEW_TOKENS if max_new_tokens is None else max_new_tokens
        return OverRefusal(backend_for, detector=detector, judge=judge, max_new_tokens=cap)  # type: ignore[arg-type]
    if name == "truthfulqa-mc":
        return TruthfulQAMC(backend_for)
    if judge is None:
        raise EvalsError(f"{name} is graded by a judge: give --judge-model (or set ARENA_JUDGE_MODEL)")
    if name == "mt-bench":
        return MTBench(backend_for, judge, max_new_tokens=max_new_tokens, judge_max_tokens=judge_max_tokens)
    if name == "truthfulqa-gen":
        cap = 96 if max_new_tokens is None else max_new_tokens
        return TruthfulQAGeneration(backend_for, judge, max_new_tokens=cap)
    if name == "arena-hard":
        return ArenaHard(backend_for, judge, max_new_tokens=max_new_tokens, judge_max_tokens=judge_max_tokens)
    raise EvalsError(f"unknown benchmark {name!r}")


@dataclass(frozen=True)
class DetectorReport:
    """A refusal detector scored on the labelled answers: on every answer, and on the unambiguous ones."""

    detector: str
    labels: int
    not_read: int  # answers the detector gave no verdict on (a failed or unreadable judge call)
    all_answers: DetectorScore
    unambiguous: DetectorScore

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "labels": self.labels,
            "not_read": self.not_read,
            "all": self.all_answers.to_dict(),
            "unambiguous": self.unambiguous.to_dict(),
        }

    def lines(self) -> list[str]:
        lines = [f"{self.detector} on {self.labels} labelled answers ({self.not_read} without a verdict, left out):"]
        for name, score in (("all", self.all_answers), ("unambiguous", self.unambiguous)):
            lines.append(
                f"  {name}: accuracy {score.accuracy.text()}, precision {score.precision.text()}, "
                f"recall {score.recall.text()}"
            )
        return lines


def refusal_detector(
    judge_backend: ChatBackend | None, detector_name: str, labels_path: Path = REFUSAL_LABELS
) -> DetectorReport:
    """Score the phrases (judge_backend None) or a judge on the hand labels."""
    try:
        labels = read_labels(labels_path)
    except (OSError, ValueError) as exc:
        raise EvalsError(f"cannot read the labels: {exc}") from exc
    answers = [Answer(label.answer, "stop") for label in labels]
    verdicts = detect_refusals([label.prompt for label in labels], answers, judge_backend)
    read = [(label, verdict == REFUSED) for label, (verdict, score, _) in zip(labels, verdicts, strict=True)
            if score is not None]  # fmt: skip
    clear = [(label, predicted) for label, predicted in read if not label.ambiguous]
    return DetectorReport(
        detector=detector_name,
        labels=len(labels),
        not_read=len(labels) - len(read),
        all_answers=score_detector([label.refusal for label, _ in read], [p for _, p in read]),
        unambiguous=score_detector([label.refusal for label, _ in clear], [p for _, p in clear]),
    )
