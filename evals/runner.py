"""The one benchmark loop: open (or resume) the stored run, run the items it lacks in batches, and store each batch
with the run's new figures in one transaction, so a run stopped at any point resumes where it stopped and what is
stored is never run again unless asked (--force).

A benchmark is data plus three functions (the `Benchmark` protocol): its items in a fixed order (so `--limit N`
takes the same N every time, a representative sample because the order is seeded), how to run a batch of them for
one model, and how to summarise the stored items into a score with an interval.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from models.registry import ModelSpec
from store import BenchmarkItemView, BenchmarkRunView, BenchmarkSummary, NewBenchmarkItem, NewBenchmarkRun
from store.benchmark_runs import BenchmarkRuns

Progress = Callable[[int, int], None]  # (items done in this run, items this call set out to run)


@dataclass(frozen=True)
class EvalItem:
    key: str  # stable across versions of the code: what a resumed run matches on
    payload: Mapping[str, Any] = field(default_factory=dict)


class Benchmark(Protocol):
    name: str
    version: str  # data and prompts: a change starts a new run

    @property
    def grader(self) -> str:
        """Who scores: a detector and its version, a judge and its prompt version, a harness."""
        ...

    @property
    def settings(self) -> Mapping[str, Any]:
        """What else shapes the outputs (token cap, seed): stored with the run."""
        ...

    def items(self) -> Sequence[EvalItem]: ...

    def run(self, model: ModelSpec, items: Sequence[EvalItem]) -> list[NewBenchmarkItem]:
        """One result per item, in order; a failure is a result with no score, never an exception."""
        ...

    def summarize(self, stored: Sequence[BenchmarkItemView]) -> BenchmarkSummary: ...


ANSWER_FIELDS = ("backend", "weights", "quantization", "generation", "system_prompt", "options")


def model_fingerprint(spec: ModelSpec, fields: Sequence[str] = ANSWER_FIELDS) -> str:
    """Of what makes the model's answers: weights, backend, quantization, decoding, system prompt, endpoint. Not its
    name's description, provenance or whether it is enabled. A benchmark that reads less (multiple choice reads the
    weights only) names its `model_fields`, so a change of decoding does not start a new run of it."""
    answers = spec.model_dump(include=set(fields))
    return hashlib.sha256(json.dumps(answers, sort_keys=True, default=str).encode()).hexdigest()


def identity(model: ModelSpec, benchmark: Benchmark, items_total: int) -> NewBenchmarkRun:
    """What a stored run is matched on: the model's name and fingerprint, the benchmark, its version, grader and
    settings."""
    return NewBenchmarkRun(
        model=model.name,
        model_fingerprint=model_fingerprint(model, getattr(benchmark, "model_fields", ANSWER_FIELDS)),
        benchmark=benchmark.name,
        version=benchmark.version,
        grader=benchmark.grader,
        settings=dict(benchmark.settings),
        items_total=items_total,
    )


def cannot_run(benchmark: Benchmark, model: ModelSpec) -> str | None:
    """Why `model` cannot take `benchmark` at all (multiple choice needs a local model's log-probabilities), or None.
    A benchmark that runs any model does not define `cannot_run`."""
    check = getattr(benchmark, "cannot_run", None)
    return None if check is None else check(model)


def is_done(runs: BenchmarkRuns, model: ModelSpec, benchmark: Benchmark, limit: int | None) -> bool:
    """Whether `model` has a stored run of `benchmark` holding its first `limit` items (all by default)."""
    total = len(benchmark.items())
    stored = runs.find(identity(model, benchmark, total))
    return stored is not None and stored.items_done >= min(limit or total, total)


def run_benchmark(
    runs: BenchmarkRuns,
    model: ModelSpec,
    benchmark: Benchmark,
    *,
    limit: int | None = None,
    force: bool = False,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> BenchmarkRunView:
    """Run `benchmark` for `model` on its first `limit` items (all by default), skipping the stored ones."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    if reason := cannot_run(benchmark, model):
        raise ValueError(reason)
    items = list(benchmark.items())
    run = runs.open(identity(model, benchmark, len(items)), force=force)
    if not runs.is_summarized(run):  # a run stopped between storing items and their figures
        run = runs.summarize(run.id, benchmark.summarize)
    done = runs.done_keys(run.id)
    todo = [item for item in items[:limit] if item.key not in done]
    if progress is not None:
        progress(0, len(todo))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        results = benchmark.run(model, batch)
        if [r.item_key for r in results] != [i.key for i in batch]:
            raise RuntimeError(f"{benchmark.name}: a batch came back with other items than it was given")
        run = runs.record(run.id, results, benchmark.summarize)
        if progress is not None:
            progress(start + len(batch), len(todo))
    return run
