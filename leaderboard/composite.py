"""Composite ratings: people's and the judges' votes in one Bradley-Terry fit, each source with its own weight.

    parse_source_weights("human=1,judge:gpt-4o=0.5,judge:*=0.25") -> {"human": 1.0, ...}   (ValueError if bad)
    resolve_source_weights(weights, sources) -> {source: weight} for the sources present (the wildcard expanded)
    composite_label(weights) -> "Composite (human x1, judge:gpt-4o x0.5)"
    compute_composite_leaderboard(battles, weights, **compute_leaderboard options) -> Leaderboard

Each vote weighs its source's weight times its inverse-propensity weight (leaderboard.weights), and the fit is the
weighted maximum likelihood with the weighted sandwich (or the weighted bootstrap), so the intervals account for
the weights. Only relative weights matter to the ratings: {human: 2} gives the same ratings and intervals as
{human: 1}, and the fit of one source weighted alone is that source's own leaderboard. A source not named (and not
covered by "judge:*") or weighted 0 is left out; a composite never replaces the separate per-source views.

DEFAULT_WEIGHTS = "human=1,judge:*=0.5": a judge's vote counts half a person's. A judge is one model voting on many
battles: its errors (position, length and self-preference biases, tests/test_judge_audit.py) are shared by all its
votes and do not average out as many people's do, so its votes carry less independent information than their
number says; at half weight, people remain the larger share of the evidence as long as each judge votes on no more
than twice as many battles as people. A judge's vote and a person's on the same battle are correlated (they read
the same answers): the sandwich intervals count battles, not votes (leaderboard.outcomes.BattleSums), so a judge
that only repeats the people's verdicts adds no certainty, however many times it votes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from facts.vocabulary import HUMAN, JUDGE_PREFIX, is_source
from leaderboard.table import Leaderboard, compute_leaderboard

COMPOSITE = "composite"  # the page's source key for the composite view
ANY_JUDGE = JUDGE_PREFIX + "*"
DEFAULT_WEIGHTS = f"{HUMAN}=1,{ANY_JUDGE}=0.5"


def parse_source_weights(text: str) -> dict[str, float]:
    """SOURCE=WEIGHT pairs, comma-separated: sources "human", "judge:<name>", or "judge:*" (every judge not named)."""
    weights: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        source, separator, value = item.rpartition("=")
        source = source.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not separator or not (is_source(source) or source == ANY_JUDGE):
            raise ValueError(f"expected SOURCE=WEIGHT with SOURCE human, judge:<name> or {ANY_JUDGE}; got {item!r}")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"a source's weight must be a number >= 0; got {item!r}")
        if source in weights:
            raise ValueError(f"source {source!r} is weighted twice")
        weights[source] = weight
    if not any(weight > 0 for weight in weights.values()):
        raise ValueError(f"a composite needs some source with a weight above 0; got {text!r}")
    return weights


def resolve_source_weights(weights: Mapping[str, float], sources: Iterable[str]) -> dict[str, float]:
    """The weight of every source present: its own, else the wildcard's for a judge, else 0."""
    resolved = {}
    for source in sorted({str(s) for s in sources}, key=lambda s: (s != HUMAN, s)):
        if source in weights:
            resolved[source] = float(weights[source])
        elif source.startswith(JUDGE_PREFIX) and ANY_JUDGE in weights:
            resolved[source] = float(weights[ANY_JUDGE])
        else:
            resolved[source] = 0.0
    return resolved


def composite_label(weights: Mapping[str, float]) -> str:
    """What the composite weighs, for a dropdown or a table's caption: the sources with a weight above 0."""
    shown = ", ".join(f"{source} ×{weight:g}" for source, weight in weights.items() if weight > 0)
    return f"Composite ({shown or 'no source'})"


def compute_composite_leaderboard(battles: pd.DataFrame, weights: Mapping[str, float], **options: Any) -> Leaderboard:
    """One fit over every source's counted votes, each vote weighted by its source's weight (wildcard expanded over
    the sources present) times its propensity weight. Options: those of compute_leaderboard except source."""
    present = battles["source"].dropna().unique() if "source" in battles.columns else [HUMAN]
    resolved = resolve_source_weights(weights, present)
    if not any(weight > 0 for weight in resolved.values()):
        resolved = {source: float(w) for source, w in weights.items() if source != ANY_JUDGE}
    return compute_leaderboard(battles, source=None, source_weights=resolved, **options)
