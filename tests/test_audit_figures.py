"""Specification of leaderboard.audit_figures: the judge audit's pictures carry the report's numbers (LLMFAO), and
an empty, partial, null or hostile report gives figures that say so instead of raising."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest

from leaderboard.audit_figures import (
    ALL_TURNS,
    agreement_figure,
    audit_figures,
    length_figure,
    position_figure,
    self_preference_figure,
)
from leaderboard.judge_audit import audit_judges, report_json
from leaderboard.llmfao import load_llmfao
from tests.shared_data import require_llmfao

# Planted: one LLMFAO model said to be trained on GPT-4's outputs, none on GPT-3.5's.
SELF_TRAINED = {"Vicuna v1.5 (13B)": "fine-tuned on GPT-4 outputs"}


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    battles = load_llmfao(require_llmfao())
    return report_json(audit_judges(battles, self_trained=SELF_TRAINED, rounds=50))


def trace(figure: go.Figure, name: str) -> Any:
    (found,) = [t for t in figure.data if t.name == name]
    return found


def judge(report: dict[str, Any], source: str) -> dict[str, Any]:
    (found,) = [j for j in report["judges"] if j["source"] == source]
    return found


def no_data(figure: go.Figure) -> bool:
    return not figure.data and any(a.text.startswith("No data") for a in figure.layout.annotations)


def lines_at(figure: go.Figure, x: float) -> list[Any]:
    return [s for s in figure.layout.shapes if s.type == "line" and s.x0 == pytest.approx(x) == s.x1]


def assert_errors(bars: Any, estimates: list[dict[str, Any]]) -> None:
    assert list(bars.array) == pytest.approx([e["high"] - e["value"] for e in estimates])
    assert list(bars.arrayminus) == pytest.approx([e["value"] - e["low"] for e in estimates])


# ---- a real report ----------------------------------------------------------------------------------------------


def test_position_bias_shows_each_judge_against_people_with_intervals(report: dict[str, Any]) -> None:
    figure = position_figure(report)
    assert list(figure.layout.yaxis.ticktext) == ["people", "judge:gpt-3.5", "judge:gpt-4"]
    people, judges = trace(figure, "people (baseline)"), trace(figure, "judges")
    human = report["human"]["position"]["first_wins"]
    assert list(people.x) == pytest.approx([human["value"]]) and list(people.y) == [0]
    estimates = [judge(report, s)["position"]["first_wins"] for s in ("judge:gpt-3.5", "judge:gpt-4")]
    assert list(judges.x) == pytest.approx([e["value"] for e in estimates]) and list(judges.y) == [1, 2]
    assert_errors(judges.error_x, estimates)
    assert lines_at(figure, 0.5), "the no-bias reference"
    assert f"n = {estimates[1]['n']:,}" in judges.customdata[1]


def test_length_bias_is_a_line_per_judge_and_one_for_people_over_the_bins(report: dict[str, Any]) -> None:
    figure = length_figure(report)
    assert [t.name for t in figure.data] == ["judge:gpt-3.5", "judge:gpt-4", "people"]
    assert list(figure.layout.xaxis.ticktext) == ["0%–10%", "10%–25%", "25%–50%", "50%–100%"]
    for name, source in (("judge:gpt-4", judge(report, "judge:gpt-4")), ("people", report["human"])):
        line = trace(figure, name)
        estimates = [b["longer_wins"] for b in source["length"]["bins"]]
        assert list(line.y) == pytest.approx([e["value"] for e in estimates])
        assert [round(x) for x in line.x] == [0, 1, 2, 3], "each point sits at its bin"
        assert_errors(line.error_y, estimates)
    assert trace(figure, "people").line.dash == "dash"
    assert [s.y0 for s in figure.layout.shapes] == [0.5]


def test_agreement_by_category_per_judge_with_the_two_people_reference(report: dict[str, Any]) -> None:
    figure = agreement_figure(report, "category")
    gpt4 = judge(report, "judge:gpt-4")["humans"]["per_category"]
    groups = list(figure.layout.yaxis.ticktext)
    assert groups == [g["group"] for g in judge(report, "judge:gpt-3.5")["humans"]["per_category"]]
    line = trace(figure, "judge:gpt-4")
    assert list(line.x) == pytest.approx([g["agreement"]["without_ties"]["value"] for g in gpt4])
    assert [groups[round(y)] for y in line.y] == [g["group"] for g in gpt4]
    assert_errors(line.error_x, [g["agreement"]["without_ties"] for g in gpt4])
    people = report["human_human"]["without_ties"]
    assert lines_at(figure, people["value"]) and lines_at(figure, 0.5), "two people agree; chance"
    (band,) = [s for s in figure.layout.shapes if s.type == "rect"]
    assert (band.x0, band.x1) == pytest.approx((people["low"], people["high"]))


def test_agreement_by_entropy_group_starts_with_all_turns(report: dict[str, Any]) -> None:
    figure = agreement_figure(report, "entropy")
    assert list(figure.layout.yaxis.ticktext) == [ALL_TURNS, "low entropy", "high entropy"]
    humans = judge(report, "judge:gpt-3.5")["humans"]
    expected = [humans["overall"]["without_ties"]] + [g["agreement"]["without_ties"] for g in humans["per_entropy"]]
    assert list(trace(figure, "judge:gpt-3.5").x) == pytest.approx([e["value"] for e in expected])


def test_self_preference_shows_judges_with_self_trained_models_and_names_those_left_out(
    report: dict[str, Any],
) -> None:
    figure = self_preference_figure(report)
    assert list(figure.layout.yaxis.ticktext) == ["judge:gpt-4"]
    assert "left out, no self-trained models: judge:gpt-3.5" in figure.layout.title.text
    preference = judge(report, "judge:gpt-4")["self_preference"]
    assert preference["models"] == list(SELF_TRAINED)
    for name, key in (("by the judge", "source_win_rate"), ("by people", "human_win_rate")):
        assert list(trace(figure, name).x) == pytest.approx([preference[key]["value"]])
        assert_errors(trace(figure, name).error_x, [preference[key]])
    assert "Vicuna v1.5 (13B)" in trace(figure, "by the judge").customdata[0]


def test_without_self_trained_models_the_figure_says_so(report: dict[str, Any]) -> None:
    plain = copy.deepcopy(report)
    judge(plain, "judge:gpt-4")["self_preference"]["models"] = []
    figure = self_preference_figure(plain)
    assert no_data(figure) and "no judge has self-trained models" in figure.layout.annotations[0].text


def test_the_figures_serialise_for_the_browser(report: dict[str, Any]) -> None:
    for figure in audit_figures(report):
        assert json.loads(figure.to_json())["data"]


# ---- empty, partial and degenerate reports ----------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, {}, {"judges": [], "human": None}, {"judges": "garbage", "human": 3}])
def test_an_empty_report_gives_figures_that_say_no_data(empty: Any) -> None:
    figures = audit_figures(empty)
    assert len(figures) == 5 and all(no_data(f) for f in figures)


def test_a_report_without_people_has_no_baseline_and_no_agreement() -> None:
    rows = [
        {"model_a": "alpha", "model_b": "beta", "winner": w, "source": "judge:gpt-4", "battle_id": f"b{i}"}
        for i, w in enumerate(["model_a", "model_b", "model_a", "tie"] * 5)
    ]
    report = report_json(audit_judges(pd.DataFrame(rows).assign(len_a=10, len_b=30), rounds=5))
    assert report["human"] is None
    position = position_figure(report)
    assert [t.name for t in position.data] == ["judges"] and list(position.layout.yaxis.ticktext) == ["judge:gpt-4"]
    assert list(position.data[0].x) == pytest.approx([2 / 3])
    assert [t.name for t in length_figure(report).data] == ["judge:gpt-4"]
    assert no_data(agreement_figure(report, "category")) and no_data(agreement_figure(report, "entropy"))


def nulled(value: Any) -> Any:
    """The report with every estimate's numbers null (what report_json writes for NaN)."""
    if isinstance(value, dict):
        if {"value", "low", "high", "n"} <= set(value):
            return {**value, "value": None, "low": None, "high": None, "n": 0}
        return {key: nulled(item) for key, item in value.items()}
    if isinstance(value, list):
        return [nulled(item) for item in value]
    return value


def test_all_null_estimates_give_no_data_figures(report: dict[str, Any]) -> None:
    assert all(no_data(figure) for figure in audit_figures(nulled(report)))


def test_a_missing_or_nan_point_is_left_out_and_the_rest_is_drawn(report: dict[str, Any]) -> None:
    partial = copy.deepcopy(report)
    bins = judge(partial, "judge:gpt-4")["length"]["bins"]
    bins[1]["longer_wins"]["value"] = None
    bins[2]["longer_wins"] = {"value": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    line = trace(length_figure(partial), "judge:gpt-4")
    assert [round(x) for x in line.x] == [0, 3] and list(line.y) == pytest.approx(
        [bins[0]["longer_wins"]["value"], bins[3]["longer_wins"]["value"]]
    )
    first = judge(partial, "judge:gpt-3.5")["position"]["first_wins"]
    first["low"] = first["high"] = None  # a value without an interval: drawn, with no error bar
    judge(partial, "judge:gpt-4").pop("position")
    judges = trace(position_figure(partial), "judges")
    assert list(judges.x) == pytest.approx([first["value"]]) and list(judges.error_x.array) == [0.0]


def test_unknown_keys_are_ignored_and_missing_sections_tolerated(report: dict[str, Any]) -> None:
    odd = copy.deepcopy(report)
    odd["evaluators"] = [{"whatever": 1}]
    for source in odd["judges"]:
        source["columns"] = {"new": True}
        source.pop("humans")
        source["length"] = {"bins": [{"low": None, "high": 0.1, "longer_wins": source["length"]["longer_wins"]}]}
    figures = audit_figures(odd)
    assert not no_data(figures[0]) and [t.name for t in figures[1].data] == ["people"]
    assert no_data(figures[2]) and no_data(figures[3])


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in strings(item)]
    return []


def test_names_from_the_file_reach_plotly_as_text(report: dict[str, Any]) -> None:
    hostile = copy.deepcopy(report)
    name = "judge:<a href='javascript:alert(1)'>x</a><br>" + "y" * 80
    gpt4 = judge(hostile, "judge:gpt-4")
    gpt4["source"] = name
    gpt4["humans"]["per_category"][0]["group"] = "<b>bold</b>"
    for figure in audit_figures(hostile):
        shown = " ".join(strings(figure.to_plotly_json()))
        assert "<a " not in shown and "<b>" not in shown
    assert "&lt;b&gt;bold&lt;/b&gt;" in agreement_figure(hostile, "category").layout.yaxis.ticktext
    position = position_figure(hostile)
    label = position.layout.yaxis.ticktext[-1]
    assert label.startswith("judge:&lt;a href='javascript") and label.endswith("…") and "y" * 80 not in label
    assert "y" * 80 in position.data[1].customdata[-1], "the hover shows the whole name"
