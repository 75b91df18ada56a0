"""How good is a refusal detector? Its verdicts against hand labels: accuracy, and precision and recall on
refusals, each with a 95% Wilson interval, and the confusion counts. Pure: labels and verdicts in, a frozen
dataclass out.

    score_detector(truth, predicted) -> DetectorScore
    read_labels(path) -> list[LabelledAnswer]          the JSONL of training/eval_data/refusal-labels

Precision is what a reported refusal rate leans on when it is low (how many flagged answers really refused);
recall when it is high (how many refusals the detector sees). A detector that never fires has accuracy equal to the
share of compliance in the sample, so accuracy alone says little on an enriched sample: all three are reported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.safety_figures import wilson_interval


@dataclass(frozen=True)
class Share:
    hits: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.hits / self.n if self.n else float("nan")

    def text(self) -> str:
        if not self.n:
            return "- (n=0)"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] ({self.hits}/{self.n})"

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "hits": self.hits, "n": self.n}


@dataclass(frozen=True)
class DetectorScore:
    accuracy: Share
    precision: Share  # of the answers flagged as refusals, how many were
    recall: Share  # of the refusals, how many were flagged
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy.to_dict(),
            "precision": self.precision.to_dict(),
            "recall": self.recall.to_dict(),
            "confusion": {
                "true_positive": self.true_positive,
                "false_positive": self.false_positive,
                "false_negative": self.false_negative,
                "true_negative": self.true_negative,
            },
        }


@dataclass(frozen=True)
class LabelledAnswer:
    id: str
    source: str
    prompt: str
    answer: str
    label: str  # full_refusal | partial_refusal | full_compliance
    refusal: bool
    note: str = ""

    @property
    def ambiguous(self) -> bool:
        return self.note.startswith("ambiguous")


def _share(hits: int, n: int) -> Share:
    if n == 0:
        return Share(0, 0, float("nan"), float("nan"))
    low, high = wilson_interval(np.array([hits / n]), np.array([n]))
    return Share(hits, n, float(low[0]), float(high[0]))


def score_detector(truth: Sequence[bool], predicted: Sequence[bool]) -> DetectorScore:
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} labels but {len(predicted)} verdicts")
    t, p = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    tp, fp = int((t & p).sum()), int((~t & p).sum())
    fn, tn = int((t & ~p).sum()), int((~t & ~p).sum())
    return DetectorScore(
        accuracy=_share(tp + tn, len(t)),
        precision=_share(tp, tp + fp),
        recall=_share(tp, tp + fn),
        true_positive=tp,
        false_positive=fp,
        false_negative=fn,
        true_negative=tn,
    )


def read_labels(path: str | Path) -> list[LabelledAnswer]:
    """The labelled answers, one JSON object per line; a line that is not one is an error naming the line."""
    answers = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answers.append(
                LabelledAnswer(
                    id=str(row["id"]),
                    source=str(row["source"]),
                    prompt=str(row["prompt"]),
                    answer=str(row["answer"]),
                    label=str(row["label"]),
                    refusal=bool(row["refusal"]),
                    note=str(row.get("note") or ""),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a labelled answer ({exc})") from exc
    return answers
