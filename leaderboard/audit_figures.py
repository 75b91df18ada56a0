"""Plotly figures of the judge audit, drawn from `report_json(report)` (leaderboard.judge_audit); no fitting here.

    audit_figures(report) -> (position, length, agreement by category, agreement by entropy, self-preference)

Each figure reads only the keys below and tolerates anything missing, null or extra (an old stored snapshot, a
report from a newer audit): a point without a value is left out, and a figure with nothing to show says so in an
annotation starting "No data". Every share is drawn with its 95% interval as error bars.

    report["judges"]: [source, ...]; report["human"]: source or null; report["human_human"]["without_ties"]
    source: {"source", "position": {"first_wins"}, "length": {"bins": [{"low", "high", "longer_wins"}]},
             "self_preference": {"models", "source_win_rate", "human_win_rate"},
             "humans": null or {"overall", "per_category", "per_entropy": [{"group", "agreement"}]}}
    an estimate: {"value", "low", "high", "n"}

Names in a report come from whoever wrote the battles file (judges, categories, models): they are escaped before
plotly sees them, since plotly reads a few HTML tags (links among them) in any label.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import plotly.graph_objects as go

PEOPLE = "people"
PEOPLE_COLOR = "#555555"
# One colour per judge, the same in every figure (plotly's default qualitative palette).
JUDGE_COLORS = (
    "#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52",
)  # fmt: skip
REFERENCE = "#888888"
LABEL_CHARS = 48  # a longer name is cut (with an ellipsis) in axis labels and legends; hover shows it whole
ALL_TURNS = "all turns"
MAX_HEIGHT = 1600  # pixels: a file with dozens of judges and categories gets crowded rows, not an endless page
Grouping = Literal["category", "entropy"]


@dataclass(frozen=True)
class Point:
    value: float
    low: float | None
    high: float | None
    n: int

    def minus(self) -> float:
        return 0.0 if self.low is None else max(0.0, self.value - self.low)

    def plus(self) -> float:
        return 0.0 if self.high is None else max(0.0, self.high - self.value)

    def text(self) -> str:
        interval = "" if self.low is None or self.high is None else f" [{self.low:.0%}, {self.high:.0%}]"
        return f"{self.value:.1%}{interval}, n = {self.n:,}"


@dataclass(frozen=True)
class Source:
    name: str  # as in the report ("judge:gpt-4"), or PEOPLE
    audit: Mapping[str, Any]
    color: str
    is_people: bool = False


# ------------------------------------------------------------------------------------------------------- figures


def audit_figures(report: Mapping[str, Any] | None) -> tuple[go.Figure, ...]:
    """Every figure of the audit, in the order the page shows them."""
    return (
        position_figure(report),
        length_figure(report),
        agreement_figure(report, "category"),
        agreement_figure(report, "entropy"),
        self_preference_figure(report),
    )


def position_figure(report: Mapping[str, Any] | None) -> go.Figure:
    """Per judge, the share of decisive verdicts for the answer shown first; people on the same battles on top,
    the baseline (with one order only it also carries whatever decided which model was shown first)."""
    title = "Position bias: decisive verdicts for the answer shown first"
    sources = _sources(report, people_first=True)
    rows = [(source, point) for source in sources if (point := _point(source.audit, "position", "first_wins"))]
    if not rows:
        return _no_data(title, "No data: no decisive verdicts to measure position bias on.")
    figure = go.Figure()
    for people in (True, False):
        chosen = [(index, source, point) for index, (source, point) in enumerate(rows) if source.is_people == people]
        if not chosen:
            continue
        figure.add_trace(
            go.Scatter(
                name="people (baseline)" if people else "judges",
                x=[point.value for _, _, point in chosen],
                y=[index for index, _, _ in chosen],
                mode="markers",
                marker={"size": 10, "color": [source.color for _, source, _ in chosen]},
                error_x=_errors([point for _, _, point in chosen]),
                customdata=[_hover(source.name, point) for _, source, point in chosen],
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    _reference(figure, 0.5, "no bias", vertical=True)
    _category_axis(figure, "y", [_label(source.name) for source, _ in rows])
    figure.update_layout(
        title=title,
        xaxis={"title": "share of decisive verdicts for the first answer (95% interval)", **_SHARE_AXIS},
        height=min(MAX_HEIGHT, max(260, 40 * len(rows) + 160)),
        showlegend=False,
        margin={"l": 10, "r": 10},
    )
    return figure


def length_figure(report: Mapping[str, Any] | None) -> go.Figure:
    """How often the longer answer wins a decisive verdict, by relative length difference |a - b| / (a + b):
    a line per judge and one for people (the same bins)."""
    title = "Length bias: the longer answer's win probability"
    series: list[tuple[Source, list[tuple[tuple[float, float], Point]]]] = []
    for source in _sources(report, people_first=False):
        points = []
        for item in _list(_get(source.audit, "length", "bins")):
            edges = (_number(_get(item, "low")), _number(_get(item, "high")))
            point = _point(item, "longer_wins")
            if point is not None and edges[0] is not None and edges[1] is not None:
                points.append(((edges[0], edges[1]), point))
        if points:
            series.append((source, points))  # type: ignore[arg-type]
    if not series:
        return _no_data(title, "No data: no decisive verdicts between answers of different length.")
    bins = sorted({edges for _, points in series for edges, _ in points})
    position = {edges: index for index, edges in enumerate(bins)}
    figure = go.Figure()
    for offset, (source, points) in zip(_offsets(len(series)), series, strict=True):
        figure.add_trace(
            go.Scatter(
                name=_label(source.name),
                x=[position[edges] + offset for edges, _ in points],
                y=[point.value for _, point in points],
                mode="lines+markers",
                line={"color": source.color, "dash": "dash" if source.is_people else "solid"},
                marker={"size": 8, "color": source.color},
                error_y=_errors([point for _, point in points], source.color),
                customdata=[f"{_full(source.name)}, {_bin_label(edges)}: {point.text()}" for edges, point in points],
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    _reference(figure, 0.5, "length does not matter", vertical=False)
    _category_axis(figure, "x", [_bin_label(edges) for edges in bins], reversed_=False)
    figure.update_layout(
        title=title,
        xaxis_title="relative length difference |a − b| / (a + b)",
        yaxis={"title": "longer answer wins (95% interval)", **_SHARE_AXIS},
        height=420,
        margin={"l": 10, "r": 10},
    )
    return figure


def agreement_figure(report: Mapping[str, Any] | None, by: Grouping) -> go.Figure:
    """Per judge, agreement with the human majority on turns where both are decisive (chance 1/2), by category
    or by entropy group (then all turns first); the chance that two people agree is the reference band."""
    title = f"Agreement with people by {'category' if by == 'category' else 'entropy group'} (without ties)"
    key = "per_category" if by == "category" else "per_entropy"
    series: list[tuple[Source, list[tuple[str, Point]]]] = []
    for source in _sources(report, people_first=False, people=False):
        humans = _get(source.audit, "humans")
        points = []
        if by == "entropy" and (overall := _point(humans, "overall", "without_ties")):
            points.append((ALL_TURNS, overall))
        for item in _list(_get(humans, key)):
            group, point = _get(item, "group"), _point(item, "agreement", "without_ties")
            if isinstance(group, str) and point is not None:
                points.append((group, point))
        if points:
            series.append((source, points))
    if not series:
        return _no_data(title, "No data: no battle turn with both a judge's verdict and a human majority.")
    groups = list(dict.fromkeys(group for _, points in series for group, _ in points))
    position = {group: index for index, group in enumerate(groups)}
    figure = go.Figure()
    for offset, (source, points) in zip(_offsets(len(series)), series, strict=True):
        figure.add_trace(
            go.Scatter(
                name=_label(source.name),
                x=[point.value for _, point in points],
                y=[position[group] + offset for group, _ in points],
                mode="markers",
                marker={"size": 9, "color": source.color},
                error_x=_errors([point for _, point in points], source.color),
                customdata=[f"{_full(source.name)}, {_full(group)}: {point.text()}" for group, point in points],
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    _reference(figure, 0.5, "chance", vertical=True, dash="dot")
    people = _point(report, "human_human", "without_ties")
    if people is not None:
        if people.low is not None and people.high is not None:
            figure.add_vrect(x0=people.low, x1=people.high, fillcolor=REFERENCE, opacity=0.15, line_width=0)
        _reference(figure, people.value, f"two people agree: {people.value:.0%}", vertical=True, dash="solid")
    _category_axis(figure, "y", [_label(group) for group in groups])
    figure.update_layout(
        title=title,
        xaxis={"title": "share of decisive turns where the judge sides with the majority (95% interval)"} | _SHARE_AXIS,
        height=min(MAX_HEIGHT, max(300, len(groups) * (16 + 8 * len(series)) + 200)),
        margin={"l": 10, "r": 10},
    )
    return figure


def self_preference_figure(report: Mapping[str, Any] | None) -> go.Figure:
    """Per judge with models trained on its outputs: how often those models win a decisive verdict by the judge,
    against by people (the majority) on the same battle turns. Judges without such models are left out."""
    title = "Self-preference: models trained on the judge's outputs, their win rate"
    judges = _sources(report, people_first=False, people=False)
    with_models = [s for s in judges if _list(_get(s.audit, "self_preference", "models"))]
    if not with_models:
        return _no_data(
            title,
            "No data: no judge has self-trained models in this report "
            "(models trained on a judge's outputs, named in the registry's provenance).",
        )
    rows = []
    for source in with_models:
        by_judge = _point(source.audit, "self_preference", "source_win_rate")
        by_people = _point(source.audit, "self_preference", "human_win_rate")
        if by_judge is not None or by_people is not None:
            rows.append((source, by_judge, by_people))
    kept = {id(source) for source in with_models}
    left_out = [source.name for source in judges if id(source) not in kept]
    if left_out:
        title += f"<br><sup>left out, no self-trained models: {_label(', '.join(left_out))}</sup>"
    if not rows:
        return _no_data(title, "No data: no decisive verdict on a battle between a self-trained model and another.")
    figure = go.Figure()
    for offset, (who, column, color) in zip(
        _offsets(2), (("by the judge", 1, None), ("by people", 2, PEOPLE_COLOR)), strict=True
    ):
        chosen = [(index, row[0], row[column]) for index, row in enumerate(rows) if row[column] is not None]
        if not chosen:
            continue
        figure.add_trace(
            go.Scatter(
                name=who,
                x=[point.value for _, _, point in chosen],
                y=[index + offset for index, _, _ in chosen],
                mode="markers",
                marker={
                    "size": 10,
                    "symbol": "circle" if color is None else "diamond",
                    "color": [color or source.color for _, source, _ in chosen],
                },
                error_x=_errors([point for _, _, point in chosen]),
                customdata=[
                    f"{_full(source.name)} ({_models(source)}), {who}: {point.text()}" for _, source, point in chosen
                ],
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    _reference(figure, 0.5, "even", vertical=True)
    _category_axis(figure, "y", [_label(source.name) for source, _, _ in rows])
    figure.update_layout(
        title=title,
        xaxis={"title": "self-trained models' share of decisive wins (95% interval)", **_SHARE_AXIS},
        height=min(MAX_HEIGHT, max(260, 60 * len(rows) + 180)),
        margin={"l": 10, "r": 10},
    )
    return figure


# ------------------------------------------------------------------------------------------------------ reading


def _get(value: Any, *keys: str) -> Any:
    """value[k1][k2]..., or None as soon as a level is not a mapping or lacks the key."""
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str | bytes) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _point(value: Any, *keys: str) -> Point | None:
    """The estimate at `keys`, or None when it is missing or has no finite value."""
    estimate = _get(value, *keys)
    centre = _number(_get(estimate, "value"))
    if centre is None:
        return None
    n = _get(estimate, "n")
    return Point(
        centre,
        _number(_get(estimate, "low")),
        _number(_get(estimate, "high")),
        int(n) if isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) else 0,
    )


def _sources(report: Mapping[str, Any] | None, *, people_first: bool, people: bool = True) -> list[Source]:
    """The judges in report order (a colour each), with people first or last when asked and present."""
    judges = [
        Source(str(audit.get("source", f"judge {index + 1}")), audit, JUDGE_COLORS[index % len(JUDGE_COLORS)])
        for index, audit in enumerate(item for item in _list(_get(report, "judges")) if isinstance(item, Mapping))
    ]
    human = _get(report, "human")
    if not people or not isinstance(human, Mapping):
        return judges
    baseline = Source(PEOPLE, human, PEOPLE_COLOR, is_people=True)
    return [baseline, *judges] if people_first else [*judges, baseline]


def _models(source: Source) -> str:
    names = [str(m) for m in _list(_get(source.audit, "self_preference", "models"))]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return _full(shown)


# ------------------------------------------------------------------------------------------------------ drawing

# 0% to 100% in full, with room for a point (and its marker) at either end.
_SHARE_AXIS: dict[str, Any] = {"range": [-0.03, 1.03], "tickformat": ".0%", "dtick": 0.2, "zeroline": False}


def _full(name: str) -> str:
    """A name from the file, as text for plotly (which would read <a>, <b>, <br> ... in it). Quotes stay: outside a
    tag they are text, and plotly does not decode &quot;."""
    return html.escape(str(name), quote=False)


def _label(name: str) -> str:
    text = str(name)
    return _full(text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…")


def _hover(name: str, point: Point) -> str:
    return f"{_full(name)}: {point.text()}"


def _bin_label(edges: tuple[float, float]) -> str:
    return f"{edges[0]:.0%}–{edges[1]:.0%}"


def _errors(points: Sequence[Point], color: str | None = None) -> dict[str, Any]:
    return {
        **({"color": color} if color else {}),
        "type": "data",
        "symmetric": False,
        "array": [point.plus() for point in points],
        "arrayminus": [point.minus() for point in points],
    }


def _offsets(count: int) -> list[float]:
    """Where each of `count` series sits around its row, so that their intervals do not hide each other."""
    step = min(0.15, 0.6 / max(count, 1))
    return [(index - (count - 1) / 2) * step for index in range(count)]


def _category_axis(figure: go.Figure, axis: str, labels: Sequence[str], *, reversed_: bool = True) -> None:
    """Rows (or columns) at 0, 1, 2 ... named by `labels`: numeric, so that several series can sit side by side."""
    settings: dict[str, Any] = {
        "tickmode": "array",
        "tickvals": list(range(len(labels))),
        "ticktext": list(labels),
        "range": [len(labels) - 0.5, -0.5] if reversed_ else [-0.5, len(labels) - 0.5],
        "zeroline": False,
        "showgrid": False,
    }
    (figure.update_yaxes if axis == "y" else figure.update_xaxes)(**settings)


def _reference(figure: go.Figure, at: float, text: str, *, vertical: bool, dash: str = "dash") -> None:
    line = {"line_dash": dash, "line_color": REFERENCE, "annotation_text": text, "annotation_font_color": REFERENCE}
    if vertical:
        figure.add_vline(x=at, annotation_position="top", **line)
    else:
        figure.add_hline(y=at, annotation_position="top left", **line)


def _no_data(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 14, "color": "#666"}
    )
    figure.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, height=240)
    return figure
