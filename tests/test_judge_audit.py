"""Specification of leaderboard.judge_audit: planted biases are found, degenerate input is defined, LLMFAO runs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leaderboard.judge_audit import (
    AuditReport,
    Estimate,
    SourceAudit,
    audit_judges,
    render_markdown,
    report_json,
    wilson,
)
from leaderboard.llmfao import load_llmfao
from tests.shared_data import require_llmfao

MODELS = [f"model-{index}" for index in range(8)]


def _covers(estimate: Estimate, value: float) -> bool:
    return estimate.low <= value <= estimate.high


def _battles(n: int, seed: int, *, wordy: str | None = None) -> pd.DataFrame:
    """n single-turn battles between random distinct models, with lengths; `wordy` writes longer answers."""
    generator = np.random.default_rng(seed)
    first = generator.integers(0, len(MODELS), n)
    second = (first + generator.integers(1, len(MODELS), n)) % len(MODELS)
    frame = pd.DataFrame(
        {
            "model_a": [MODELS[i] for i in first],
            "model_b": [MODELS[i] for i in second],
            "battle_id": [f"b{index}" for index in range(n)],
            "turn": 1,
            "category": generator.choice(["math", "creative_writing", "open_qa", "chat"], n),
            "len_a": generator.normal(200, 60, n).clip(5).round(),
            "len_b": generator.normal(200, 60, n).clip(5).round(),
        }
    )
    if wordy is not None:
        frame.loc[frame["model_a"] == wordy, "len_a"] += 120
        frame.loc[frame["model_b"] == wordy, "len_b"] += 120
    return frame


def _votes(battles: pd.DataFrame, winners: np.ndarray, source: str) -> pd.DataFrame:
    return battles.assign(winner=winners, source=source, judge=source.removeprefix("judge:"))


def _judge(report: AuditReport, source: str) -> SourceAudit:
    (audit,) = (a for a in report.judges if a.source == source)
    return audit


def test_wilson_interval() -> None:
    assert wilson(0, 0).n == 0 and math.isnan(wilson(0, 0).value)
    half = wilson(50, 100)
    assert half.value == 0.5 and half.low == pytest.approx(1 - half.high)
    assert half.low == pytest.approx(0.4038, abs=1e-4)
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == 1.0


def test_planted_first_position_bias_of_70_percent() -> None:
    battles = _battles(3000, seed=1)
    generator = np.random.default_rng(2)
    judge = np.where(generator.random(len(battles)) < 0.7, "model_a", "model_b")
    people = np.where(generator.random(len(battles)) < 0.5, "model_a", "model_b")
    report = audit_judges(pd.concat([_votes(battles, judge, "judge:biased"), _votes(battles, people, "human")]))
    first_wins = _judge(report, "judge:biased").position.first_wins
    assert first_wins.n == 3000
    assert first_wins.value == pytest.approx(0.7, abs=0.03)
    assert _covers(first_wins, 0.7)
    assert first_wins.high - first_wins.low < 0.04
    assert report.human is not None and _covers(report.human.position.first_wins, 0.5)


def test_swap_survival_from_both_orders() -> None:
    battles = _battles(400, seed=3)
    swapped = battles.rename(columns={"model_a": "model_b", "model_b": "model_a", "len_a": "len_b", "len_b": "len_a"})
    both = pd.concat([battles.assign(order="original"), swapped.assign(order="swapped")], ignore_index=True)
    both["pair_id"] = both["battle_id"]
    # "always the first answer" never survives a swap; "always the alphabetically first model" always does
    position = _votes(both, np.full(len(both), "model_a"), "judge:position")
    by_name = _votes(both, np.where(both["model_a"] < both["model_b"], "model_a", "model_b"), "judge:name")
    people = _votes(battles, np.where(battles["model_a"] < battles["model_b"], "model_a", "model_b"), "human")
    report = audit_judges(pd.concat([position, by_name, people], ignore_index=True))
    assert _judge(report, "judge:position").position.swap_survival.value == 0.0
    assert _judge(report, "judge:position").position.swap_survival.n == 400
    assert _judge(report, "judge:name").position.swap_survival.value == 1.0
    # both orders disagree -> the turn's verdict is a tie, so a position-only judge never agrees without ties
    position_humans = _judge(report, "judge:position").humans
    assert position_humans is not None and position_humans.overall.with_ties.value == 0.0
    assert position_humans.overall.without_ties.n == 0
    name_humans = _judge(report, "judge:name").humans
    assert name_humans is not None and name_humans.overall.without_ties.value == 1.0


def test_judge_that_always_picks_the_longer_answer() -> None:
    battles = _battles(1500, seed=4)
    battles = battles[battles["len_a"] != battles["len_b"]]
    judge = np.where(battles["len_a"] > battles["len_b"], "model_a", "model_b")
    report = audit_judges(_votes(battles, judge, "judge:verbose"))
    length = _judge(report, "judge:verbose").length
    assert length.longer_wins.value == 1.0 and length.longer_wins.n == len(battles)
    assert all(b.longer_wins.value == 1.0 for b in length.bins if b.longer_wins.n)
    assert sum(b.longer_wins.n for b in length.bins) == len(battles)
    assert length.length_slope.low > 5  # separation: large and finite thanks to the tiny ridge
    assert math.isfinite(length.length_slope.value)
    assert report.human is None and "no human votes" in report.messages[0]


def test_length_controlled_win_rate_removes_a_length_advantage() -> None:
    battles = _battles(4000, seed=5, wordy="model-0")
    generator = np.random.default_rng(6)
    # every model is equally good; the judge only likes length
    term = np.tanh((battles["len_a"] - battles["len_b"]).to_numpy() / 100)
    judge = np.where(generator.random(len(battles)) < 1 / (1 + np.exp(-3 * term)), "model_a", "model_b")
    report = audit_judges(_votes(battles, judge, "judge:verbose"))
    per_model = {row.model: row for row in _judge(report, "judge:verbose").length.per_model}
    wordy = per_model["model-0"]
    assert wordy.win_rate.value > 0.75
    assert _covers(wordy.lc_win_rate, 0.5)
    assert wordy.length_coefficient > 1
    # the other models are pulled down by the wordy one in raw terms, not once length is controlled
    others = [per_model[m].lc_win_rate for m in MODELS[1:]]
    assert sum(_covers(lc, 0.5) for lc in others) >= len(others) - 1


def test_judge_that_agrees_with_people_80_percent() -> None:
    battles = _battles(2500, seed=7)
    generator = np.random.default_rng(8)
    people = np.where(generator.random(len(battles)) < 0.5, "model_a", "model_b")
    other = np.where(people == "model_a", "model_b", "model_a")
    judge = np.where(generator.random(len(battles)) < 0.8, people, other)
    report = audit_judges(pd.concat([_votes(battles, people, "human"), _votes(battles, judge, "judge:echo")]))
    humans = _judge(report, "judge:echo").humans
    assert humans is not None and humans.turns == 2500 and humans.no_majority == 0
    for estimate in (humans.overall.with_ties, humans.overall.without_ties):
        assert _covers(estimate, 0.8) and estimate.value == pytest.approx(0.8, abs=0.03)
    assert {g.group for g in humans.per_entropy} == {"low entropy", "high entropy", "other"}
    assert {g.group for g in humans.per_category} == {"math", "creative_writing", "open_qa", "chat"}
    assert all(_covers(g.agreement.without_ties, 0.8) for g in humans.per_category)
    assert report.human_turns == 2500
    assert report.human_human.with_ties.n == 0  # one vote per turn: no pair of people to compare


def test_human_majority_ties_and_splits() -> None:
    battles = _battles(3, seed=9)
    a, b = battles.iloc[0], battles.iloc[1]
    rows = [
        # turn 0: two for model_a, one tie -> majority model_a
        *({**a, "winner": w, "source": "human"} for w in ("model_a", "model_a", "tie")),
        # turn 1: one each -> no majority, left out
        *({**b, "winner": w, "source": "human"} for w in ("model_a", "model_b")),
        {**a, "winner": "model_a", "source": "judge:j"},
        {**b, "winner": "model_b", "source": "judge:j"},
    ]
    report = audit_judges(pd.DataFrame(rows))
    humans = _judge(report, "judge:j").humans
    assert humans is not None and (humans.turns, humans.no_majority) == (1, 1)
    assert humans.overall.with_ties.value == 1.0
    # pairs of human votes: turn 0 has 3 pairs, 1 agreeing; turn 1 has 1 pair, none agreeing
    assert report.human_human.with_ties.value == pytest.approx(1 / 4)
    assert report.human_human.without_ties.value == pytest.approx(1 / 2)


def test_self_preference_from_provenance() -> None:
    battles = _battles(3000, seed=10)
    generator = np.random.default_rng(11)
    people = np.where(generator.random(len(battles)) < 0.5, "model_a", "model_b")
    favourite = "model-3"
    judge = np.where(
        battles["model_a"] == favourite, "model_a", np.where(battles["model_b"] == favourite, "model_b", people)
    )
    provenance = {
        "model-3": "Fine-tuned on GPT-4-generated instructions.",
        "model-4": "Distilled from gpt-4o conversations.",  # another judge
        "model-5": "Pretrained on web text.",
    }
    frame = pd.concat([_votes(battles, people, "human"), _votes(battles, judge, "judge:gpt-4")])
    report = audit_judges(frame, self_trained=provenance)
    preference = _judge(report, "judge:gpt-4").self_preference
    assert preference.models == ("model-3",)
    assert preference.source_win_rate.value == 1.0
    assert _covers(preference.human_win_rate, 0.5)
    assert report.human is not None and report.human.self_preference.models == ()
    as_set = audit_judges(frame, self_trained={"model-3", "model-5"})
    assert _judge(as_set, "judge:gpt-4").self_preference.models == ("model-3", "model-5")


def test_unique_token_preference() -> None:
    generator = np.random.default_rng(12)
    n = 1200
    varied = " ".join(f"word{index}" for index in range(40))
    rows = []
    for index in range(n):
        repeats = generator.integers(1, 40)
        # same length (40 tokens), different variety
        repetitive = " ".join([*(f"word{k}" for k in range(40 - repeats)), *(["again"] * repeats)])
        varied_first = bool(generator.random() < 0.5)
        rows.append(
            {
                "model_a": "m1",
                "model_b": "m2",
                "battle_id": str(index),
                "answer_a": varied if varied_first else repetitive,
                "answer_b": repetitive if varied_first else varied,
                "winner": "model_a" if varied_first else "model_b",
                "source": "judge:variety",
            }
        )
    frame = pd.DataFrame(rows)
    people = frame.assign(
        source="human", winner=np.where(generator.random(n) < 0.5, "model_a", "model_b"), judge="person"
    )
    report = audit_judges(pd.concat([frame, people]))
    assert _judge(report, "judge:variety").unique_token_slope.low > 1
    assert report.human is not None and _covers(report.human.unique_token_slope, 0.0)
    # lengths came from the answers (no len_a / len_b given): all equal, so no length preference is measurable
    assert _judge(report, "judge:variety").length.longer_wins.n == 0


def test_no_judge_votes() -> None:
    battles = _battles(50, seed=13)
    report = audit_judges(_votes(battles, np.full(50, "tie"), "human"))
    assert report.judges == ()
    assert report.messages[0].startswith("no judge verdicts: nothing to audit")
    assert report.human is not None and report.human.position.first_wins.n == 0
    markdown = render_markdown(report, per_model=True)
    assert "no judge verdicts" in markdown and "| human |" in markdown


def test_named_judge_without_verdicts() -> None:
    battles = _battles(50, seed=14)
    report = audit_judges(_votes(battles, np.full(50, "model_a"), "human"), judges=["judge:absent"])
    audit = _judge(report, "judge:absent")
    assert audit.verdicts == 0 and math.isnan(audit.position.first_wins.value)
    assert audit.length.per_model == () and audit.unique_token_slope.n == 0
    assert audit.humans is not None and audit.humans.turns == 0
    assert "judge:absent: no verdicts" in report.messages
    assert "judge:absent" in render_markdown(report)


def test_no_overlap_with_people() -> None:
    battles = _battles(100, seed=15)
    judge = _votes(battles, np.full(100, "model_b"), "judge:j")
    people = _votes(battles.assign(battle_id=battles["battle_id"] + "-other"), np.full(100, "model_a"), "human")
    report = audit_judges(pd.concat([judge, people]))
    humans = _judge(report, "judge:j").humans
    assert humans is not None and humans.turns == 0 and humans.per_category == ()
    assert humans.overall.with_ties.n == 0 and math.isnan(humans.overall.without_ties.value)
    assert _judge(report, "judge:j").self_preference.human_win_rate.n == 0
    assert "| judge:j | 0 | 0 | — | — |" in render_markdown(report)


def test_empty_frame() -> None:
    report = audit_judges(pd.DataFrame(columns=["model_a", "model_b", "winner"]))
    assert report.judges == () and report.human is None and report.human_turns == 0
    assert render_markdown(report).startswith("## Judge audit")


@pytest.fixture(scope="module")
def llmfao_report() -> AuditReport:
    provenance = {  # an illustrative labelling: the model itself, or data generated by the judge model
        "GPT 4": "GPT-4 itself",
        "Airoboros L2 70B": "Llama 2 fine-tuned on synthetic instructions generated by GPT-4",
        "GPT 3.5 Turbo": "gpt-3.5 itself",
        "GPT 3.5 Turbo (16k)": "gpt-3.5 itself",
    }
    return audit_judges(load_llmfao(require_llmfao()), self_trained=provenance)


def test_llmfao_both_judges_against_the_crowd(llmfao_report: AuditReport) -> None:
    report = llmfao_report
    assert [a.source for a in report.judges] == ["judge:gpt-3.5", "judge:gpt-4"]
    assert report.human_turns == 2139
    for audit in report.judges:
        assert audit.verdicts == 2139
        humans = audit.humans
        assert humans is not None
        assert humans.turns + humans.no_majority == 2139  # every pair has human votes
        for estimate in (humans.overall.with_ties, humans.overall.without_ties):
            assert 0.3 < estimate.value < 0.9 and estimate.low < estimate.value < estimate.high
        assert {g.group for g in humans.per_entropy} >= {"low entropy", "high entropy"}
        assert len(humans.per_category) >= 5
        assert 0.3 < audit.position.first_wins.value < 0.8
        assert audit.position.swap_survival.n == 0  # LLMFAO has one order only
    gpt4 = _judge(report, "judge:gpt-4")
    assert gpt4.self_preference.models == ("Airoboros L2 70B", "GPT 4")
    assert gpt4.humans is not None and gpt4.humans.overall.without_ties.value > 0.7
    markdown = render_markdown(report, per_model=True)
    assert "judge:gpt-4" in markdown and "judge:gpt-3.5" in markdown and "GPT 4" in markdown
    print()
    print(markdown)


def test_human_agreement_interval_is_the_bootstrap_over_turns_however_many_turns_have_one_vote() -> None:
    """Turns with a single human vote hold no pair: they are drawn as one cell, not one by one. The interval must
    still be the percentile bootstrap over all turns, checked here against drawing turns directly."""
    generator = np.random.default_rng(5)
    rows = []
    for number in range(1_200):
        votes = 1 if number >= 150 else int(generator.integers(2, 5))
        for winner in generator.choice(["model_a", "model_b", "tie"], size=votes, p=[0.5, 0.3, 0.2]):
            rows.append(
                {"model_a": "x", "model_b": "y", "winner": winner, "source": "human", "battle_id": f"b{number}",
                 "turn": 1, "judge": f"voter{len(rows)}"}
            )  # fmt: skip
    estimate = audit_judges(pd.DataFrame(rows), rounds=2_000, seed=1).human_human.with_ties

    frame = pd.DataFrame(rows)
    counts = frame.groupby(["battle_id", "winner"]).size().unstack(fill_value=0).to_numpy(dtype=float)
    agreeing, total = (counts * (counts - 1) / 2).sum(axis=1), counts.sum(axis=1) * (counts.sum(axis=1) - 1) / 2
    draws = np.random.default_rng(2).integers(0, len(counts), size=(2_000, len(counts)))
    ratios = agreeing[draws].sum(axis=1) / total[draws].sum(axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    assert estimate.value == pytest.approx(agreeing.sum() / total.sum())
    assert (estimate.low, estimate.high) == pytest.approx((low, high), abs=0.02)


def test_planted_position_and_length_bias_in_two_orders_are_recovered_within_their_intervals() -> None:
    """One judge sees every pair in both orders, without an order column: P(first wins) = sigmoid(0.6 + 1.5 *
    tanh(d / sd)), d the first answer's length minus the second's. The slope is recovered, and with no quality
    signal the verdict survives the swap with the chance the two orders pick the same model."""
    generator = np.random.default_rng(21)
    n = 3000
    battles = _battles(n, seed=22)
    swapped = battles.rename(columns={"model_a": "model_b", "model_b": "model_a", "len_a": "len_b", "len_b": "len_a"})
    both = pd.concat([battles, swapped], ignore_index=True)
    difference = (both["len_a"] - both["len_b"]).to_numpy()
    sd = float(np.std(difference))
    p_first = 1 / (1 + np.exp(-(0.6 + 1.5 * np.tanh(difference / sd))))
    winners = np.where(generator.random(2 * n) < p_first, "model_a", "model_b")
    report = audit_judges(_votes(both, winners, "judge:biased"), rounds=50)
    audit = _judge(report, "judge:biased")
    assert _covers(audit.length.length_slope, 1.5)
    assert _covers(audit.position.first_wins, float(p_first.mean()))
    same = p_first[:n] * (1 - p_first[n:]) + (1 - p_first[:n]) * p_first[n:]  # the same model both times
    assert audit.position.swap_survival.n == n
    assert _covers(audit.position.swap_survival, float(same.mean()))
    assert any("recognised from the data" in line for line in report.columns)


GOLDEN = Path(__file__).parent / "golden" / "llmfao_judge_audit.json"


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def test_llmfao_audit_matches_its_golden_file(llmfao_report: AuditReport) -> None:
    """The headline figures of the audit of LLMFAO's two GPT judges against the crowd, fixed: a change in any of
    them shows up in review. Regenerate on purpose with UPDATE_GOLDEN=1 pytest tests/test_judge_audit.py"""
    payload = report_json(llmfao_report)
    figures = _rounded(
        {
            "columns": payload["columns"],
            "warnings": payload["warnings"],
            "evaluators": payload["evaluators"],
            "human_human": payload["human_human"],
            "position": {a["source"]: a["position"] for a in [payload["human"], *payload["judges"]]},
            "longer_wins": {a["source"]: a["length"]["longer_wins"] for a in [payload["human"], *payload["judges"]]},
        }
    )
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
    assert figures == json.loads(GOLDEN.read_text())
