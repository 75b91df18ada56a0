"""Checkpoint versus base, judged: does the new contender answer better than the model it was trained from?

    compare_checkpoint(model, base, judge, prompts, ...) -> CheckpointComparison

Both models answer every prompt with their own decoding settings as the arena serves them (system prompt
included; a fixed seed, so a rerun asks the same); the judge compares the two answers in both orders
(facts.judge_prompts: a verdict that flips with the order is a tie, an unreadable one is a parse failure, left
out and counted); with a reward model, both answers are scored too. Reported: the win rate of the checkpoint
(ties half) with its 95% Wilson interval, the length-controlled win rate (leaderboard.judge_audit's AlpacaEval-2
style fit: what it would score at equal answer length), the mean reward gain with a bootstrap interval, per
prompt source (the arena's held-out prompts, Arena-Hard questions) and over all. The prompts come from
`held_out_prompts` (the split a --from-votes run held out) and `arena_hard_prompts` (shipped, Apache 2.0).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facts.judge_prompts import BattleTurn, Scale, combine, judge_messages, parse_verdict, prompt_version
from facts.style import style_features
from leaderboard.judge_audit import length_controlled
from models.generation import stream_pair
from models.registry import ModelSpec
from models.types import ChatBackend, ChatMessage, GenerationParams, GenerationRequest
from training.evidence import mean_interval

ARENA_HARD = Path(__file__).parent / "eval_data" / "arena-hard" / "question.jsonl"
HELD_OUT = "arena held-out"
ARENA_HARD_SOURCE = "arena-hard"

Message = dict[str, str]


@dataclass(frozen=True)
class PromptResult:
    source: str
    prompt: tuple[Message, ...]
    answer_model: str
    answer_base: str
    score: float | None  # for the checkpoint: 1 win, 0.5 tie, 0 loss; None: no verdict
    status: str  # consistent | inconsistent | parse_failure | error
    reward_gain: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "prompt": list(self.prompt),
            "answer_model": self.answer_model,
            "answer_base": self.answer_base,
            "score": self.score,
            "status": self.status,
            "reward_gain": self.reward_gain,
        }


@dataclass(frozen=True)
class CheckpointComparison:
    model: str
    base: str
    judge: str
    prompt_version: str
    results: tuple[PromptResult, ...]

    def summary(self) -> dict[str, Any]:
        """Per source and over all prompts: win rates raw and length-controlled, reward gain, counts."""
        groups = {"all": list(self.results)}
        for source in sorted({r.source for r in self.results}):
            groups[source] = [r for r in self.results if r.source == source]
        return {name: summarize(rows) for name, rows in groups.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "base": self.base,
            "judge": self.judge,
            "prompt_version": self.prompt_version,
            "summary": self.summary(),
            "results": [r.to_dict() for r in self.results],
        }


def summarize(rows: Sequence[PromptResult]) -> dict[str, Any]:
    judged = [r for r in rows if r.score is not None]
    statuses = {status: sum(r.status == status for r in rows) for status in sorted({r.status for r in rows})}
    summary: dict[str, Any] = {"prompts": len(rows), "judged": len(judged), "statuses": statuses}
    if judged:
        score = np.array([r.score for r in judged], dtype=float)
        difference = np.array(
            [style_features(r.answer_model).tokens - style_features(r.answer_base).tokens for r in judged], dtype=float
        )
        sd = float(np.std(difference)) or 1.0
        raw, lc, phi = length_controlled(score, difference, sd)
        summary["win_rate"] = {"estimate": raw.value, "low": raw.low, "high": raw.high, "n": raw.n}
        summary["length_controlled_win_rate"] = {"estimate": lc.value, "low": lc.low, "high": lc.high, "n": lc.n}
        summary["length_coefficient"] = phi
        summary["mean_length_difference_tokens"] = float(difference.mean())
    gains = [r.reward_gain for r in rows if r.reward_gain is not None]
    if gains:
        summary["reward_gain"] = mean_interval(np.array(gains)).to_dict()
    return summary


# --- prompts ----------------------------------------------------------------------------------------------------


def arena_hard_prompts(limit: int, seed: int, path: Path = ARENA_HARD) -> list[tuple[Message, ...]]:
    """A seeded sample of `limit` Arena-Hard questions (one cluster's two questions are equally likely)."""
    questions = [json.loads(line)["prompt"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = random.Random(seed).sample(questions, min(limit, len(questions)))
    return [({"role": "user", "content": text},) for text in chosen]


# --- the comparison ---------------------------------------------------------------------------------------------


def _request(spec: ModelSpec, prompt: Sequence[Message], max_new_tokens: int | None, seed: int) -> GenerationRequest:
    messages = [ChatMessage("system", spec.system_prompt)] if spec.system_prompt else []
    messages += [ChatMessage(m["role"], m["content"]) for m in prompt]  # type: ignore[arg-type]
    return GenerationRequest(tuple(messages), spec.generation.to_params(max_new_tokens=max_new_tokens, seed=seed))


def _run_pair(backend_a: ChatBackend, request_a: GenerationRequest, backend_b: ChatBackend, request_b: GenerationRequest
              ) -> tuple[list[str], list[str | None]]:  # fmt: skip
    texts, errors = ["", ""], [None, None]
    for side, chunk in stream_pair(backend_a, request_a, backend_b, request_b):
        texts[side] += chunk.text
        if chunk.finish_reason == "error":
            errors[side] = chunk.error or "failed"
    return texts, errors  # type: ignore[return-value]


def compare_checkpoint(
    model: ModelSpec,
    base: ModelSpec,
    judge: ModelSpec,
    prompts: Sequence[tuple[str, Sequence[Message]]],
    backend_for: Callable[[ModelSpec], ChatBackend],
    *,
    scale: Scale = "arena_hard",
    max_new_tokens: int | None = None,
    judge_max_tokens: int = 512,
    reward: Callable[[Sequence[Message], str], float] | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> CheckpointComparison:
    """`prompts`: (source, messages) pairs; `backend_for` gives each spec its loaded backend (models.pool)."""
    model_backend, base_backend, judge_backend = backend_for(model), backend_for(base), backend_for(judge)
    judge_params = GenerationParams(max_new_tokens=judge_max_tokens, temperature=0.0)
    results = []
    for index, (source, prompt) in enumerate(prompts):
        answers, errors = _run_pair(
            model_backend, _request(model, prompt, max_new_tokens, seed),
            base_backend, _request(base, prompt, max_new_tokens, seed),
        )  # fmt: skip
        score, status = None, "error"
        if not any(errors):
            question = "\n\n".join(m["content"] for m in prompt if m["role"] == "user")
            turn = BattleTurn(question, answers[0], answers[1])
            requests = []
            for swapped in (False, True):
                system, user = judge_messages(scale, [turn], swapped=swapped)
                messages = (ChatMessage("system", system["content"]), ChatMessage("user", user["content"]))
                requests.append(GenerationRequest(messages, judge_params))
            verdicts, judge_errors = _run_pair(judge_backend, requests[0], judge_backend, requests[1])
            if not any(judge_errors):
                outcome = combine(parse_verdict(verdicts[0], scale), parse_verdict(verdicts[1], scale))
                status = outcome.status
                if outcome.winner is not None:  # model_a is the checkpoint, model_b its base
                    score = {"model_a": 1.0, "tie": 0.5, "model_b": 0.0}[outcome.winner]
        gain = None
        if reward is not None and not any(errors):
            gain = reward(prompt, answers[0]) - reward(prompt, answers[1])
        results.append(PromptResult(source, tuple(prompt), answers[0], answers[1], score, status, gain))
        if progress is not None:
            progress(index + 1, len(prompts))
    return CheckpointComparison(model.name, base.name, judge.name, prompt_version(scale), tuple(results))


def render(comparison: CheckpointComparison) -> list[str]:
    """One line per prompt source, for people."""
    lines = [f"{comparison.model} vs its base {comparison.base}, judged by {comparison.judge} in both orders:"]
    for name, summary in comparison.summary().items():
        if "win_rate" not in summary:
            lines.append(f"  {name}: no verdict on {summary['prompts']} prompts ({summary['statuses']})")
            continue
        raw, lc = summary["win_rate"], summary["length_controlled_win_rate"]
        line = (
            f"  {name}: win rate {raw['estimate']:.1%} [{raw['low']:.1%}, {raw['high']:.1%}], length-controlled "
            f"{_percent(lc)} on {summary['judged']} of {summary['prompts']} prompts"
        )
        if "reward_gain" in summary:
            gain = summary["reward_gain"]
            line += f"; reward gain {gain['estimate']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}]"
        lines.append(line)
    return lines


def _percent(estimate: Mapping[str, Any]) -> str:
    if any(not isinstance(estimate.get(k), float) or math.isnan(estimate[k]) for k in ("estimate", "low", "high")):
        return "not measurable"
    return f"{estimate['estimate']:.1%} [{estimate['low']:.1%}, {estimate['high']:.1%}]"
