"""What the leaderboard page shows, computed once per snapshot as plain JSON (pure: battles in, dict out).

Payload:
    generated_at, votes_total, counted {source: n}, sources [..], categories [[id, label], ..],
    descriptions {model: text},
    views {view_key(source, category, style): Leaderboard.to_dict() with the style ratings in place},
    matrices {source: {models, win_fraction, battle_count, predicted}},
    validation {source: {text, ...}},
    anomalies {text, excluded, voters_flagged, votes_flagged, voters [{voter: 8-character prefix, ...}], ...}
    criteria {criterion: a payload like this one}: build_criteria_payload's, for the criteria other than
        helpfulness that have votes (harmlessness, from red-team battles); absent in older snapshots. Each view of
        the harmlessness payload also holds `safety`: leaderboard.safety_figures' harmful-compliance figures
        (SafetyFigures.to_dict()) on that view's votes (source and category); red_team_safety() picks the ones the
        helpfulness view shows beside its ratings
    excluded {source: {reason: votes}}: the stored reasons (facts.eligibility) of the votes that do not count, a
        vote with several reasons under each (the anomalous voters' are in `anomalies`)
    composite {weights {source: weight}, label}: present when a composite was asked for (composite_weights) and some
        source present has a weight above 0; its view is views[view_key(COMPOSITE, None, False)], beside the
        per-source views (never replacing them): every source's votes in one fit, each vote weighted by its source's
        weight times its propensity weight (leaderboard.composite). Every category only; no matrices or validation.
    deprecated [model, ..]: the models marked deprecated when the snapshot was computed. Their ratings are fitted
        with their votes like any other (their votes are evidence about the rest); the page hides their rows unless
        asked (visible_rows). Marking a model deprecated shows at the next refresh (the app makes the deprecated set
        part of the snapshot's marker, so no new vote is needed).

Weighting: every view weights votes by inverse sampling propensity when pairs were not drawn uniformly (the battles'
pair_probability and pool_size; leaderboard.weights), and says so in its warnings and its "weighting" field.

Anomalous voters (leaderboard.anomaly) are found among the human votes and, unless keep_anomalous, their votes
are excluded before anything is computed: every view, matrix, count and validation rests on the same votes.

Cost: one narrow copy of each source's counted votes (the columns the views read, no voter id or text; the
red-team figures add the voter and battle ids of the harmlessness votes), one source at a time; the per-vote work
of each view is in blocks (leaderboard.outcomes, .style_control, .anomaly).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from facts.categories import CATEGORIES
from facts.eligibility import reasons_of
from facts.schema import DEFAULTED, STYLE_COLUMNS, counted, normalize_battles, of_criterion
from facts.vocabulary import HARMLESSNESS, HELPFULNESS, HUMAN
from leaderboard.anomaly import detect_anomalous_voters, exclude_anomalous
from leaderboard.benchmark_columns import TABLE_LABELS as BENCHMARK_LABELS
from leaderboard.composite import COMPOSITE, composite_label, resolve_source_weights
from leaderboard.intervals import rank_upper_bound
from leaderboard.memory import release_freed_memory
from leaderboard.safety_figures import READ_COLUMNS as SAFETY_READ
from leaderboard.safety_figures import harmful_compliance
from leaderboard.style_control import StyleFeaturesMissing
from leaderboard.table import Leaderboard, compute_leaderboard
from leaderboard.validation import ValidationReport, validate

ALL_CATEGORIES = "all"
SAFETY_COLUMN = "Harmful compliance (red team)"  # leaderboard.safety_figures: rate (95% CI) · n
TABLE_COLUMNS = ("Rank (UB)", "Model", "Rating", "95% CI", "Votes", "Win rate", SAFETY_COLUMN, *BENCHMARK_LABELS,
                 "Description")  # fmt: skip
MIN_CATEGORY_VOTES = 30


def view_key(source: str, category: str | None, style_control: bool) -> str:
    return f"{source}|{category or ALL_CATEGORIES}|{'style' if style_control else 'plain'}"


_VIEW_COLUMNS = ("model_a", "model_b", "winner", "source", "anony", "tstamp", "excluded_reason", "category",
                 *STYLE_COLUMNS)  # fmt: skip
_PROPENSITY_COLUMNS = ("pair_probability", "pool_size")  # from the votes reader, when the battles stored them
# Which battle a vote belongs to, so that the intervals count battles (leaderboard.outcomes.battle_codes): the
# reader's integer code, else a file's battle ids.
_BATTLE_COLUMNS = ("battle_key", "battle_id")


def _view_columns(battles: pd.DataFrame) -> list[str]:
    defaulted = battles.attrs.get(DEFAULTED, ())  # a battle_id filled in as missing names no battle
    battle = next((c for c in _BATTLE_COLUMNS if c in battles.columns and c not in defaulted), None)
    return [*_VIEW_COLUMNS, *(c for c in _PROPENSITY_COLUMNS if c in battles.columns), *([battle] if battle else [])]


def build_page_payload(
    battles: pd.DataFrame,
    descriptions: dict[str, str],
    votes_total: int,
    *,
    min_category_votes: int = MIN_CATEGORY_VOTES,
    keep_anomalous: bool = False,
    safety: bool = False,
    composite_weights: Mapping[str, float] | None = None,
    deprecated: Iterable[str] = (),
) -> dict[str, Any]:
    """Every view the page offers (per source, category, style control), the matrices, the validation and the
    anomalous-voter report. `safety`: the votes are red-team votes, and each view gets its harmful-compliance
    figures (leaderboard.safety_figures) from the same votes. `composite_weights` ({source: weight}, "judge:*" for
    every judge not named; leaderboard.composite): also the composite view. `deprecated`: the models the page hides
    by default (stored as they are now)."""
    battles = normalize_battles(battles)
    excluded = excluded_by_reason(battles)
    anomalies = detect_anomalous_voters(battles)
    if not keep_anomalous:
        battles = exclude_anomalous(battles, anomalies)
    release_freed_memory()  # the anomaly test's per-vote arrays
    # What counts, per source and category, from the label columns alone (a byte per vote each).
    everything = counted(battles[["source", "category", "anony", "excluded_reason"]], source=None)
    per_source = everything["source"].value_counts()
    per_source = per_source[per_source > 0]  # a categorical column lists every label, counted or not
    sources = sorted(per_source.index, key=lambda s: (s != "human", s))
    payload: dict[str, Any] = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "votes_total": int(votes_total),
        "counted": {str(s): int(n) for s, n in per_source.items()},
        "sources": [str(s) for s in sources] or ["human"],
        "descriptions": descriptions,
        "views": {},
        "matrices": {},
        "validation": {},
        "anomalies": anomalies.to_dict(excluded=not keep_anomalous),
        "excluded": excluded,
        "deprecated": sorted({str(model) for model in deprecated}),
    }
    category_counts = everything.groupby(["source", "category"]).size() if len(everything) else pd.Series()
    shown_categories: set[str] = set()
    del everything
    # One source at a time, its views then its validation, memory given back between them: at ten million votes
    # the peak is one source's copy and one fit's arrays. (A second thread for the category views saved nothing
    # there and held 400 MB more.)
    for source in sources:
        # Only what the views read: the rows are copied once per source, not per view, and no voter id or text
        # comes along.
        own = counted(battles[_view_columns(battles)], source=source)
        categories = [str(c) for (s, c), n in category_counts.items() if s == source and n >= min_category_votes and c]
        shown_categories.update(categories)
        views, board = _views(own, source, None)
        payload["views"].update(views)
        payload["matrices"][source] = _matrices(board)
        for category in categories:
            payload["views"].update(_views(own[own["category"] == category], source, category)[0])
        if safety:
            _add_safety(payload["views"], battles, source, categories)
        release_freed_memory()
        payload["validation"][source] = _validation_text(validate(own, source=source, normalized=True))
        del own
        release_freed_memory()
    if composite_weights is not None:
        _add_composite(payload, battles, composite_weights, [str(s) for s in sources])
    payload["categories"] = [[ALL_CATEGORIES, "All"]] + [
        [c, CATEGORIES.get(c, c)]
        for c in sorted(shown_categories, key=lambda c: list(CATEGORIES).index(c) if c in CATEGORIES else 99)
    ]
    return payload


def build_criteria_payload(
    battles: pd.DataFrame,
    descriptions: dict[str, str],
    votes_total: int,
    *,
    composite_weights: Mapping[str, float] | None = None,
    deprecated: Iterable[str] = (),
) -> dict[str, Any]:
    """The helpfulness votes' payload (build_page_payload), with `criteria` {criterion: its own payload} for every
    other criterion that has votes (harmlessness: red-team battles). Each is fitted on its own votes only: the
    page shows one criterion at a time and never pools them. `battles` holds every criterion (store.votes.read
    with criterion=None: one scan), told apart by its `criterion` column (absent: all helpfulness).
    composite_weights and deprecated: as build_page_payload, for every criterion."""
    parts = split_by_criterion(battles)
    deprecated = tuple(deprecated)
    options: dict[str, Any] = {"composite_weights": composite_weights, "deprecated": deprecated}
    payload = build_page_payload(parts.pop(HELPFULNESS, battles.iloc[:0]), descriptions, votes_total, **options)
    payload["criteria"] = {
        criterion: build_page_payload(votes, descriptions, votes_total, safety=criterion == HARMLESSNESS, **options)
        for criterion, votes in parts.items()
    }
    return payload


def _add_composite(
    payload: dict[str, Any], battles: pd.DataFrame, weights: Mapping[str, float], sources: list[str]
) -> None:
    """The composite view (every category) and what it weighs, when some source present has a weight above 0."""
    resolved = resolve_source_weights(weights, sources)
    if not any(weight > 0 for weight in resolved.values()):
        return
    votes = counted(battles[_view_columns(battles)], source=None)
    board = compute_leaderboard(votes, source=None, source_weights=resolved, **_FAST)
    payload["views"][view_key(COMPOSITE, None, False)] = board.to_dict()
    payload["composite"] = {"weights": resolved, "label": composite_label(resolved)}
    del votes
    release_freed_memory()


def visible_rows(rows: list[dict[str, Any]], hidden: Iterable[str], show_hidden: bool = False) -> list[dict[str, Any]]:
    """A view's rows without the `hidden` models (deprecated), unless show_hidden; Rank (UB) is counted again among
    the rows shown (within each group), so the ranks shown have no gaps. Ratings and intervals are not refitted:
    the hidden models' votes remain evidence about the others. Shown on request, they carry the flag "deprecated"."""
    hidden = set(hidden)
    if not hidden or not any(row["model"] in hidden for row in rows):
        return rows
    if show_hidden:
        return [
            {**row, "flags": [*(row.get("flags") or []), "deprecated"]} if row["model"] in hidden else row
            for row in rows
        ]
    shown = [dict(row) for row in rows if row["model"] not in hidden]
    for part in {row.get("part", 0) for row in shown}:
        members = [row for row in shown if row.get("part", 0) == part]
        ratings = np.array([float(row["rating"]) for row in members])
        if all(row.get("lower") is not None and row.get("upper") is not None for row in members):
            ranks = rank_upper_bound([row["lower"] for row in members], [row["upper"] for row in members])
        else:
            ranks = 1 + (ratings[None, :] > ratings[:, None]).sum(axis=1)
        for row, rank in zip(members, ranks, strict=True):
            row["rank_ub"] = int(rank)
    return shown


def red_team_safety(payload: dict[str, Any] | None, source: str = HUMAN) -> dict[str, Any] | None:
    """The harmful-compliance figures shown beside the helpfulness ratings: the red-team votes of `source` (people by
    default), every category. None when the snapshot has none (no red-team votes, or an older snapshot)."""
    criteria = (payload or {}).get("criteria")
    part = criteria.get(HARMLESSNESS) if isinstance(criteria, dict) else None
    view = (part or {}).get("views", {}).get(view_key(source, None, False))
    return (view or {}).get("safety")


def _add_safety(views: dict[str, dict[str, Any]], battles: pd.DataFrame, source: str, categories: list[str]) -> None:
    """Each view of `source` (every category, plain and style-controlled) gets the harmful-compliance figures of its
    own votes. Reads the label and id columns only (no text), one narrow copy per source."""
    votes = counted(battles[[c for c in SAFETY_READ if c in battles.columns]], source=source)
    for category in (None, *categories):
        figures = harmful_compliance(votes, source=source, category=category, normalized=True).to_dict()
        for style_control in (False, True):
            if (view := views.get(view_key(source, category, style_control))) is not None:
                view["safety"] = figures


def split_by_criterion(battles: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The votes of each criterion present; a frame of one criterion (the usual case) is returned as it is, not
    copied (a million votes)."""
    if "criterion" not in battles.columns:
        return {HELPFULNESS: battles}
    present = {HELPFULNESS if pd.isna(c) else str(c) for c in pd.unique(battles["criterion"])}
    return {criterion: of_criterion(battles, criterion) for criterion in sorted(present)}


def excluded_by_reason(battles: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per source, how many votes each stored reason keeps out (a vote with two reasons is under both). Counts the
    distinct stored verdicts, not the votes' text: a few dozen strings at any size."""
    frame = battles[["source", "excluded_reason"]].dropna()
    out: dict[str, dict[str, int]] = {}
    for (source, stored), n in frame.groupby(["source", "excluded_reason"], observed=True).size().items():
        if n:
            into = out.setdefault(str(source), {})
            for reason in reasons_of(str(stored)):
                into[reason] = into.get(reason, 0) + int(n)
    return {source: dict(sorted(reasons.items(), key=lambda kv: -kv[1])) for source, reasons in out.items()}


# Normalized once above; each view gets only its own votes and skips the online-Elo replay (a loop over every
# vote), which the page does not show.
_FAST = {"normalized": True, "with_online_elo": False}


def _views(votes: pd.DataFrame, source: str, category: str | None) -> tuple[dict[str, dict[str, Any]], Leaderboard]:
    """The plain and the style-controlled view of these votes (the latter only when every vote has the style
    features), and the plain leaderboard (its matrices are shown for a whole source)."""
    board = compute_leaderboard(votes, source=source, category=category, **_FAST)
    views = {view_key(source, category, False): board.to_dict()}
    try:
        styled = compute_leaderboard(votes, source=source, category=category, style_control=True, **_FAST)
    except StyleFeaturesMissing:
        return views, board
    views[view_key(source, category, True)] = _style_view(styled)
    return views, board


def _style_view(board: Leaderboard) -> dict[str, Any]:
    """The style-controlled ratings in the rating columns, ranked by them."""
    view = board.to_dict()
    rows = []
    for row in view["rows"]:
        if row.get("style_rating") is None:
            continue
        rows.append(
            {
                **row,
                "rating": row["style_rating"],
                "lower": row["style_lower"],
                "upper": row["style_upper"],
                "rank_ub": row["style_rank_ub"],
            }
        )
    view["rows"] = sorted(rows, key=lambda r: (r["rank_ub"], -r["rating"]))
    return view


def _matrices(board: Leaderboard) -> dict[str, Any]:
    if board.empty:
        return {"models": [], "win_fraction": [], "battle_count": [], "predicted": []}
    matrices = board.matrices()
    order = [row.model for row in board.rows]  # best first, like the table
    index = [matrices.models.index(m) for m in order]

    def listed(matrix: np.ndarray) -> list[list[float | None]]:
        picked = matrix[np.ix_(index, index)]
        return [[None if math.isnan(v) else float(v) for v in row] for row in picked]

    return {
        "models": order,
        "win_fraction": listed(matrices.win_fraction),
        "battle_count": listed(matrices.battles),
        "predicted": listed(matrices.predicted),
    }


def _validation_text(report: ValidationReport) -> dict[str, Any]:
    """Markdown for the page: out-of-sample log-loss and accuracy per method, and the verdict."""
    lines = [
        "Fit on the earlier votes, predict the later ones "
        f"({report.n_train:,} to train on, {report.n_test:,} to predict).",
        "",
    ]
    if report.scores:
        lines += ["| method | log-loss | accuracy (decisive votes) |", "|---|---:|---:|"]
        lines += [f"| {s.method} | {s.log_loss:.4f} | {s.accuracy:.1%} |" for s in report.scores]
        lines.append("")
    lines.append(f"**{report.verdict}**")
    lines += [f"- {note}" for note in report.notes]
    return {"text": "\n".join(lines), "better_than_coin": report.better_than_coin}
