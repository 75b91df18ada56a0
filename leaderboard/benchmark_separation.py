"""Which benchmark separates models? For the contenders present, per benchmark (and for the arena's own ratings):
how many pairs of models it tells apart with confidence, its spread relative to its intervals, and its rank
correlation with people's arena ratings, with an interval. Pure: figures in, a frozen dataclass out.

    separation(benchmarks, arena) -> Separation

The seed's claim is that static benchmarks score models about the same except TruthfulQA; this measures it
instead of repeating it, whichever way it comes out.

- Separated pair: the two scores differ by more than 1.96 standard errors of the difference, each standard error
  read from the stored 95% interval as (high - low) / (2 x 1.96) (a normal reading of Wilson or bootstrap
  intervals: close enough to rank benchmarks, not a test to publish). The arena's ratings are read the same way.
- Spread: the standard deviation of the scores over the mean standard error: how many "interval widths" apart the
  models sit (below 1: the benchmark cannot tell them apart at this n).
- Agreement with people: Spearman's rank correlation between the benchmark (oriented so that higher is better) and
  the arena rating over the models that have both, with a 95% interval by Fisher's z with the Bonett-Wright
  standard error sqrt((1 + rho^2 / 2) / (n - 3)); none below 4 models, said so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

Z95 = 1.959963984540054
ARENA = "arena"


@dataclass(frozen=True)
class Figure:
    model: str
    score: float
    low: float | None
    high: float | None

    @property
    def standard_error(self) -> float | None:
        if self.low is None or self.high is None or not self.high >= self.low:
            return None
        return (self.high - self.low) / (2 * Z95)


@dataclass(frozen=True)
class BenchmarkSeparation:
    benchmark: str
    models: int
    pairs: int
    separated_pairs: int
    spread: float | None  # SD of the scores / mean standard error
    rank_correlation: float | None  # with the arena's ratings, over the models with both
    correlation_low: float | None
    correlation_high: float | None
    correlation_models: int
    note: str = ""

    @property
    def separated_share(self) -> float | None:
        return self.separated_pairs / self.pairs if self.pairs else None


@dataclass(frozen=True)
class Separation:
    rows: tuple[BenchmarkSeparation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [{**asdict(row), "separated_share": row.separated_share} for row in self.rows]}

    def markdown(self) -> str:
        if not self.rows:
            return ""
        lines = [
            "| benchmark | models | pairs separated (95%) | spread (SD / SE) | rank correlation with the arena |",
            "|---|---:|---:|---:|---|",
        ]
        for row in self.rows:
            spread = "—" if row.spread is None else f"{row.spread:.1f}"
            if row.benchmark == ARENA:
                agreement = "(itself)"
            elif row.rank_correlation is None:
                agreement = row.note or "—"
            elif row.correlation_low is None or row.correlation_high is None:
                agreement = f"{row.rank_correlation:+.2f} (n={row.correlation_models}; {row.note})"
            else:
                agreement = (
                    f"{row.rank_correlation:+.2f} ({row.correlation_low:+.2f} to {row.correlation_high:+.2f}, "
                    f"n={row.correlation_models})"
                )
            lines.append(
                f"| {row.benchmark} | {row.models} | {row.separated_pairs} of {row.pairs} | {spread} | {agreement} |"
            )
        return "\n".join(lines)


def separation(
    benchmarks: Mapping[str, Sequence[Figure]],
    arena: Sequence[Figure],
    higher_is_better: Mapping[str, bool] | None = None,
) -> Separation:
    """`benchmarks`: per benchmark, one figure per model; `arena`: the arena rating per model (its interval in
    rating points); `higher_is_better`: per benchmark, default True (over-refusal: False)."""
    orientation = dict(higher_is_better or {})
    ratings = {figure.model: figure.score for figure in arena}
    rows = [_row(ARENA, list(arena), {}, True)] if arena else []
    for name, figures in benchmarks.items():
        rows.append(_row(name, list(figures), ratings, orientation.get(name, True)))
    return Separation(tuple(rows))


def _row(name: str, figures: list[Figure], ratings: Mapping[str, float], higher: bool) -> BenchmarkSeparation:
    pairs = separated = 0
    for first, second in combinations(figures, 2):
        pairs += 1
        se_first, se_second = first.standard_error, second.standard_error
        if se_first is None or se_second is None:
            continue
        combined = math.hypot(se_first, se_second)
        if combined == 0.0:
            separated += first.score != second.score
        elif abs(first.score - second.score) > Z95 * combined:
            separated += 1
    errors = [f.standard_error for f in figures if f.standard_error is not None]
    spread = None
    if len(figures) >= 2 and errors and np.mean(errors) > 0:
        spread = float(np.std([f.score for f in figures], ddof=1) / np.mean(errors))
    both = [f for f in figures if f.model in ratings]
    rho = low = high = None
    note = ""
    if name != ARENA:
        if len(both) < 3:
            note = "fewer than 3 models with both"
        else:
            sign = 1.0 if higher else -1.0
            value = _spearman([sign * f.score for f in both], [ratings[f.model] for f in both])
            if math.isfinite(value):
                rho = float(value)
                if len(both) >= 4 and abs(rho) < 1.0:
                    half = Z95 * math.sqrt((1 + rho**2 / 2) / (len(both) - 3))
                    low, high = math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half)
                else:
                    note = "no interval below 4 models" if len(both) < 4 else "a perfect rank agreement has no z"
            else:
                note = "every model scored the same"
    return BenchmarkSeparation(name, len(figures), pairs, separated, spread, rho, low, high, len(both), note)


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's correlation of the ranks (ties take their average rank); NaN when either side is constant."""
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    if np.std(rx) == 0 or np.std(ry) == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])
