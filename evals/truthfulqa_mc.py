"""TruthfulQA multiple choice (MC2, with MC1 beside it) as a stored, resumable benchmark of local models.

    python -m evals truthfulqa-mc smollm2-135m-greedy smollm2-135m-int8 --limit 200

The scoring is evals.truthfulqa's (lm-eval on the shipped file); this module makes it a `Benchmark` for the runner:
the 817 questions in the same seeded order as the generation mode (so `--limit N` takes the same N questions in
both), one stored item per question (its MC1, MC2 and every choice's log-likelihood), and the figures: MC2's mean
with a bootstrap interval over questions as the score, MC1's beside it.

Multiple choice reads the weights only (log-likelihoods of fixed texts: no sampling, no system prompt, no chat
template), so a run is matched on the model's weights and quantization, not its decoding, and contenders sharing an
engine are computed once per process. Remote models expose no log-probabilities: they take `truthfulqa-gen`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from typing import Any

from evals.runner import EvalItem
from evals.truthfulqa import LM_EVAL_PACKAGE, Estimate, load_questions, mc_intervals, truthfulqa_mc_model
from models.registry import ModelSpec
from models.types import ChatBackend
from store import BenchmarkItemView, BenchmarkSummary, NewBenchmarkItem

NAME = "truthfulqa-mc"
VERSION = "truthfulqa-mc_task-2021:lm-eval-qa-primer-v1"
ORDER_SEED = 17  # the generation mode's order (evals.truthfulqa_generation): --limit N picks the same questions
SCORED = "scored"
MODEL_FIELDS = ("backend", "weights", "quantization")  # what a log-likelihood depends on


def question_order(n_questions: int) -> list[int]:
    order = list(range(n_questions))
    random.Random(ORDER_SEED).shuffle(order)
    return order


@dataclass
class TruthfulQAMC:
    """The benchmark (evals.runner.Benchmark) for local models; `backend_for` gives a spec its loaded engine."""

    backend_for: Callable[[ModelSpec], ChatBackend]
    lm_batch_size: int = 8
    name: str = NAME
    version: str = VERSION
    model_fields: tuple[str, ...] = MODEL_FIELDS
    # (engine key, question index) -> result: contenders sharing weights are scored once per process.
    _computed: dict[tuple[Any, int], NewBenchmarkItem] = field(default_factory=dict, repr=False)

    @property
    def grader(self) -> str:
        return f"lm-eval {package_version(LM_EVAL_PACKAGE)} log-likelihood"

    @property
    def settings(self) -> Mapping[str, Any]:
        return {"num_fewshot": 0, "primer": "lm-eval QA primer (6 questions)"}

    def cannot_run(self, model: ModelSpec) -> str | None:
        """Why `model` cannot take this benchmark (checked before a run is opened), or None."""
        if model.backend == "local":
            return None
        return (
            f"{model.name} is a remote model: multiple choice needs log-probabilities, which an OpenAI-protocol "
            "endpoint does not give; run `python -m evals truthfulqa-gen` for it"
        )

    def items(self) -> Sequence[EvalItem]:
        questions = load_questions()
        return [EvalItem(f"truthfulqa:{index}", {"index": index}) for index in question_order(len(questions))]

    def run(self, model: ModelSpec, items: Sequence[EvalItem]) -> list[NewBenchmarkItem]:
        if reason := self.cannot_run(model):
            raise ValueError(reason)
        key = model.engine_key
        wanted = {int(item.payload["index"]) for item in items}
        missing = sorted(index for index in wanted if (key, index) not in self._computed)
        if missing:
            engine = self.backend_for(model)
            result = truthfulqa_mc_model(
                engine.model,  # type: ignore[attr-defined]  # a local backend is a LocalEngine
                engine.tokenizer,  # type: ignore[attr-defined]
                indices=missing,
                batch_size=self.lm_batch_size,
            )
            for index, scores in result.per_question.items():
                self._computed[(key, index)] = NewBenchmarkItem(
                    f"truthfulqa:{index}",
                    "",
                    SCORED,
                    scores.mc2,
                    {
                        "mc1": scores.mc1,
                        "mc2": scores.mc2,
                        "mc1_loglikelihoods": list(scores.mc1_loglikelihoods),
                        "mc2_loglikelihoods": list(scores.mc2_loglikelihoods),
                    },
                )
        return [self._computed[(key, item.payload["index"])] for item in items]

    def summarize(self, stored: Sequence[BenchmarkItemView]) -> BenchmarkSummary:
        return summarize(stored)


def summarize(stored: Sequence[BenchmarkItemView]) -> BenchmarkSummary:
    """MC2's mean with a percentile-bootstrap interval over questions as the score; MC1's beside it (report["mc1"])."""
    scored = [item for item in stored if item.score is not None]
    if not scored:
        return BenchmarkSummary(0, len(stored), None, None, None, {"mc1": {"n": 0}, "mc2": {"n": 0}})
    intervals = mc_intervals([float(item.detail["mc1"]) for item in scored], [item.score for item in scored])
    report = {"mc1": _estimate(intervals.mc1, intervals.n), "mc2": _estimate(intervals.mc2, intervals.n),
              "interval": intervals.method}  # fmt: skip
    mc2 = intervals.mc2
    return BenchmarkSummary(len(scored), len(stored) - len(scored), mc2.mean, mc2.low, mc2.high, report)


def _estimate(estimate: Estimate, n: int) -> dict[str, Any]:
    return {"estimate": estimate.mean, "low": estimate.low, "high": estimate.high, "n": n}
