"""Did training help? Each checkpoint a training run registered, against the contender it was trained from (pure).

    training_outcomes(runs, bases, payload) -> tuple[TrainingOutcome, ...], newest run first
    outcomes_table(outcomes)                -> (columns, rows) for the page and the CLI

Per checkpoint: its arena rating and its base's from the newest leaderboard snapshot (people's votes, all
categories), the head-to-head record of the two (the snapshot's pairwise matrix: the new model's score, ties half,
with a 95% Wilson interval), the judge's win rate when `training.evaluate checkpoint` was run, what training
measured (the held-out reward gain for RLHF, the held-out loss fall for SFT) and the gate's verdict. The verdict is
the arena's: "helped" when the new model beats its base head to head with the interval above one half, or its
rating interval lies above its base's; "hurt" the other way round; otherwise "not known yet", with the number of
votes so far. Nothing is recomputed from votes: the snapshot is read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from facts.vocabulary import HUMAN
from leaderboard.judge_audit import wilson
from leaderboard.page import view_key

HUMAN_VIEW = view_key(HUMAN, None, False)
MISSING = "—"


@dataclass(frozen=True)
class Rating:
    rating: float
    lower: float
    upper: float
    votes: int

    def text(self) -> str:
        if math.isnan(self.lower) or math.isnan(self.upper):
            return f"{self.rating:.0f} ({self.votes} votes)"
        return f"{self.rating:.0f} [{self.lower:.0f}, {self.upper:.0f}] ({self.votes} votes)"


@dataclass(frozen=True)
class HeadToHead:
    votes: int
    score: float  # the new model's share, ties half
    low: float
    high: float

    def text(self) -> str:
        return f"{self.score:.0%} [{self.low:.0%}, {self.high:.0%}] over {self.votes} votes"


@dataclass(frozen=True)
class TrainingOutcome:
    model: str
    base: str | None
    kind: str
    method: str | None
    run_id: str
    finished_at: str
    gate_passed: bool
    forced_reason: str | None
    rating: Rating | None
    base_rating: Rating | None
    head_to_head: HeadToHead | None
    training_gain: str
    judged: str  # the judge's view (training.evaluate checkpoint), stored with the run
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "base": self.base,
            "kind": self.kind,
            "method": self.method,
            "run_id": self.run_id,
            "finished_at": self.finished_at,
            "gate_passed": self.gate_passed,
            "forced_reason": self.forced_reason,
            "rating": None if self.rating is None else vars(self.rating),
            "base_rating": None if self.base_rating is None else vars(self.base_rating),
            "head_to_head": None if self.head_to_head is None else vars(self.head_to_head),
            "training_gain": self.training_gain,
            "judged": self.judged,
            "verdict": self.verdict,
        }


def training_outcomes(
    runs: Sequence[Mapping[str, Any]], bases: Mapping[str, str | None], payload: Mapping[str, Any] | None
) -> tuple[TrainingOutcome, ...]:
    """`runs`: stored training runs (id, kind, method, gate_passed, registered_model, report, finished_at);
    `bases`: each registered model's base (the registry's `base`); `payload`: the newest leaderboard snapshot."""
    payload = payload or {}
    rows = {str(r["model"]): r for r in ((payload.get("views") or {}).get(HUMAN_VIEW) or {}).get("rows") or []}
    matrix = (payload.get("matrices") or {}).get("human") or {}
    outcomes = []
    for run in sorted(runs, key=lambda r: str(r.get("finished_at")), reverse=True):
        model = run.get("registered_model")
        if not model:
            continue
        base = bases.get(model)
        rating, base_rating = _rating(rows.get(model)), _rating(rows.get(base)) if base else None
        head = _head_to_head(matrix, model, base) if base else None
        report = run.get("report") or {}
        registration = report.get("registration") or {}
        outcomes.append(
            TrainingOutcome(
                model=model,
                base=base,
                kind=str(run.get("kind")),
                method=run.get("method"),
                run_id=str(run.get("id")),
                finished_at=str(run.get("finished_at")),
                gate_passed=bool(run.get("gate_passed")),
                forced_reason=registration.get("reason") if registration.get("forced") else None,
                rating=rating,
                base_rating=base_rating,
                head_to_head=head,
                training_gain=_training_gain(report),
                judged=_judged(report),
                verdict=_verdict(base, rating, base_rating, head),
            )
        )
    return tuple(outcomes)


def _rating(row: Mapping[str, Any] | None) -> Rating | None:
    if not row:
        return None
    nan = math.nan
    lower, upper = row.get("lower"), row.get("upper")
    return Rating(
        float(row["rating"]),
        nan if lower is None else float(lower),
        nan if upper is None else float(upper),
        int(row.get("votes") or 0),
    )


def _head_to_head(matrix: Mapping[str, Any], model: str, base: str) -> HeadToHead | None:
    models = list(matrix.get("models") or [])
    if model not in models or base not in models:
        return None
    i, j = models.index(model), models.index(base)
    votes = matrix["battle_count"][i][j]
    score = matrix["win_fraction"][i][j]
    if not votes or score is None:
        return None
    interval = wilson(float(score) * int(votes), int(votes))  # the judge audit's Wilson interval, ties half
    return HeadToHead(int(votes), float(score), interval.low, interval.high)


def _training_gain(report: Mapping[str, Any]) -> str:
    evaluation = report.get("evaluation") or {}
    comparison = evaluation.get("policy_vs_base") or evaluation.get("compare_to_base")
    if comparison and comparison.get("mean_reward_gain") is not None:
        return f"reward {comparison['mean_reward_gain']:+.3f} over base on {comparison.get('prompts')} held-out prompts"
    loss = evaluation.get("loss_evidence") or {}
    if "loss_decrease" in loss:
        fall = loss["loss_decrease"]
        return f"held-out loss {-fall['estimate']:+.3f} [{-fall['high']:+.3f}, {-fall['low']:+.3f}]"
    return MISSING


def _judged(report: Mapping[str, Any]) -> str:
    evaluation = report.get("checkpoint_evaluation") or {}
    overall = (evaluation.get("summary") or {}).get("all") or {}
    raw, lc = overall.get("win_rate"), overall.get("length_controlled_win_rate")
    if not raw:
        return MISSING
    text = f"{raw['estimate']:.0%} [{raw['low']:.0%}, {raw['high']:.0%}]"
    if lc and all(isinstance(lc.get(k), float) for k in ("estimate", "low", "high")):
        text += f", length-controlled {lc['estimate']:.0%} [{lc['low']:.0%}, {lc['high']:.0%}]"
    return f"{text} by {evaluation.get('judge')} on {overall.get('judged')} prompts"


def _verdict(base: str | None, rating: Rating | None, base_rating: Rating | None, head: HeadToHead | None) -> str:
    if base is None:
        return "no base named: nothing to compare with"
    if head is not None and head.low > 0.5:
        return f"helped: beats {base} head to head"
    if head is not None and head.high < 0.5:
        return f"hurt: loses to {base} head to head"
    if rating and base_rating and not any(map(math.isnan, (rating.lower, base_rating.upper))):
        if rating.lower > base_rating.upper:
            return f"helped: rated above {base}, the intervals apart"
        if rating.upper < base_rating.lower:
            return f"hurt: rated below {base}, the intervals apart"
    votes = 0 if head is None else head.votes
    return f"not known yet: {votes} head-to-head votes with {base}, intervals overlap"


COLUMNS = ("Checkpoint", "Base", "Training", "Arena rating", "Base rating", "Head to head", "Judged win rate",
           "Training measured", "Gate", "Verdict")  # fmt: skip


def outcomes_table(outcomes: Sequence[TrainingOutcome]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    rows = []
    for o in outcomes:
        gate = "passed" if o.gate_passed else (f"forced: {o.forced_reason}" if o.forced_reason else "not passed")
        rows.append(
            (
                o.model,
                o.base or MISSING,
                f"{o.kind} ({o.method})" if o.method and o.method != o.kind else o.kind,
                o.rating.text() if o.rating else "no votes yet",
                o.base_rating.text() if o.base_rating else MISSING,
                o.head_to_head.text() if o.head_to_head else "no votes yet",
                o.judged,
                o.training_gain,
                gate,
                o.verdict,
            )
        )
    return COLUMNS, rows
