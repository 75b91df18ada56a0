"""TruthfulQA multiple choice (MC1, MC2) through EleutherAI's lm-evaluation-harness, offline, per question.

lm-eval's own `truthfulqa_mc1`/`truthfulqa_mc2` download from the hub, which these machines cannot reach, so
`evals/tasks/` holds local equivalents: the same prompt (lm-eval's six-question QA primer, then "Q: ...\\nA:"), the same
choices (each scored as " " + answer) and the same scoring (MC1: is the true answer the most likely one; MC2: lm-eval's
`process_results_mc2`, the probability mass on the true answers). The data is the shipped
`evals/data/truthfulqa/mc_task.json`, the file the hub dataset was built from.

Results come back per question (keyed by the question's index in that file), because the project stores each item
and resumes a run: `indices` runs only the questions a caller still lacks. Nothing is sampled: each score is a sum of
log-probabilities of fixed texts, so a rerun gives the same figures (to float rounding, which can differ in the last
digits when a question shares a padded batch with other questions).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

EVALS_DIR = Path(__file__).resolve().parent
DATA_FILE = EVALS_DIR / "data" / "truthfulqa" / "mc_task.json"
TASKS_DIR = EVALS_DIR / "tasks"
MC1_TASK = "truthfulqa_mc1_local"
MC2_TASK = "truthfulqa_mc2_local"
N_QUESTIONS = 817
LM_EVAL_PACKAGE = "lm-eval"


class TruthfulQADataError(ValueError):
    """The TruthfulQA data file is missing or not in mc_task.json's layout."""


@dataclass(frozen=True)
class MCQuestion:
    """One question with its MC1 and MC2 answers, in the file's order (the true MC1 answer first)."""

    question: str
    mc1_choices: tuple[str, ...]
    mc1_labels: tuple[int, ...]
    mc2_choices: tuple[str, ...]
    mc2_labels: tuple[int, ...]


@dataclass(frozen=True)
class QuestionResult:
    """One question's scores, with the log-likelihood of each choice (in `MCQuestion` order) for auditing."""

    mc1: int  # 1 when the true answer has the highest log-likelihood among the MC1 choices
    mc2: float  # probability mass on the true MC2 answers, normalised over all MC2 choices
    mc1_loglikelihoods: tuple[float, ...]
    mc2_loglikelihoods: tuple[float, ...]


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class MCIntervals:
    mc1: Estimate
    mc2: Estimate
    n: int
    confidence: float
    method: str


@dataclass(frozen=True)
class TruthfulQAResult:
    """Per-question results (question index -> scores) and their means over the questions run."""

    per_question: Mapping[int, QuestionResult]
    mc1: float  # mean; nan when no question was run
    mc2: float
    n: int
    lm_eval_version: str
    tasks: Mapping[str, Any] = field(default_factory=dict)  # task name -> lm-eval task version

    def intervals(self, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> MCIntervals:
        results = list(self.per_question.values())
        return mc_intervals(
            [r.mc1 for r in results], [r.mc2 for r in results], confidence=confidence, resamples=resamples, seed=seed
        )


# ---------------------------------------------------------------------------------------------------------------
# Data


def load_questions(path: Path = DATA_FILE) -> tuple[MCQuestion, ...]:
    """Read and check mc_task.json: a wrong file should fail here with its name, not inside lm-eval."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TruthfulQADataError(
            f"TruthfulQA data file not found: {path} (the app ships it as evals/data/truthfulqa/mc_task.json)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TruthfulQADataError(f"TruthfulQA data file {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise TruthfulQADataError(f"TruthfulQA data file {path} must hold a non-empty JSON array of questions")
    return tuple(_question(path, index, entry) for index, entry in enumerate(raw))


def _question(path: Path, index: int, entry: Any) -> MCQuestion:
    where = f"{path}, question {index}"
    if not isinstance(entry, dict):
        raise TruthfulQADataError(f"{where}: expected an object, got {type(entry).__name__}")
    question = entry.get("question")
    if not isinstance(question, str) or not question.strip():
        raise TruthfulQADataError(f"{where}: 'question' must be a non-empty string")
    mc1_choices, mc1_labels = _targets(where, entry, "mc1_targets")
    mc2_choices, mc2_labels = _targets(where, entry, "mc2_targets")
    if sum(mc1_labels) != 1:
        raise TruthfulQADataError(f"{where}: mc1_targets must have exactly one true answer, has {sum(mc1_labels)}")
    if mc1_labels[0] != 1:
        raise TruthfulQADataError(f"{where}: mc1_targets must list the true answer first (lm-eval's target is 0)")
    if not 0 < sum(mc2_labels) < len(mc2_labels):
        raise TruthfulQADataError(f"{where}: mc2_targets must have at least one true and one false answer")
    return MCQuestion(question, mc1_choices, mc1_labels, mc2_choices, mc2_labels)


def _targets(where: str, entry: dict[str, Any], key: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    targets = entry.get(key)
    if not isinstance(targets, dict) or len(targets) < 2:
        raise TruthfulQADataError(f"{where}: '{key}' must map at least two answers to 1 (true) or 0 (false)")
    for answer, label in targets.items():
        if not answer.strip() or type(label) is not int or label not in (0, 1):
            raise TruthfulQADataError(f"{where}: '{key}' has a bad entry {answer!r}: {label!r} (expected 0 or 1)")
    return tuple(targets), tuple(targets.values())


def select_questions(n_questions: int, *, indices: Iterable[int] | None = None, limit: int | None = None) -> list[int]:
    """The question indices to run, ascending: `indices` (all when None), then the first `limit` of them."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be at least 0, got {limit}")
    if indices is None:
        chosen = list(range(n_questions))
    else:
        chosen = sorted(set(indices))
        outside = [i for i in chosen if not 0 <= i < n_questions]
        if outside:
            raise ValueError(f"question indices out of range 0..{n_questions - 1}: {outside[:10]}")
    return chosen if limit is None else chosen[:limit]


def _write_hub_layout(questions: Sequence[MCQuestion], chosen: Sequence[int], path: Path) -> None:
    """JSON lines in the hub dataset's layout ({choices, labels}), which lm-eval's task templates expect; the
    question's index travels with it so results map back whatever order lm-eval returns them in."""
    with path.open("w", encoding="utf-8") as out:
        for index in chosen:
            q = questions[index]
            row = {
                "index": index,
                "question": q.question,
                "mc1_targets": {"choices": list(q.mc1_choices), "labels": list(q.mc1_labels)},
                "mc2_targets": {"choices": list(q.mc2_choices), "labels": list(q.mc2_labels)},
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# Running


def truthfulqa_mc(
    weights: str,
    *,
    limit: int | None = None,
    indices: Sequence[int] | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    cache_dir: Path | None = None,
    data_file: Path = DATA_FILE,
) -> TruthfulQAResult:
    """TruthfulQA MC1/MC2 for a registry model's `weights` ("embedded:smollm2-135m-instruct", a model folder, or a
    hub id), loaded the way the arena loads it. The data is checked before the model is loaded."""
    questions = load_questions(data_file)
    chosen = select_questions(len(questions), indices=indices, limit=limit)
    if not chosen:
        return _empty_result()
    from models.backends.local import LocalEngine

    engine = LocalEngine.load(weights, device=device, cache_dir=cache_dir)
    return truthfulqa_mc_model(
        engine.model, engine.tokenizer, indices=chosen, batch_size=batch_size, questions=questions
    )


def truthfulqa_mc_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    limit: int | None = None,
    indices: Sequence[int] | None = None,
    batch_size: int = 8,
    data_file: Path = DATA_FILE,
    questions: Sequence[MCQuestion] | None = None,
) -> TruthfulQAResult:
    """The same for a model already loaded (on its device): lm-eval's HFLM wraps it without loading anything."""
    if questions is None:
        questions = load_questions(data_file)
    chosen = select_questions(len(questions), indices=indices, limit=limit)
    if not chosen:
        return _empty_result()
    from lm_eval.evaluator import evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    with _weights_kept(model):
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="truthfulqa-") as tmp:
        data = Path(tmp) / "truthfulqa_mc.jsonl"
        _write_hub_layout(questions, chosen, data)
        # Only our folder is indexed (lm-eval's own thousands of task files are not scanned); the Arrow cache of
        # the rewritten file lives and dies with the temporary folder instead of piling up in ~/.cache.
        manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
        loaded = manager.load([_task_config(name, data, Path(tmp) / "datasets") for name in (MC1_TASK, MC2_TASK)])
        # evaluate(), not simple_evaluate(): the latter reseeds the process's global RNGs (the arena's sampling
        # shares them) and shells out for git and environment details we do not store.
        output = evaluate(lm=lm, task_dict=loaded, log_samples=True, bootstrap_iters=0)
    if output is None:  # only a non-zero rank of a distributed run gets None; we never start one
        raise RuntimeError("lm-eval returned no results")
    per_question = _per_question(output["samples"], questions, set(chosen))
    return TruthfulQAResult(
        per_question=per_question,
        mc1=_mean([r.mc1 for r in per_question.values()]),
        mc2=_mean([r.mc2 for r in per_question.values()]),
        n=len(per_question),
        lm_eval_version=version(LM_EVAL_PACKAGE),
        tasks=dict(output.get("versions", {})),
    )


@contextmanager
def _weights_kept(model: Any) -> Iterator[None]:
    """HFLM ties the output head to the embeddings again when it wraps a model. A loaded model is tied already, and
    an int8-dynamic one's head is a quantized module whose weight cannot be reassigned (KeyError): the model is
    scored as the arena serves it, so the re-tie is skipped while HFLM wraps it."""
    model.tie_weights = lambda *args, **kwargs: None
    try:
        yield
    finally:
        del model.tie_weights


def _task_config(name: str, data: Path, datasets_cache: Path) -> dict[str, Any]:
    """The task's YAML from evals/tasks/ as lm-eval reads it, pointed at this run's data file."""
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(TASKS_DIR / f"{name}.yaml", resolve_func=True)
    config["dataset_kwargs"] = {"data_files": {"validation": str(data)}, "cache_dir": str(datasets_cache)}
    return config


def _per_question(
    samples: Mapping[str, list[dict[str, Any]]], questions: Sequence[MCQuestion], chosen: set[int]
) -> dict[int, QuestionResult]:
    mc1 = {int(s["doc"]["index"]): s for s in samples[MC1_TASK]}
    mc2 = {int(s["doc"]["index"]): s for s in samples[MC2_TASK]}
    if set(mc1) != chosen or set(mc2) != chosen:
        raise RuntimeError(f"lm-eval returned results for other questions than asked ({len(chosen)} asked)")
    results = {}
    for index in sorted(chosen):
        mc1_ll = _loglikelihoods(mc1[index], len(questions[index].mc1_choices))
        mc2_ll = _loglikelihoods(mc2[index], len(questions[index].mc2_choices))
        results[index] = QuestionResult(int(mc1[index]["acc"]), float(mc2[index]["acc"]), mc1_ll, mc2_ll)
    return results


def _loglikelihoods(sample: Mapping[str, Any], expected: int) -> tuple[float, ...]:
    # A multiple-choice sample's filtered_resps: one (log-likelihood, is_greedy) per choice, in choice order.
    values = tuple(float(loglik) for loglik, _greedy in sample["filtered_resps"])
    if len(values) != expected:
        raise RuntimeError(f"lm-eval scored {len(values)} choices, the question has {expected}")
    return values


def _empty_result() -> TruthfulQAResult:
    return TruthfulQAResult({}, math.nan, math.nan, 0, version(LM_EVAL_PACKAGE))


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


# ---------------------------------------------------------------------------------------------------------------
# Intervals


def mc_intervals(
    mc1: Sequence[float],
    mc2: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> MCIntervals:
    """Means of MC1 and MC2 with percentile-bootstrap intervals over questions (both from the same resamples).

    Bootstrap rather than a normal approximation because MC2 scores pile up near 0 and 1 and a run may be a small
    resumed subset; at 817 questions the two agree to about 0.001. Seeded: the same scores give the same interval.
    """
    import numpy as np

    if len(mc1) != len(mc2):
        raise ValueError(f"MC1 and MC2 need one score per question each, got {len(mc1)} and {len(mc2)}")
    if not mc1:
        raise ValueError("no questions to summarise")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    scores = np.array([mc1, mc2], dtype=np.float64)  # (2, n)
    n = scores.shape[1]
    rng = np.random.default_rng(seed)
    means = np.empty((2, resamples))
    for start in range(0, resamples, 1000):  # 1000 resamples at a time keeps memory flat at any n
        picks = rng.integers(0, n, size=(min(1000, resamples - start), n))
        means[:, start : start + len(picks)] = scores[:, picks].mean(axis=2)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=1)
    point = scores.mean(axis=1)
    estimates = [Estimate(float(point[k]), float(low[k]), float(high[k])) for k in range(2)]
    return MCIntervals(estimates[0], estimates[1], n, confidence, f"percentile bootstrap over questions ({resamples})")
