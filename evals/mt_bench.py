"""MT-Bench: 80 two-turn questions in 8 categories, each turn graded 1-10 by the configured judge with MT-Bench's own
prompts (FastChat's judge_prompts.jsonl, shipped in evals/data/mt-bench), reference-guided for math, reasoning and
coding (GPT-4's reference answers, as FastChat does).

    python -m evals mt-bench smollm2-135m-greedy --judge-model gpt-4o-judge --limit 10

The model answers the first question, then the follow-up with its own first answer in the conversation, with its
own system prompt and decoding (as people meet it in direct chat) and a fixed seed. The judge (temperature 0) grades
turn 1 on the single-answer prompt and turn 2 on the multi-turn prompt, which shows the whole conversation and asks
about the second answer. The score is FastChat's: the mean of every graded turn; beside it the mean per turn and per
category. Its 95% interval is a bootstrap over questions (a question's two turns resampled together, 1,000 rounds,
seeded). A verdict without one readable rating in 1-10 is a parse failure: recorded with the judge's text, never
guessed (FastChat stores -1 there); a failed answer or judge call is an error; neither enters the mean.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evals.runner import EvalItem
from models.answers import Answer, answer_all, request_for
from models.registry import ModelSpec
from models.types import ChatBackend, ChatMessage, GenerationParams, GenerationRequest
from store import BenchmarkItemView, BenchmarkSummary, NewBenchmarkItem

NAME = "mt-bench"
DATA = Path(__file__).resolve().parent / "data" / "mt-bench"
QUESTIONS = DATA / "question.jsonl"
REFERENCES = DATA / "reference_answer" / "gpt-4.jsonl"
JUDGE_PROMPTS = DATA / "judge_prompts.jsonl"
NEEDS_REFERENCE = frozenset({"math", "reasoning", "coding"})  # FastChat's NEED_REF_CATS
ORDER_SEED = 17
BOOTSTRAP_ROUNDS = 1000
GRADED, PARTIAL, PARSE_FAILURE, ERROR = "graded", "partial", "parse_failure", "error"
# FastChat reads "[[x]]", else "[x]"; a rating is a number from 1 to 10.
_DOUBLE = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_SINGLE = re.compile(r"\[\s*(\d+(?:\.\d+)?)\s*\]")


def parse_rating(text: str) -> float | None:
    """The one rating the judge gave: "[[x]]", or "[x]" when it wrote no double-bracketed one (FastChat's fallback).
    Several different ratings, a number outside 1-10, or none: None, a parse failure."""
    found = {float(v) for v in _DOUBLE.findall(text)} or {float(v) for v in _SINGLE.findall(text)}
    if len(found) != 1:
        return None
    (rating,) = found
    return rating if 1.0 <= rating <= 10.0 else None


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    system: str
    template: str


def judge_prompts(path: Path = JUDGE_PROMPTS) -> dict[str, JudgePrompt]:
    prompts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            prompts[record["name"]] = JudgePrompt(record["name"], record["system_prompt"], record["prompt_template"])
    return prompts


def questions(path: Path = QUESTIONS, references: Path = REFERENCES) -> list[EvalItem]:
    """The 80 questions in one seeded order (so --limit N samples every category), each with its two turns and, for
    the categories graded against one, GPT-4's reference answers."""
    answers = {}
    for line in references.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            answers[record["question_id"]] = record["choices"][0]["turns"]
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        payload = {"category": record["category"], "turns": record["turns"]}
        if record["category"] in NEEDS_REFERENCE:
            if record["question_id"] not in answers:
                raise ValueError(f"MT-Bench question {record['question_id']} needs a reference answer and has none")
            payload["reference"] = answers[record["question_id"]]
        items.append(EvalItem(f"mt-bench:{record['question_id']}", payload))
    random.Random(ORDER_SEED).shuffle(items)
    return items


def judge_request(prompts: Mapping[str, JudgePrompt], item: EvalItem, answers: Sequence[str], turn: int,
                  params: GenerationParams) -> GenerationRequest:  # fmt: skip
    """FastChat's single-answer grading request for `turn` (1 or 2) of `item`, with the model's answers so far."""
    guided = "reference" in item.payload
    name = ("single-math-v1" if guided else "single-v1") + ("-multi-turn" if turn == 2 else "")
    prompt = prompts[name]
    questions_, reference = item.payload["turns"], item.payload.get("reference", ["", ""])
    if turn == 1:
        values = {"question": questions_[0], "answer": answers[0], "ref_answer_1": reference[0]}
    else:
        values = {
            "question_1": questions_[0], "answer_1": answers[0], "question_2": questions_[1], "answer_2": answers[1],
            "ref_answer_1": reference[0], "ref_answer_2": reference[1],
        }  # fmt: skip
    # str.format would read braces inside answers (code) as fields: substitute the named slots only.
    user = re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), prompt.template)
    return GenerationRequest((ChatMessage("system", prompt.system), ChatMessage("user", user)), params)


@dataclass(frozen=True)
class MTBench:
    """The benchmark (evals.runner.Benchmark): `judge` grades; `backend_for` gives a spec its backend."""

    backend_for: Callable[[ModelSpec], ChatBackend]
    judge: ModelSpec
    max_new_tokens: int | None = None  # None: the model's own cap
    judge_max_tokens: int = 1024
    seed: int = 0
    concurrency: int = 4
    name: str = NAME
    version: str = "mt-bench-fastchat-0e6d3e4:single-v1"

    @property
    def grader(self) -> str:
        return f"judge:{self.judge.name}:fastchat-single-v1"

    @property
    def settings(self) -> Mapping[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "seed": self.seed, "judge_max_tokens": self.judge_max_tokens}

    def items(self) -> Sequence[EvalItem]:
        return questions()

    def run(self, model: ModelSpec, items: Sequence[EvalItem]) -> list[NewBenchmarkItem]:
        backend = self.backend_for(model)
        first = answer_all(backend, [self._ask(model, item, []) for item in items], concurrency=self.concurrency)
        ok = [i for i, answer in enumerate(first) if answer.finish_reason != "error"]
        second_requests = [self._ask(model, items[i], [first[i].text]) for i in ok]
        second_answers = answer_all(backend, second_requests, concurrency=self.concurrency)
        second: list[Answer | None] = [None] * len(items)
        for i, answer in zip(ok, second_answers, strict=True):
            second[i] = answer
        prompts = judge_prompts()
        params = GenerationParams(max_new_tokens=self.judge_max_tokens, temperature=0.0)
        asks: list[tuple[int, int]] = []  # (item, turn)
        requests = []
        for i, item in enumerate(items):
            turns = [first[i], second[i]]
            for turn, answer in enumerate(turns, start=1):
                if answer is not None and answer.finish_reason != "error":
                    answers = [first[i].text, second[i].text if second[i] is not None else ""]  # type: ignore[union-attr]
                    asks.append((i, turn))
                    requests.append(judge_request(prompts, item, answers, turn, params))
        verdicts = answer_all(self.backend_for(self.judge), requests, concurrency=self.concurrency)
        graded: dict[tuple[int, int], Answer] = dict(zip(asks, verdicts, strict=True))
        return [self._result(i, item, first[i], second[i], graded) for i, item in enumerate(items)]

    def _ask(self, model: ModelSpec, item: EvalItem, earlier: Sequence[str]) -> GenerationRequest:
        conversation = [{"role": "user", "content": item.payload["turns"][0]}]
        if earlier:
            conversation += [
                {"role": "assistant", "content": earlier[0]},
                {"role": "user", "content": item.payload["turns"][1]},
            ]
        return request_for(model, conversation, max_new_tokens=self.max_new_tokens, seed=self.seed)

    def _result(self, index: int, item: EvalItem, first: Answer, second: Answer | None,
                graded: Mapping[tuple[int, int], Answer]) -> NewBenchmarkItem:  # fmt: skip
        turns: list[dict[str, Any]] = []
        for turn, answer in enumerate((first, second), start=1):
            record: dict[str, Any] = {"turn": turn}
            if answer is None or answer.finish_reason == "error":
                record.update(status=ERROR, error=answer.error if answer is not None else "turn 1 failed")
            else:
                record.update(answer=answer.text, finish_reason=answer.finish_reason)
                verdict = graded[(index, turn)]
                if verdict.finish_reason == "error":
                    record.update(status=ERROR, error=f"the judge failed: {verdict.error}")
                else:
                    rating = parse_rating(verdict.text)
                    record.update(judge_output=verdict.text[:4000], rating=rating)
                    record["status"] = GRADED if rating is not None else PARSE_FAILURE
            turns.append(record)
        ratings = [t["rating"] for t in turns if t.get("rating") is not None]
        statuses = [t["status"] for t in turns]
        if len(ratings) == 2:
            verdict = GRADED
        elif ratings:
            verdict = PARTIAL
        else:
            verdict = PARSE_FAILURE if PARSE_FAILURE in statuses else ERROR
        score = sum(ratings) / len(ratings) if ratings else None
        output = first.text if first.finish_reason != "error" else ""
        detail = {"category": item.payload["category"], "turns": turns}
        return NewBenchmarkItem(item.key, output, verdict, score, detail)

    def summarize(self, stored: Sequence[BenchmarkItemView]) -> BenchmarkSummary:
        return summarize(stored)


def summarize(stored: Sequence[BenchmarkItemView], rounds: int = BOOTSTRAP_ROUNDS) -> BenchmarkSummary:
    """The mean of every graded turn with a bootstrap interval over questions; per turn, per category; counts."""
    ratings = [[t.get("rating") for t in item.detail.get("turns", [])] for item in stored]
    rated = [(item, [r for r in turns if r is not None]) for item, turns in zip(stored, ratings, strict=True)]
    rated = [(item, values) for item, values in rated if values]
    statuses = Counter(t.get("status") for item in stored for t in item.detail.get("turns", []))
    per_turn = {}
    for turn in (1, 2):
        values = [t["rating"] for item in stored for t in item.detail.get("turns", [])
                  if t.get("turn") == turn and t.get("rating") is not None]  # fmt: skip
        per_turn[str(turn)] = {"mean": float(np.mean(values)) if values else None, "n": len(values)}
    per_category: dict[str, dict[str, Any]] = {}
    for item, values in rated:
        entry = per_category.setdefault(str(item.detail.get("category")), {"sum": 0.0, "n": 0})
        entry["sum"] += sum(values)
        entry["n"] += len(values)
    categories = {name: {"mean": e["sum"] / e["n"], "n": e["n"]} for name, e in sorted(per_category.items())}
    report: dict[str, Any] = {
        "turns": per_turn,
        "categories": categories,
        "verdicts": dict(sorted(Counter(item.verdict for item in stored).items())),
        "turn_statuses": dict(sorted((str(k), v) for k, v in statuses.items())),
        "interval": f"bootstrap over questions, {rounds} rounds",
    }
    if not rated:
        return BenchmarkSummary(0, len(stored), None, None, None, report)
    sums = np.array([sum(values) for _, values in rated])
    counts = np.array([len(values) for _, values in rated])
    score = float(sums.sum() / counts.sum())
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(rated), size=(rounds, len(rated)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = (float(v) for v in np.quantile(means, [0.025, 0.975]))
    return BenchmarkSummary(len(rated), len(stored) - len(rated), score, low, high, report)
