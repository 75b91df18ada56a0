"""The leaderboard table: the one entry point the CLI and the page call.

    compute_leaderboard(battles, *, source="human", category=None, style_control=False, ci="sandwich",
                        rounds=1000, seed=0, anchor=None, min_votes=0, weighting="auto",
                        source_weights=None) -> Leaderboard
    compute_category_leaderboards(battles, *, categories=None, **same options) -> {category: Leaderboard}

battles: a table in the schema of facts/schema.py (unknown winner labels raise schema.BattlesError
naming the row). Votes are selected by selection.select_votes, counted per pair (outcomes), rated by
fit.fit_ratings (Bradley-Terry, ties half, scale 400, base 10, anchor or mean 1000, 95% intervals by ci), and
replayed as online Elo (elo). style_control=True adds the style-controlled ratings and coefficients
(style_control.py; raises style_control.StyleFeaturesMissing when a vote lacks style features).

weighting (leaderboard.weights): "auto" (default) weights each vote by the inverse of its pair's sampling
propensity when pairs were not drawn uniformly (the battles' pair_probability and pool_size), and says so in
warnings; "none" fits the plain counts. source_weights {source: weight} makes a composite rating
(leaderboard.composite): every source's votes in one fit, each vote weighted by its source's weight times its
propensity weight; sources weighted 0 or not named are left out (source must then be None). Votes, wins, ties
and losses in the rows are always plain vote counts. Style-controlled ratings are weighted the same way.

Leaderboard.rows: one LeaderboardRow per model, sorted by part, then rating (best first). flags:
  "only wins" / "only losses"   the model won (lost) every vote it had: no finite maximum-likelihood rating
  "L2 prior"                    its rating comes from the L2-prior fit (its group has no finite maximum)
  "group k"                     the model is in group k > 0 of models that never met the main group
Leaderboard.warnings: every decision taken on the reader's behalf, as sentences. Leaderboard.message: why the
table is empty, when it is. to_frame() (one row per model), to_dict() (JSON-ready), matrices().
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from facts.schema import normalize_battles
from leaderboard.elo import online_elo
from leaderboard.fit import fit_ratings
from leaderboard.matrices import PairMatrices, pairwise_matrices
from leaderboard.outcomes import PairCounts, count_outcomes, empty_counts
from leaderboard.scale import Anchor, as_anchor
from leaderboard.selection import select_votes
from leaderboard.style_control import StyleCoefficient, fit_style_control
from leaderboard.weights import AUTO, NONE, unweighted_note, vote_weights

FLAG_ONLY_WINS = "only wins"
FLAG_ONLY_LOSSES = "only losses"
FLAG_PRIOR = "L2 prior"


@dataclass(frozen=True)
class LeaderboardRow:
    model: str
    rating: float
    lower: float  # NaN when ci="none"
    upper: float
    rank_ub: int  # 1 + models (of its group) whose lower bound is above this upper bound
    votes: int
    wins: int
    ties: int
    losses: int
    win_rate: float  # (wins + ties / 2) / votes
    average_win_rate: float  # mean over the opponents met of the pairwise win fraction
    online_elo: float | None  # None when not asked for (the page does not show it)
    part: int  # connected group, 0 the largest; ratings compare only within a group
    flags: tuple[str, ...]
    style_rating: float | None = None  # the style-controlled fit, when asked
    style_lower: float | None = None
    style_upper: float | None = None
    style_rank_ub: int | None = None


_ROW_FIELDS = tuple(f.name for f in fields(LeaderboardRow))


@dataclass(frozen=True, eq=False)
class Leaderboard:
    rows: tuple[LeaderboardRow, ...]
    n_battles: int  # counted votes the ratings rest on
    ci: str
    source: str | None
    category: str | None
    min_votes: int
    rounds: int | None  # bootstrap rounds, when ci="bootstrap"
    seed: int | None
    anchor: Anchor | None  # the anchor applied (None: mean rating 1000)
    style_control: bool
    style_coefficients: tuple[StyleCoefficient, ...]
    warnings: tuple[str, ...]
    message: str  # why there are no rows, when there are none
    counts: PairCounts  # the votes per pair the ratings were fitted on (weighted sums when weighted: .plain)
    weighting: str = NONE  # "none", "propensity" (inverse-propensity weights), "composite" (source x propensity)
    source_weights: Mapping[str, float] | None = None  # a composite's weight per source

    @property
    def empty(self) -> bool:
        return not self.rows

    def to_frame(self) -> pd.DataFrame:
        columns = [f.name for f in fields(LeaderboardRow)]
        return pd.DataFrame([asdict(row) for row in self.rows], columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes None, tuples become lists."""

        def clean(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, tuple):
                return [clean(v) for v in value]
            return value

        return {
            # field by field: dataclasses.asdict deep-copies every value, a tenth of a page's payload time
            "rows": [{name: clean(getattr(row, name)) for name in _ROW_FIELDS} for row in self.rows],
            "n_battles": self.n_battles,
            "ci": self.ci,
            "source": self.source,
            "category": self.category,
            "min_votes": self.min_votes,
            "rounds": self.rounds,
            "seed": self.seed,
            "anchor": None if self.anchor is None else [self.anchor.model, self.anchor.rating],
            "style_control": self.style_control,
            "style_coefficients": {c.feature: c.estimate for c in self.style_coefficients},
            "style_coefficient_intervals": {
                c.feature: [clean(c.lower), clean(c.upper)] for c in self.style_coefficients
            },
            "warnings": list(self.warnings),
            "message": self.message,
            "weighting": self.weighting,
            "source_weights": None if self.source_weights is None else dict(self.source_weights),
        }

    def matrices(self) -> PairMatrices:
        """Battle counts, win fractions and predicted win probabilities, models in counts order."""
        by_model = {row.model: row for row in self.rows}
        ratings = np.array([by_model[m].rating for m in self.counts.models])
        parts = np.array([by_model[m].part for m in self.counts.models], dtype=np.int64)
        return pairwise_matrices(self.counts.plain, ratings, parts)


def _empty(message: str, notes: tuple[str, ...], **options: Any) -> Leaderboard:
    return Leaderboard(
        rows=(),
        n_battles=0,
        counts=empty_counts(),
        style_coefficients=(),
        warnings=notes,
        message=message,
        **options,
    )


def compute_leaderboard(
    battles: pd.DataFrame,
    *,
    source: str | None = "human",
    category: str | None = None,
    style_control: bool = False,
    ci: str = "sandwich",
    rounds: int = 1000,
    seed: int = 0,
    anchor: Anchor | tuple[str, float] | None = None,
    min_votes: int = 0,
    with_online_elo: bool = True,
    normalized: bool = False,
    weighting: str = AUTO,
    source_weights: Mapping[str, float] | None = None,
) -> Leaderboard:
    """`normalized`: the caller passes a frame already through facts.schema.normalize_battles (the page
    normalizes a million votes once, not once per view). `with_online_elo=False` skips the replay, a loop over
    every vote, for callers that do not show it. weighting, source_weights: see the module docstring."""
    anchor = as_anchor(anchor)
    if source_weights is not None:
        if source is not None:
            raise ValueError("a composite (source_weights) pools the sources: source must be None")
        if not normalized and len(battles):
            battles, normalized = normalize_battles(battles), True
        weighed = [name for name, weight in source_weights.items() if weight > 0]
        if len(battles):
            battles = battles[battles["source"].isin(weighed)]
    options: dict[str, Any] = {
        "ci": ci,
        "source": source,
        "category": category,
        "min_votes": min_votes,
        "rounds": rounds if ci == "bootstrap" else None,
        "seed": seed if ci == "bootstrap" else None,
        "style_control": style_control,
        "source_weights": None if source_weights is None else dict(source_weights),
    }
    if len(battles) == 0:
        return _empty("No votes yet: the leaderboard appears once votes are recorded.", (), anchor=None, **options)
    selection = select_votes(battles, source=source, category=category, min_votes=min_votes, normalized=normalized)
    votes = selection.votes
    if len(votes) == 0:
        where = f" from source {source!r}" if source is not None else ""
        where += f" in category {category!r}" if category is not None else ""
        reason = f"No counted votes{where} (only anonymous, unflagged votes count)."
        if selection.dropped_models:
            reason = f"No two models with at least {min_votes} votes each met{where}."
        return _empty(reason, selection.notes, anchor=None, **options)
    weights = vote_weights(votes, weighting, source_weights)
    notes = (weights.note,) if weights.note else ()
    if weighting == NONE and (note := unweighted_note(votes)):
        notes = (note,)
    counts = count_outcomes(votes, weights.weights, cells=ci == "bootstrap", by_battle=ci != "none")
    fit = fit_ratings(counts, anchor=anchor, ci=ci, rounds=rounds, seed=seed)
    if fit.ci != ci:  # weighted votes too many to resample: the sandwich's intervals, said in fit.warnings
        options.update(ci=fit.ci, rounds=None, seed=None)
    elo = online_elo(votes, models=counts.models).ratings if with_online_elo else None
    wins, ties, losses = counts.plain.per_model()
    average = pairwise_matrices(counts.plain).average_win_rate
    style = None
    if style_control:
        style = fit_style_control(
            votes, counts.models, fit.part, anchor=anchor, ci=fit.ci, rounds=rounds, seed=seed, start=fit.strengths,
            weights=weights.weights,
        )  # fmt: skip
    rows = []
    for i, model in enumerate(counts.models):
        played = wins[i] + ties[i] + losses[i]
        flags = []
        if losses[i] + ties[i] == 0:
            flags.append(FLAG_ONLY_WINS)
        if wins[i] + ties[i] == 0:
            flags.append(FLAG_ONLY_LOSSES)
        if fit.prior[i]:
            flags.append(FLAG_PRIOR)
        if fit.part[i] > 0:
            flags.append(f"group {fit.part[i]}")
        rows.append(
            LeaderboardRow(
                model=model,
                rating=float(fit.rating[i]),
                lower=float(fit.lower[i]),
                upper=float(fit.upper[i]),
                rank_ub=int(fit.rank_ub[i]),
                votes=round(played),
                wins=round(wins[i]),
                ties=round(ties[i]),
                losses=round(losses[i]),
                win_rate=float((wins[i] + 0.5 * ties[i]) / played),
                average_win_rate=float(average[i]),
                online_elo=None if elo is None else float(elo[i]),
                part=int(fit.part[i]),
                flags=tuple(flags),
                style_rating=None if style is None else float(style.rating[i]),
                style_lower=None if style is None else float(style.lower[i]),
                style_upper=None if style is None else float(style.upper[i]),
                style_rank_ub=None if style is None else int(style.rank_ub[i]),
            )
        )
    rows.sort(key=lambda row: (row.part, -row.rating, row.model))
    return Leaderboard(
        rows=tuple(rows),
        n_battles=counts.n_votes,
        anchor=fit.anchor,
        style_coefficients=() if style is None else style.coefficients,
        warnings=notes + selection.notes + fit.warnings + (() if style is None else style.warnings),
        message="",
        counts=counts,
        weighting=weights.scheme,
        **options,
    )


def compute_category_leaderboards(
    battles: pd.DataFrame, *, categories: list[str] | None = None, **options: Any
) -> dict[str, Leaderboard]:
    """One leaderboard per category (default: every category among the battles), same options for each."""
    if categories is None:
        present = battles["category"].dropna().unique() if "category" in battles.columns else []
        categories = sorted(str(c) for c in present)
    return {category: compute_leaderboard(battles, category=category, **options) for category in categories}
