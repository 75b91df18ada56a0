"""Specification of the judge audit's import (leaderboard.audit_import) and its command line: a researcher's own
file is read explicitly, every choice is said with counts, and each way it used to go silently wrong is a clear
message now."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena.judge import main, self_trained_option
from leaderboard.audit_import import AuditInputError, SourceMapping, prepare_audit_input
from leaderboard.io import read_battles
from leaderboard.judge_audit import AuditReport, SourceAudit, audit_judges, render_markdown, report_json
from store import NewJudgment, Store
from tests.arena_rows import voted_battle

MODELS = [f"m{index}" for index in range(6)]


def _judge(report: AuditReport, source: str) -> SourceAudit:
    (audit,) = (a for a in report.judges if a.source == source)
    return audit


def _pairs(n: int, seed: int) -> pd.DataFrame:
    generator = np.random.default_rng(seed)
    first = generator.integers(0, len(MODELS), n)
    second = (first + generator.integers(1, len(MODELS), n)) % len(MODELS)
    return pd.DataFrame(
        {
            "model_a": [MODELS[i] for i in first],
            "model_b": [MODELS[i] for i in second],
            "battle_id": [f"b{i}" for i in range(n)],
            "answer_a": [f"answer {'word ' * int(k)}" for k in generator.integers(1, 60, n)],
            "answer_b": [f"answer {'word ' * int(k)}" for k in generator.integers(1, 60, n)],
        }
    )


def _write_jsonl(frame: pd.DataFrame, path: Path) -> Path:
    path.write_text("\n".join(json.dumps(record) for record in frame.to_dict("records")) + "\n")
    return path


# ------------------------------------------------------------------------------------------- the judge column


def _crowd_and_gpt(n: int = 200) -> pd.DataFrame:
    """Clean-battle style: no source column; judge holds workers' ids and one LLM judge's name."""
    pairs = _pairs(n, seed=1)
    better = np.where(pairs["answer_a"].str.len() > pairs["answer_b"].str.len(), "model_a", "model_b")
    people = pairs.assign(winner=better, judge=[f"worker-{i % 7}" for i in range(n)])
    gpt = pairs.assign(winner=better, judge="gpt-4")
    return pd.concat([people, gpt], ignore_index=True)


def test_a_judge_column_without_sources_is_refused_with_its_values_and_what_to_say() -> None:
    with pytest.raises(AuditInputError) as raised:
        audit_judges(_crowd_and_gpt())
    message = str(raised.value)
    assert "8 distinct values" in message and "'gpt-4' (200 rows)" in message
    assert "--llm-judge" in message and "voters" in message


def test_llm_judges_named_among_the_judge_column_values_are_judges_and_the_rest_people() -> None:
    report = audit_judges(_crowd_and_gpt(), sources=SourceMapping(llm_judges=frozenset({"gpt-4"})), rounds=20)
    assert [a.source for a in report.judges] == ["judge:gpt-4"]
    assert report.human is not None and report.human.verdicts == 200
    gpt = _judge(report, "judge:gpt-4")
    assert gpt.humans is not None and gpt.humans.overall.without_ties.value == 1.0
    assert any("gpt-4 (200 rows) are LLM judges" in line and "human 200" in line for line in report.columns)
    assert "How the votes were read" in render_markdown(report)


def test_a_judge_column_of_voters_is_all_people() -> None:
    report = audit_judges(_crowd_and_gpt(), sources=SourceMapping(judge_column_holds_voters=True), rounds=20)
    assert report.judges == () and report.human is not None and report.human.verdicts == 400
    assert any("names 8 voters" in line for line in report.columns)


def test_an_llm_judge_name_no_row_has_is_refused() -> None:
    with pytest.raises(AuditInputError, match="no row's judge is 'gpt-5'"):
        audit_judges(_crowd_and_gpt(), sources=SourceMapping(llm_judges=frozenset({"gpt-4", "gpt-5"})))


def test_the_upload_form_spelling_of_the_mapping() -> None:
    assert SourceMapping.from_text(" gpt-4 , gpt-3.5,") == SourceMapping(llm_judges=frozenset({"gpt-4", "gpt-3.5"}))
    assert SourceMapping.from_text("Voters") == SourceMapping(judge_column_holds_voters=True)
    assert SourceMapping.from_text("") == SourceMapping()


def test_a_file_with_a_source_column_needs_no_mapping() -> None:
    frame = _crowd_and_gpt()
    frame["source"] = np.where(frame["judge"] == "gpt-4", "judge:gpt-4", "human")
    report = audit_judges(frame, rounds=20)
    assert [a.source for a in report.judges] == ["judge:gpt-4"]


# ---------------------------------------------------------------------------------------------- battle turns


def test_a_question_id_holding_several_pairs_is_one_battle_turn_per_pair_with_a_warning(tmp_path: Path) -> None:
    """MT-Bench's human judgments: question_id names the question, and each question has many model pairs."""
    generator = np.random.default_rng(2)
    rows = []
    for question in range(40):
        for a, b in [("m0", "m1"), ("m1", "m2"), ("m0", "m2")]:
            winner = "model_a" if generator.random() < 0.5 else "model_b"
            rows.append({"question_id": question, "model_a": a, "model_b": b, "winner": winner, "source": "human"})
            rows.append({"question_id": question, "model_a": a, "model_b": b, "winner": winner, "source": "judge:g"})
    battles = read_battles(_write_jsonl(pd.DataFrame(rows), tmp_path / "mt_bench_human.jsonl"))
    report = audit_judges(battles, rounds=20)
    humans = _judge(report, "judge:g").humans
    assert humans is not None and humans.turns == 120
    assert humans.overall.without_ties.value == 1.0, "each pair is compared with its own human verdict"
    (warning,) = [w for w in report.warnings if "several pairs" in w]
    assert "battle_id (read from question_id)" in warning and "40 of 40 battle turns hold 120 pairs" in warning


def test_without_any_battle_id_the_prompt_identifies_a_turn() -> None:
    pairs = _pairs(50, seed=3).drop(columns="battle_id").assign(prompt=[f"q{i}" for i in range(50)], winner="model_a")
    frame = pd.concat([pairs.assign(source="human"), pairs.assign(source="judge:g")], ignore_index=True)
    report = audit_judges(frame, rounds=20)
    humans = _judge(report, "judge:g").humans
    assert humans is not None and humans.turns == 50
    assert any("the prompt text" in line for line in report.columns)


def test_without_battle_ids_or_prompts_the_audit_says_what_it_cannot_match() -> None:
    frame = _pairs(30, seed=4).drop(columns="battle_id").assign(winner="model_a", source="judge:g")
    report = audit_judges(frame, rounds=20)
    assert any("cannot be matched" in w for w in report.warnings)


# ---------------------------------------------------------------------------------------------------- orders


def _both_orders(n: int, *, survives: float, seed: int) -> pd.DataFrame:
    pairs = _pairs(n, seed=seed)
    swapped = pairs.rename(
        columns={"model_a": "model_b", "model_b": "model_a", "answer_a": "answer_b", "answer_b": "answer_a"}
    )
    generator = np.random.default_rng(seed + 1)
    first = np.where(generator.random(n) < 0.5, "model_a", "model_b")
    # the swapped row names the same model (the other position) when the verdict survives
    same = generator.random(n) < survives
    second = np.where(same, np.where(first == "model_a", "model_b", "model_a"), first)
    return pd.concat([pairs.assign(winner=first), swapped.assign(winner=second)], ignore_index=True)


def test_two_orders_are_recognised_from_the_data_without_an_order_column() -> None:
    frame = _both_orders(300, survives=0.8, seed=5).assign(source="judge:g")
    report = audit_judges(frame, rounds=20)
    survival = _judge(report, "judge:g").position.swap_survival
    assert survival.n == 300 and survival.low <= 0.8 <= survival.high
    assert any("recognised from the data: 300 judgments in both orders" in line for line in report.columns)


def test_two_rows_with_different_answers_are_not_two_orders_of_one_judgment() -> None:
    frame = _both_orders(100, survives=1.0, seed=6).assign(source="judge:g")
    frame.loc[100:, "answer_a"] = frame.loc[100:, "answer_a"] + " (another sample)"
    report = audit_judges(frame, rounds=20)
    assert _judge(report, "judge:g").position.swap_survival.n == 0
    assert any("no judgment appears in both orders" in w for w in report.warnings)


def test_single_order_judgments_say_why_swap_survival_is_missing() -> None:
    frame = _pairs(80, seed=7).assign(winner="model_a", source="judge:g")
    report = audit_judges(frame, rounds=20)
    assert _judge(report, "judge:g").position.swap_survival.n == 0
    (warning,) = [w for w in report.warnings if "both orders" in w]
    assert "`order`" in warning and "`pair_id`" in warning


def test_an_order_column_with_other_values_is_refused() -> None:
    frame = _pairs(10, seed=8).assign(winner="model_a", source="judge:g", order=["original"] * 9 + ["reversed"])
    with pytest.raises(AuditInputError, match=r"order column holds 1 values other than original / swapped \(row 9"):
        audit_judges(frame)


# --------------------------------------------------------------------------------------------------- answers


def test_clean_battle_conversations_are_the_answers(tmp_path: Path) -> None:
    pairs = _pairs(120, seed=9)
    records = []
    for row in pairs.itertuples():
        conversation = [{"role": "user", "content": f"question {row.battle_id}"}]
        winner = "model_a" if len(row.answer_a) > len(row.answer_b) else "model_b"
        for source in ("human", "judge:g"):
            records.append(
                {
                    "question_id": row.battle_id,
                    "model_a": row.model_a,
                    "model_b": row.model_b,
                    "winner": winner,
                    "source": source,
                    "conversation_a": [*conversation, {"role": "assistant", "content": row.answer_a}],
                    "conversation_b": [*conversation, {"role": "assistant", "content": row.answer_b}],
                }
            )
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps(records))
    report = audit_judges(read_battles(path), rounds=20)
    length = _judge(report, "judge:g").length
    assert length.longer_wins.n > 100 and length.longer_wins.value == 1.0
    assert any("conversation_a / conversation_b" in line for line in report.columns)


def test_empty_answers_are_missing_not_zero_tokens_with_a_warning() -> None:
    frame = _pairs(100, seed=10).assign(source="judge:g")
    frame.loc[:19, "answer_b"] = "   "
    frame["winner"] = np.where(frame.index < 20, "model_a", "model_b")  # the model that answered wins
    report = audit_judges(frame, rounds=20)
    length = _judge(report, "judge:g").length
    assert length.longer_wins.n <= 80, "the 20 verdicts against an empty answer are left out of length measures"
    (warning,) = [w for w in report.warnings if "empty answers" in w]
    assert warning.startswith("20 empty answers")


def test_a_file_without_answers_or_lengths_says_which_measures_are_undefined() -> None:
    frame = _pairs(30, seed=11).drop(columns=["answer_a", "answer_b"]).assign(winner="model_a", source="judge:g")
    report = audit_judges(frame, rounds=20)
    assert any("no answers" in w and "length bias" in w for w in report.warnings)


# ------------------------------------------------------------------------------------------- self-preference


def test_self_preference_is_per_judge() -> None:
    pairs = _pairs(400, seed=12)
    people = pairs.assign(winner="model_a", source="human")
    # judge x favours m0 (trained on x's outputs); judge y favours m1 (trained on y's)
    judge_x = pairs.assign(source="judge:x", winner=np.where(pairs["model_b"] == "m0", "model_b", "model_a"))
    judge_y = pairs.assign(source="judge:y", winner=np.where(pairs["model_b"] == "m1", "model_b", "model_a"))
    frame = pd.concat([people, judge_x, judge_y], ignore_index=True)
    report = audit_judges(frame, self_trained={"judge:x": {"m0"}, "judge:y": {"m1"}, "judge:z": {"m2"}}, rounds=20)
    x, y = _judge(report, "judge:x").self_preference, _judge(report, "judge:y").self_preference
    assert x.models == ("m0",) and y.models == ("m1",)
    assert x.source_win_rate.value == 1.0 and x.human_win_rate.value < 1.0
    assert "self-trained models given for judge:z, which has no verdicts" in report.messages
    rows = {row.source: row for row in report.evaluators}
    assert rows["judge:x"].self_preference > 0


def test_the_self_trained_option_spelling() -> None:
    assert self_trained_option(["gpt-4=a, b", "judge:y=c", "gpt-4=d"]) == {
        "judge:gpt-4": frozenset({"a", "b", "d"}),
        "judge:y": frozenset({"c"}),
    }
    assert self_trained_option(["a", "b"]) == frozenset({"a", "b"})
    with pytest.raises(ValueError, match="every value"):
        self_trained_option(["a", "x=b"])
    with pytest.raises(ValueError, match="expected JUDGE=MODEL"):
        self_trained_option(["x="])


# ---------------------------------------------------------------------------------------- output and AlpacaEval


def test_json_output_holds_every_figure_with_its_interval_and_n(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_jsonl(_both_orders(60, survives=0.5, seed=13).assign(source="judge:g"), tmp_path / "b.jsonl")
    out = tmp_path / "audit.json"
    assert main(["audit", "--battles", str(path), "--rounds", "20", "--format", "json", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == report
    (judge,) = report["judges"]
    assert set(judge["position"]["first_wins"]) == {"value", "low", "high", "n"}
    assert judge["position"]["swap_survival"]["n"] == 60
    assert report["columns"] and report["evaluators"][0]["source"] == "judge:g"
    assert report["human"] is None and "NaN" not in out.read_text()


def test_the_command_line_maps_the_judge_column_and_refuses_ambiguity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_jsonl(_crowd_and_gpt(), tmp_path / "crowd.jsonl")
    assert main(["audit", "--battles", str(path)]) == 1
    assert "--llm-judge" in capsys.readouterr().err
    assert main(["audit", "--battles", str(path), "--llm-judge", "gpt-4", "--rounds", "20"]) == 0
    assert "| judge:gpt-4 |" in capsys.readouterr().out


def test_help_says_which_columns_the_audit_reads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    text = capsys.readouterr().out
    for column in ("battle_id (or question_id)", "order, pair_id", "conversation_a", "preference", "--llm-judge"):
        assert column in text


def test_alpaca_eval_annotations_load_as_judge_verdicts_with_their_soft_preference(tmp_path: Path) -> None:
    annotations = [
        {
            "instruction": f"task {i}",
            "output_1": "base " * 5,
            "generator_1": "gpt4_turbo",
            "output_2": "model " * (3 + i % 7),
            "generator_2": "my-model",
            "annotator": "weighted_alpaca_eval_gpt4_turbo",
            "preference": [1.0, 2.0, 1.5, 1.8, 0, None][i % 6],
        }
        for i in range(60)
    ]
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(annotations))
    prepared = prepare_audit_input(read_battles(path))
    frame = prepared.frame
    assert set(frame["source"]) == {"judge:weighted_alpaca_eval_gpt4_turbo"}
    assert list(frame["winner"][:5]) == ["model_a", "model_b", "tie", "model_b", "tie"]
    assert frame["preference"][:5].tolist() == [1.0, 2.0, 1.5, 1.8, 1.5]
    assert frame["excluded_reason"].notna().sum() == 10, "a missing preference counts nowhere"
    report = audit_judges(read_battles(path), rounds=20)
    (row,) = report.evaluators
    assert row.parse_failures.value == pytest.approx(10 / 60) and row.parse_failures.n == 60
    assert any("AlpacaEval's soft preference" in line for line in report.columns)


# ------------------------------------------------------------------------------------------------ the arena


def _judged(store: Store, battle: str, calls: list[NewJudgment], consistent: bool) -> None:
    """judge:j's two calls on the battle's first turn, through the arena's own write path."""
    store.judgments.record(
        battle_id=battle,
        turn=1,
        judge="judge:j",
        judge_model="m",
        prompt_version="v1",
        scale="arena_hard",
        judgments=calls,
        outcome="consistent" if consistent else "inconsistent",
        vote=("model_a", None) if consistent else ("tie", None),
    )


def test_the_arena_audit_reports_judging_costs_and_swap_consistency_from_the_judgments_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store.open(url)
    for index in range(4):
        battle = voted_battle(store, "model_a", prompt=f"Question {index}?")
        consistent = index < 3
        calls = [
            NewJudgment("original", verdict="A", latency=2.0, prompt_tokens=400, completion_tokens=100),
            NewJudgment(
                "swapped", verdict="B" if consistent else "A", latency=2.0, prompt_tokens=400, completion_tokens=100
            ),
        ]
        _judged(store, battle, calls, consistent)
    store.dispose()
    assert main(["audit", "--db", url, "--rounds", "20", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["evaluators"]
    assert row["swap_consistency"]["value"] == 0.75 and row["swap_consistency"]["n"] == 4
    assert row["tokens_per_1000"] == 500_000 and row["seconds_per_1000"] == 2_000
    assert row["parse_failures"]["value"] == 0.0 and row["parse_failures"]["n"] == 8
    assert row["agreement_without_ties"]["value"] == 1.0


def test_report_json_is_the_dataclasses_without_nan() -> None:
    report = audit_judges(_pairs(5, seed=14).assign(winner="tie", source="judge:g"), rounds=0)
    text = json.dumps(report_json(report), allow_nan=False)
    assert '"swap_survival": {"value": null' in text


def test_alpaca_eval_annotations_get_alpaca_eval_win_rates_where_length_control_removes_a_length_effect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two models of equal quality against one baseline, one writing twice as much; the judge likes length. The raw
    win rates differ by much more than their standard errors; the length-controlled ones do not."""
    generator = np.random.default_rng(15)
    instructions = 400
    difficulty = generator.normal(0, 1, instructions)
    quality = {"terse": 0.0, "verbose": 0.0, "strong": 1.0, "weak": -1.0}
    annotations = []
    for model, theta in quality.items():
        for index in range(instructions):
            base_length = int(generator.integers(200, 800))
            length = base_length * (2.0 if model == "verbose" else 1.0) * generator.uniform(0.7, 1.3)
            delta = (base_length - length) / 300
            p = 1 / (1 + np.exp(-(theta - 0.5 * difficulty[index] - 1.5 * np.tanh(delta))))
            annotations.append(
                {
                    "instruction": f"instruction {index}",
                    "generator_1": "base",
                    "output_1": "x" * base_length,
                    "generator_2": model,
                    "output_2": "y" * int(length),
                    "annotator": "judge_gpt",
                    "preference": 1.0 + float(p),  # a weighted (soft) preference
                }
            )
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(annotations))
    assert main(["audit", "--battles", str(path), "--rounds", "10", "--format", "json"]) == 0
    (board,) = json.loads(capsys.readouterr().out)["alpaca_eval"]
    assert board["source"] == "judge:judge_gpt" and board["baseline"] == "base"
    rows = {row["model"]: row for row in board["models"]}
    verbose, terse = rows["verbose"], rows["terse"]
    raw_gap = verbose["win_rate"]["win_rate"] - terse["win_rate"]["win_rate"]
    se = max(verbose["win_rate"]["standard_error"], terse["win_rate"]["standard_error"])
    assert raw_gap > 10 * se, "the raw win rate rewards the longer answers"
    assert abs(verbose["lc_win_rate"] - terse["lc_win_rate"]) < 3 * se, "the length-controlled one does not"
    assert rows["strong"]["lc_win_rate"] > terse["lc_win_rate"] > rows["weak"]["lc_win_rate"]
    assert all(row["difficulty"] == "estimated" for row in rows.values())
    assert main(["audit", "--battles", str(path), "--rounds", "10"]) == 0
    assert "### AlpacaEval: judge:judge_gpt against base" in capsys.readouterr().out


def test_the_arena_audit_does_not_ask_for_order_columns_its_judgments_table_already_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store.open(url)
    battle = voted_battle(store, "model_a")
    _judged(store, battle, [NewJudgment("original", verdict="A"), NewJudgment("swapped", verdict="B")], True)
    store.dispose()
    assert main(["audit", "--db", url, "--rounds", "10", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not any("both orders" in warning for warning in report["warnings"])
    assert any("from the judgments table" in line for line in report["columns"])
