"""Plotly figures for the leaderboard page, drawn from a snapshot's JSON (no fitting here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go


def forest_plot(rows: Sequence[dict[str, Any]], title: str = "Ratings with 95% confidence intervals") -> go.Figure:
    """One horizontal interval per model, best at the top."""
    ordered = sorted(rows, key=lambda r: r["rating"])
    figure = go.Figure(
        go.Scatter(
            x=[r["rating"] for r in ordered],
            y=[r["model"] for r in ordered],
            mode="markers",
            marker={"size": 9},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [_gap(r.get("upper"), r["rating"]) for r in ordered],
                "arrayminus": [_gap(r["rating"], r.get("lower")) for r in ordered],
            },
            hovertemplate="%{y}: %{x:.0f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title, xaxis_title="rating", height=max(260, 28 * len(ordered) + 120), margin={"l": 10, "r": 10}
    )
    return figure


def heatmap(models: Sequence[str], matrix: Sequence[Sequence[float | None]], title: str, *, percent: bool) -> go.Figure:
    """Row model against column model; empty cells where the pair never met."""
    text = [[_cell(v, percent) for v in row] for row in matrix]
    figure = go.Figure(
        go.Heatmap(
            z=[[None if v is None else v for v in row] for row in matrix],
            x=list(models),
            y=list(models),
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu" if percent else "Blues",
            zmid=0.5 if percent else None,
            hovertemplate="%{y} vs %{x}: %{text}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"title": "model B", "tickangle": -45},
        yaxis={"title": "model A", "autorange": "reversed"},
        height=max(360, 36 * len(models) + 200),
        margin={"t": 60},
    )
    return figure


def _gap(high: float | None, low: float | None) -> float:
    return 0.0 if high is None or low is None else max(0.0, float(high) - float(low))


def _cell(value: float | None, percent: bool) -> str:
    if value is None:
        return ""
    return f"{value:.0%}" if percent else f"{value:.0f}"
