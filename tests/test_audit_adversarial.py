"""Adversarial tests of the judge audit's input and output: a hostile uploader, a careless researcher, a huge table.

What reads a battles file into the audit (leaderboard.io, leaderboard.audit_import), the audit itself
(leaderboard.judge_audit, leaderboard.alpaca_eval), its report (markdown, then sanitised HTML in the UI; JSON) and
its command line (python -m arena.judge audit). A test that passes pins behaviour that held up; a test marked
xfail(strict=True) is a bug found here, its reason saying where and why, so that fixing it turns the test green
(and strict makes the fix visible: remove the mark then).

No timed asserts: work that must not grow quadratically is counted (comparisons, fits, bytes allocated), not timed.
"""

from __future__ import annotations

import json
import tracemalloc
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import leaderboard.alpaca_eval as alpaca_eval
from arena.judge import main, self_trained_option
from leaderboard.audit_import import AuditInputError, SourceMapping, prepare_audit_input
from leaderboard.io import BattlesFileError, ReadLimits, read_battles
from leaderboard.judge_audit import AuditLimits, AuditReport, SourceAudit, audit_judges, render_markdown, report_json
from store import NewJudgment, Store
from tests.arena_rows import voted_battle
from ui.display import ALLOWED_TAGS, ALLOWED_URL_SCHEMES, display_html

ROUNDS = 10  # bootstrap rounds: the figures here are about reading, not about intervals


# ------------------------------------------------------------------------------------------------------ helpers


def _judge(report: AuditReport, source: str) -> SourceAudit:
    (audit,) = (a for a in report.judges if a.source == source)
    return audit


def _write_jsonl(rows: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _row(battle: str, winner: str = "model_a", source: str = "human", **extra: Any) -> dict[str, Any]:
    return {"model_a": "a", "model_b": "b", "winner": winner, "battle_id": battle, "source": source, **extra}


def _people_and_judge(n: int = 12, *, judge: str = "judge:g", seed: int = 0) -> pd.DataFrame:
    """n battle turns, each with one human vote and one judge verdict that agree, answers of varied length."""
    generator = np.random.default_rng(seed)
    rows = []
    for index in range(n):
        winner = str(generator.choice(["model_a", "model_b"]))
        texts = {"answer_a": "a " * int(generator.integers(1, 30)), "answer_b": "b " * int(generator.integers(1, 30))}
        for source in ("human", judge):
            rows.append(_row(f"b{index}", winner, source, **texts))
    return pd.DataFrame(rows)


def _annotation(index: int, **fields: Any) -> dict[str, Any]:
    """One AlpacaEval annotation: the baseline gpt4 against mine, on instruction `index`."""
    row = {
        "instruction": f"task {index}",
        "output_1": "base " * 5,
        "generator_1": "gpt4",
        "output_2": "model " * (3 + index % 7),
        "generator_2": "mine",
        "annotator": "ae",
        "preference": 1.0 + (index % 3) / 2,
    }
    return row | fields


def _annotations(path: Path, rows: list[dict[str, Any]]) -> pd.DataFrame:
    path.write_text(json.dumps(rows), encoding="utf-8")
    return read_battles(path)


class _Tables(HTMLParser):
    """The cells of every table in an HTML document, as text: tables -> rows -> cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _tables(markdown: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(display_html(markdown).replace("&#10;", "\n"))
    return parser.tables


def _first_cells(markdown: str) -> list[str]:
    return [row[0] for table in _tables(markdown) for row in table if row]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


# ------------------------------------------------------------------------------- sources: the judge column


def test_a_judge_column_of_nan_numbers_and_blanks_is_refused_unmapped_and_read_with_a_mapping() -> None:
    frame = pd.DataFrame([_row("1"), _row("1"), _row("2"), _row("2")]).drop(columns="source")
    frame["judge"] = [np.nan, 5, "  ", "gpt"]
    with pytest.raises(AuditInputError) as raised:
        prepare_audit_input(frame)
    message = str(raised.value)
    assert "2 distinct values" in message and "'5'" in message and "'gpt'" in message, "blanks and NaN are no value"
    prepared = prepare_audit_input(frame, SourceMapping.from_text("gpt"))
    assert prepared.frame["source"].tolist() == ["human", "human", "human", "judge:gpt"]
    numeric = prepare_audit_input(frame, SourceMapping(llm_judges=frozenset({"5"})))
    assert numeric.frame["source"].tolist() == ["human", "judge:5", "human", "human"]


def test_a_judge_column_of_blanks_only_is_not_ambiguous() -> None:
    frame = pd.DataFrame([_row("1"), _row("2")]).drop(columns="source").assign(judge=["", "   "])
    assert set(prepare_audit_input(frame).frame["source"]) == {"human"}


def test_judge_values_with_surrounding_whitespace_match_the_name_typed() -> None:
    frame = pd.DataFrame([_row("1"), _row("1"), _row("2")]).drop(columns="source").assign(judge=["gpt ", "x", " gpt"])
    prepared = prepare_audit_input(frame, SourceMapping.from_text("gpt"))
    assert prepared.frame["source"].tolist() == ["judge:gpt", "human", "judge:gpt"]


def test_a_judge_value_already_spelled_judge_colon_name_is_not_prefixed_twice() -> None:
    frame = pd.DataFrame([_row("1"), _row("1")]).drop(columns="source").assign(judge=["judge:gpt", "worker-1"])
    report = audit_judges(frame, sources=SourceMapping.from_text("judge:gpt"), rounds=ROUNDS)
    assert [a.source for a in report.judges] == ["judge:gpt"]


def test_an_llm_judge_name_with_a_comma_is_one_judge_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The upload box splits on commas (documented); --llm-judge takes the value whole."""
    rows = [{**_row("1"), "judge": "gpt,4"}, {**_row("1"), "judge": "w"}]
    path = _write_jsonl([{k: v for k, v in row.items() if k != "source"} for row in rows], tmp_path / "c.jsonl")
    assert SourceMapping.from_text("gpt,4").llm_judges == frozenset({"gpt", "4"})
    assert main(["audit", "--battles", str(path), "--llm-judge", "gpt,4", "--rounds", "5", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [judge["source"] for judge in report["judges"]] == ["judge:gpt,4"]


def test_numeric_judge_ids_with_a_missing_one_keep_their_spelling(tmp_path: Path) -> None:
    rows = [{**_row("1"), "judge": 5}, {**_row("1"), "judge": None}, {**_row("2"), "judge": 6}]
    battles = read_battles(_write_jsonl(rows, tmp_path / "numbers.jsonl"))
    assert battles["judge"].tolist()[0] == "5"


def test_rows_whose_source_is_neither_human_nor_a_judge_are_warned_about() -> None:
    """An empty source is the default (people), as CSV reads it; any other label counts nowhere, and says so."""
    frame = pd.DataFrame([_row("1", source=""), _row("1", source="judge:g"), _row("2", source="Human")])
    report = audit_judges(frame, rounds=ROUNDS)
    (warning,) = [w for w in report.warnings if "neither 'human' nor" in w]
    assert warning.startswith("1 rows") and "'Human': 1" in warning
    assert report.human is not None and report.human.verdicts == 1


def test_an_empty_source_reads_the_same_from_json_lines_and_csv(tmp_path: Path) -> None:
    rows = [
        _row("1", source=""),
        _row("1", source="judge:g"),
        _row("2", "model_b", ""),
        _row("2", "model_b", "judge:g"),
    ]
    from_jsonl = read_battles(_write_jsonl(rows, tmp_path / "s.jsonl"))
    pd.DataFrame(rows).to_csv(tmp_path / "s.csv", index=False)
    from_csv = read_battles(tmp_path / "s.csv")
    assert from_csv["source"].tolist() == ["human", "judge:g", "human", "judge:g"]
    assert from_jsonl["source"].tolist() == from_csv["source"].tolist()


def test_naming_an_llm_judge_in_a_file_without_judge_values_says_the_column_is_empty() -> None:
    frame = pd.DataFrame([_row("1"), _row("1", source="judge:g")])
    with pytest.raises(AuditInputError) as raised:
        prepare_audit_input(frame, SourceMapping.from_text("g"))
    assert not str(raised.value).rstrip().endswith(":")


# ---------------------------------------------------------------------------------------------------- orders


def _two_orders(**columns: Any) -> pd.DataFrame:
    """One judgment in both orders (the sides swapped, the same winning model) and one human vote."""
    judge = pd.DataFrame(
        {"model_a": ["a", "b"], "model_b": ["b", "a"], "winner": ["model_a", "model_b"], "battle_id": "1"}
    ).assign(source="judge:g")
    human = pd.DataFrame([_row("1")])
    frame = pd.concat([judge, human], ignore_index=True)
    return frame.assign(**columns)


@pytest.mark.parametrize("value", ["Original", 0, " original", ""])
def test_an_order_column_in_another_spelling_is_refused_naming_the_value(value: Any) -> None:
    with pytest.raises(AuditInputError, match=r"other than original / swapped \(row 0"):
        prepare_audit_input(_two_orders(order=[value, "swapped", None]))


def test_an_order_column_without_any_value_is_not_silently_trusted() -> None:
    report = audit_judges(_two_orders(order=[None, None, None]), rounds=ROUNDS)
    swap = _judge(report, "judge:g").position.swap_survival
    assert swap.n == 1 or any("order" in warning for warning in report.warnings)


def test_pair_id_without_order_falls_back_to_recognising_the_orders() -> None:
    report = audit_judges(_two_orders(pair_id=[7, 7, None]), rounds=ROUNDS)
    swap = _judge(report, "judge:g").position.swap_survival
    assert (swap.value, swap.n) == (1.0, 1)
    assert any("recognised from the data" in column for column in report.columns)


def test_three_verdicts_of_one_judge_on_a_turn_are_not_two_orders() -> None:
    frame = _two_orders()
    frame = pd.concat([frame.iloc[:2], frame.iloc[[0]], frame.iloc[2:]], ignore_index=True)
    report = audit_judges(frame, rounds=ROUNDS)
    assert _judge(report, "judge:g").position.swap_survival.n == 0
    assert any(warning.startswith("3 judge verdicts share a battle turn") for warning in report.warnings)


def test_both_orders_with_the_answers_missing_in_one_row_only_are_not_matched() -> None:
    frame = _two_orders(answer_a=["x y z", None, "x y z"], answer_b=["p q", None, "p q"])
    report = audit_judges(frame, rounds=ROUNDS)
    assert _judge(report, "judge:g").position.swap_survival.n == 0


def test_rows_whose_present_answers_differ_are_not_two_orders_when_each_lacks_one_answer() -> None:
    frame = _two_orders(answer_a=[None, "bar", None], answer_b=["foo", None, None])
    report = audit_judges(frame, rounds=ROUNDS)
    assert _judge(report, "judge:g").position.swap_survival.n == 0


# ---------------------------------------------------------------------------------------------- battle turns


def _turns(turns: list[int], winners: list[str]) -> pd.DataFrame:
    """One battle per turn value (battle b<i> at turn turns[i]), a human vote and an agreeing judge verdict each."""
    rows = []
    for index, (turn, winner) in enumerate(zip(turns, winners, strict=True)):
        rows += [_row(f"b{index}", winner, source, turn=turn) for source in ("human", "judge:g")]
    return pd.DataFrame(rows)


def test_two_turns_of_one_battle_are_two_battle_turns() -> None:
    report = audit_judges(_turns([1, 2], ["model_a", "model_b"]).assign(battle_id="b0"), rounds=ROUNDS)
    humans = _judge(report, "judge:g").humans
    assert humans is not None and (humans.turns, humans.no_majority, report.human_turns) == (2, 0, 2)


def test_a_negative_turn_is_not_merged_into_another_battle() -> None:
    report = audit_judges(_turns([1, -1], ["model_a", "model_b"]), rounds=ROUNDS)
    humans = _judge(report, "judge:g").humans
    assert humans is not None and (humans.turns, humans.no_majority, report.human_turns) == (2, 0, 2)


def test_a_huge_turn_does_not_merge_battles_by_overflow() -> None:
    winners = ["model_a", "model_b", "model_a", "model_b", "model_b", "model_a"]
    report = audit_judges(_turns([1, 1, 1, 1, 1, 2**62 - 1], winners), rounds=ROUNDS)
    humans = _judge(report, "judge:g").humans
    assert humans is not None and (humans.turns, humans.no_majority, report.human_turns) == (6, 0, 6)


def test_the_largest_turn_is_one_clear_line_or_an_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [_row("1", turn=2**63 - 1), _row("1", source="judge:g", turn=1)]
    path = _write_jsonl(rows, tmp_path / "huge.jsonl")
    code = main(["audit", "--battles", str(path), "--rounds", "5"])
    assert code in (0, 1) and "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("turn", [1.5, 1e20])
def test_a_turn_that_is_not_a_whole_number_in_range_is_refused(tmp_path: Path, turn: float) -> None:
    path = _write_jsonl([_row("1"), _row("1", turn=turn)], tmp_path / "turns.jsonl")
    with pytest.raises(BattlesFileError, match="turn"):
        read_battles(path)


def test_battle_ids_as_numbers_and_as_text_name_the_same_battle(tmp_path: Path) -> None:
    """JSON Lines with battle_id 1 for people and "1" for the judge (Arrow refuses the mixed column; the row
    reader reads both as text); and a question_id of another dtype than battle_id is recognised as the same ids."""
    rows = [_row(1), _row("1", source="judge:g"), _row(2, "model_b"), _row("2", "model_b", "judge:g")]  # type: ignore[arg-type]
    report = audit_judges(read_battles(_write_jsonl(rows, tmp_path / "mixed.jsonl")), rounds=ROUNDS)
    humans = _judge(report, "judge:g").humans
    assert humans is not None and humans.turns == 2 and humans.overall.with_ties.value == 1.0
    frame = pd.DataFrame(rows).assign(battle_id=["1", "1", "2", "2"], question_id=[1, 1, 2, 2])
    assert any("read from question_id" in column for column in prepare_audit_input(frame).columns)


# -------------------------------------------------------------------------------------------------- AlpacaEval


@pytest.mark.parametrize(
    ("preferences", "invalid"),
    [
        (["1", "2", "1.5", "abc"], 5),  # texts: numbers as text count, others are missing
        ([3, -1, 2.5, 1.0, 2.0], 12),  # outside [1, 2]
        ([None, 1.0], 10),  # missing
    ],
)
def test_alpaca_eval_preferences_that_are_not_one_are_left_out_and_counted(
    tmp_path: Path, preferences: list[Any], invalid: int
) -> None:
    rows = [_annotation(i, preference=preferences[i % len(preferences)]) for i in range(20)]
    battles = _annotations(tmp_path / "annotations.json", rows)
    report = audit_judges(battles, rounds=ROUNDS)
    assert any(warning.startswith(f"{invalid:,} preferences are not a number") for warning in report.warnings)
    (row,) = report.evaluators
    assert (row.parse_failures.value, row.parse_failures.n) == (pytest.approx(invalid / 20), 20)
    json.dumps(report_json(report), allow_nan=False)


def test_alpaca_eval_annotations_without_outputs_instructions_or_annotators_say_what_is_missing(
    tmp_path: Path,
) -> None:
    no_outputs = [{k: v for k, v in _annotation(i).items() if k != "output_1"} for i in range(12)]
    report = audit_judges(_annotations(tmp_path / "a.json", no_outputs), rounds=ROUNDS)
    assert any(warning.startswith("no answers") for warning in report.warnings)
    no_instruction = [{k: v for k, v in _annotation(i).items() if k != "instruction"} for i in range(12)]
    report = audit_judges(_annotations(tmp_path / "b.json", no_instruction), rounds=ROUNDS)
    assert any(warning.startswith("no battle_id, question_id or prompt") for warning in report.warnings)
    no_annotator = [_annotation(i, annotator=None if i % 2 else "ae") for i in range(12)]
    report = audit_judges(_annotations(tmp_path / "c.json", no_annotator), rounds=ROUNDS)
    assert [a.source for a in report.judges] == ["judge:ae", "judge:alpaca_eval"]


def test_an_alpaca_eval_annotation_without_a_model_is_one_clear_error(tmp_path: Path) -> None:
    rows = [_annotation(i, generator_2=None if i == 2 else "mine") for i in range(6)]
    with pytest.raises(BattlesFileError, match="row 2 has no model_b"):
        _annotations(tmp_path / "a.json", rows)


def test_alpaca_eval_rows_of_the_baseline_against_itself_do_not_refuse_the_file(tmp_path: Path) -> None:
    rows = [_annotation(i, generator_2="gpt4" if i == 3 else "mine") for i in range(12)]
    report = audit_judges(_annotations(tmp_path / "a.json", rows), rounds=ROUNDS)
    assert _judge(report, "judge:ae").verdicts == 11


def test_a_judge_without_preferences_is_not_charged_parse_failures_in_a_mixed_file() -> None:
    annotations = pd.DataFrame([_row(f"q{i}", "model_b", "judge:ae", preference=2.0) for i in range(10)])
    verdicts = _people_and_judge(10)
    report = audit_judges(pd.concat([annotations, verdicts], ignore_index=True), rounds=ROUNDS)
    rows = {row.source: row for row in report.evaluators}
    assert rows["judge:ae"].parse_failures.value == 0.0
    assert rows["judge:g"].parse_failures.n == 0 or rows["judge:g"].parse_failures.value == 0.0


def test_a_judge_that_always_prefers_the_baseline_does_not_flood_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rows = [_annotation(i, preference=1.0) for i in range(12)]
    report = audit_judges(_annotations(tmp_path / "a.json", rows), rounds=ROUNDS)
    assert report.alpaca_eval, "the AlpacaEval board was fitted"
    assert "WARNING: class label" not in capfd.readouterr().err


# ------------------------------------------------------------------------------------- markdown and HTML


def test_a_pipe_in_a_model_or_judge_name_stays_in_its_cell() -> None:
    frame = _people_and_judge(16, judge="judge:ev|il")
    frame["model_b"] = "b|c"
    report = audit_judges(frame, rounds=ROUNDS, self_trained={"b|c"})
    cells = _first_cells(render_markdown(report, per_model=True))
    assert "judge:ev|il" in cells and "b|c" in cells


def test_a_newline_in_a_judge_name_does_not_break_the_tables() -> None:
    report = audit_judges(_people_and_judge(16, judge="judge:a\nb"), rounds=ROUNDS)
    markdown = render_markdown(report)
    assert "judge:a b" in _first_cells(markdown)
    position = next(table for table in _tables(markdown) if table[0][:2] == ["source", "verdicts"])
    assert len(position) == 3, "header, human, the judge"


def test_names_written_as_html_or_links_reach_the_page_only_as_allowed_markup() -> None:
    evil = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "![p](https://t.example/p.png)",
        '<a href="javascript:alert(1)">c</a>',
    ]
    rows = []
    for index in range(15):
        for source in ("human", "judge:" + evil[(index + 1) % 5]):
            rows.append(_row(f"b{index}", source=source, category=evil[index % 5]) | {"model_a": evil[index % 5]})
    report = audit_judges(pd.DataFrame(rows), rounds=ROUNDS)
    html = display_html(render_markdown(report, per_model=True))
    tags = _Tags()
    tags.feed(html)
    assert tags.tags, "the report is HTML"
    for tag, attributes in tags.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attributes:
            assert name in ("href", "title", "rel", "start"), (tag, name)
            if name == "href":
                assert (value or "").split(":", 1)[0] in ALLOWED_URL_SCHEMES, value
    assert "<script" not in html.lower() and "<img" not in html.lower()


# ---------------------------------------------------------------------------------------------------- JSON


def test_report_json_of_infinite_and_missing_numbers_is_strict_json() -> None:
    generator = np.random.default_rng(3)
    n = 20
    frame = pd.DataFrame(
        {
            "model_a": "base",
            "model_b": generator.choice(["m", "k"], n),
            "winner": generator.choice(["model_a", "model_b", "tie"], n),
            "battle_id": [f"q{i}" for i in range(n)],
            "len_a": [np.inf, -np.inf, np.nan, 1e308, -5.0] * 4,
            "len_b": [1.0, np.inf, 3.0, 1e308, 0.0] * 4,
            "preference": [np.inf, -np.inf, np.nan, 1.5, 2.0] * 4,
        }
    )
    frame = pd.concat([frame.assign(source="judge:g"), frame.assign(source="human")], ignore_index=True)
    with np.errstate(all="ignore"):
        report = audit_judges(frame, rounds=ROUNDS, self_trained={"m"})
    text = json.dumps(report_json(report), allow_nan=False)
    assert "Infinity" not in text and "NaN" not in text
    render_markdown(report, per_model=True)


def test_infinite_or_negative_lengths_are_missing() -> None:
    frame = pd.DataFrame(
        [_row(f"b{i}", source="judge:g", len_a=length, len_b=10.0) for i, length in enumerate([np.inf, -5.0])]
    )
    with np.errstate(all="ignore"):
        report = audit_judges(frame, rounds=ROUNDS)
    assert _judge(report, "judge:g").length.longer_wins.n == 0


# ------------------------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("where", ["missing-dir/report.md", "."])
def test_an_unwritable_out_is_one_line_and_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    path = _write_jsonl([_row("1"), _row("1", source="judge:g")], tmp_path / "b.jsonl")
    assert main(["audit", "--battles", str(path), "--rounds", "5", "--out", str(tmp_path / where)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("value", ["=x", "g=", "g=,", " = a"])
def test_a_malformed_self_trained_value_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    path = _write_jsonl([_row("1"), _row("1", source="judge:g")], tmp_path / "b.jsonl")
    assert main(["audit", "--battles", str(path), "--rounds", "5", "--self-trained", value]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --self-trained") and err.count("\n") == 1


def test_self_trained_spellings_that_mean_the_same() -> None:
    assert self_trained_option(["judge:g=a"]) == self_trained_option([" g = a , "]) == {"judge:g": frozenset({"a"})}
    assert self_trained_option(["g=a=b"]) == {"judge:g": frozenset({"a=b"})}
    with pytest.raises(ValueError, match="every value"):
        self_trained_option(["a", "g=b"])


def test_an_empty_self_trained_value_is_refused() -> None:
    with pytest.raises(ValueError, match="--self-trained"):
        self_trained_option([" "])


def test_a_self_trained_model_absent_from_the_data_is_named() -> None:
    report = audit_judges(_people_and_judge(8), rounds=ROUNDS, self_trained={"judge:g": frozenset({"typo"})})
    assert any("typo" in message for message in report.messages)


def test_an_empty_csv_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.csv").write_text("")
    assert main(["audit", "--battles", str(tmp_path / "empty.csv"), "--rounds", "5"]) == 1
    err = capsys.readouterr().err
    assert "empty file" in err and err.count("\n") == 1


@pytest.mark.parametrize(("name", "text"), [("empty.jsonl", ""), ("empty.json", "[]")])
def test_an_empty_file_says_it_holds_no_battles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    (tmp_path / name).write_text(text)
    code = main(["audit", "--battles", str(tmp_path / name), "--rounds", "5"])
    captured = capsys.readouterr()
    said = (captured.out + captured.err).lower()
    assert "no battles" in said or "empty" in said
    assert code == 1 or "from the source column: \n" not in captured.out


@pytest.mark.parametrize("sources", [["judge:g"], ["human"], ["judge:g", "judge:h"]])
def test_a_file_of_judges_only_or_people_only_is_a_report(sources: list[str]) -> None:
    base = _people_and_judge(10)
    base = base[base["source"] == "human"]
    frame = pd.concat([base.assign(source=source) for source in sources], ignore_index=True)
    report = audit_judges(frame, rounds=ROUNDS)
    expected = "no judge verdicts" if sources == ["human"] else "no human votes"
    assert any(message.startswith(expected) for message in report.messages)
    json.dumps(report_json(report), allow_nan=False)
    assert "<table>" in display_html(render_markdown(report, per_model=True))


# --------------------------------------------------------------------------------------- the judgments table


def _judged(store: Store, battle: str, judge: str, verdicts: tuple[str | None, str | None], outcome: str) -> None:
    calls = [
        NewJudgment(order, verdict=verdict, latency=None if verdict is None else 1.5, prompt_tokens=10)
        for order, verdict in zip(("original", "swapped"), verdicts, strict=True)
    ]
    vote = None if outcome == "parse_failure" else ("model_a", None)
    store.judgments.record(
        battle_id=battle,
        turn=1,
        judge=judge,
        judge_model="m",
        prompt_version="v1",
        scale="arena_hard",
        judgments=calls,
        outcome=outcome,
        vote=vote,
    )


def test_usage_counts_calls_failures_turns_tokens_and_timed_calls(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'arena.db'}")
    try:
        battles = [voted_battle(store, prompt=f"Q{i}?") for i in range(3)]
        _judged(store, battles[0], "judge:j", ("A", "B"), "consistent")
        _judged(store, battles[1], "judge:j", ("A", "A"), "inconsistent")
        _judged(store, battles[2], "judge:j", (None, None), "parse_failure")
        usage = store.judgments.usage()["judge:j"]
    finally:
        store.dispose()
    assert usage == {
        "judgments": 6,
        "parse_failures": 2,
        "consistent": 1,
        "inconsistent": 1,
        "prompt_tokens": 60,
        "completion_tokens": 0,
        "seconds": 6.0,
        "timed": 4,
    }


def test_a_judge_whose_every_call_failed_is_in_the_evaluator_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store.open(url)
    for index in range(3):
        battle = voted_battle(store, prompt=f"Q{index}?")
        _judged(store, battle, "judge:broken", (None, None), "parse_failure")
        _judged(store, battle, "judge:ok", ("A", "B"), "consistent")
    store.dispose()
    assert main(["audit", "--db", url, "--rounds", "5", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {row["source"]: row for row in report["evaluators"]}
    assert rows["judge:broken"]["parse_failures"]["value"] == 1.0


# ------------------------------------------------------------------------------------------------- a huge table


def test_a_large_table_is_audited_in_one_pass() -> None:
    """200,000 verdicts, 20 models: a smoke test of the vectorised paths (a 2M-row file took 15 s and 1.6 GB here)."""
    generator = np.random.default_rng(4)
    n = 200_000
    first = np.repeat(generator.integers(0, 20, n // 2), 2)  # one pair per battle, its human vote and judge verdict
    second = (first + np.repeat(generator.integers(1, 20, n // 2), 2)) % 20
    names = np.array([f"m{i}" for i in range(20)], dtype=object)
    frame = pd.DataFrame(
        {
            "model_a": pd.Categorical.from_codes(first, names),
            "model_b": pd.Categorical.from_codes(second, names),
            "winner": generator.choice(["model_a", "model_b", "tie"], n),
            "battle_id": (np.arange(n) // 2).astype(str),
            "source": np.where(np.arange(n) % 2 == 0, "human", "judge:g"),
            "len_a": generator.integers(1, 500, n).astype(float),
            "len_b": generator.integers(1, 500, n).astype(float),
        }
    )
    report = audit_judges(frame, rounds=ROUNDS)
    humans = _judge(report, "judge:g").humans
    assert humans is not None and humans.turns == n // 2 and report.human_turns == n // 2


def test_read_limits_refuse_one_row_over_in_every_format(tmp_path: Path) -> None:
    rows = [_row(str(i)) for i in range(4)]
    pd.DataFrame(rows).to_csv(tmp_path / "x.csv", index=False)
    pd.DataFrame(rows).to_parquet(tmp_path / "x.parquet")
    _write_jsonl(rows, tmp_path / "x.jsonl")
    (tmp_path / "x.json").write_text(json.dumps(rows))
    for name in ("x.csv", "x.parquet", "x.jsonl", "x.json"):
        assert len(read_battles(tmp_path / name, limits=ReadLimits(max_rows=4), name="up")) == 4
        with pytest.raises(BattlesFileError, match=r"^up: more than 3 battles"):
            read_battles(tmp_path / name, limits=ReadLimits(max_rows=3), name="up")


def _many_models(models: int) -> pd.DataFrame:
    """2 verdicts per model, each model against another: as many models as half the rows."""
    names = [f"m{i}" for i in range(models)]
    rows = []
    for index in range(2 * models):
        a, b = names[index % models], names[(index // 2 + 1 + index % models) % models]
        b = b if b != a else names[(index % models + 1) % models]
        rows.append(
            _row(f"q{index}", source="judge:g", len_a=float(index % 7 + 1), len_b=3.0) | {"model_a": a, "model_b": b}
        )
    return pd.DataFrame(rows)


def test_per_model_length_control_does_not_compare_every_row_with_every_model(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = [0]
    equal = pd.Categorical.__eq__

    def counting(self: pd.Categorical, other: object) -> Any:
        compared[0] += len(self)
        return equal(self, other)

    frame = _many_models(1000)
    monkeypatch.setattr(pd.Categorical, "__eq__", counting)
    audit_judges(frame, rounds=ROUNDS)
    assert compared[0] <= 50 * len(frame), f"{compared[0] / len(frame):.0f} comparisons per row"


def _difficulty_input(models: int) -> pd.DataFrame:
    """AlpacaEval annotations: instruction i judged for models i and i + 1 (2 per instruction, as the estimate asks)."""
    generator = np.random.default_rng(5)
    return pd.DataFrame(
        [
            {
                "instruction": f"q{i}",
                "generator_1": "base",
                "generator_2": f"m{m}",
                "len_1": float(generator.integers(10, 100)),
                "len_2": float(generator.integers(10, 100)),
                "preference": float(generator.uniform(1, 2)),
            }
            for i in range(models)
            for m in (i, (i + 1) % models)
        ]
    )


def _peak_bytes(annotations: pd.DataFrame) -> int:
    tracemalloc.start()
    try:
        alpaca_eval.estimate_instruction_difficulty(annotations)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def count_fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """AlpacaEval's length-control fit replaced by a counter (one element: the fits made), weights all zero."""
    fits = [0]

    def fake_fit(features: np.ndarray, target: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, float]:
        fits[0] += 1
        return np.zeros(features.shape[1]), 1.0

    monkeypatch.setattr(alpaca_eval, "_fit_cv", fake_fit)
    return fits


def test_an_upload_naming_more_models_than_its_limit_is_refused_before_any_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The work of an audit grows with the models a file names (one AlpacaEval fit per model and judge, a difficulty
    estimate quadratic in the models): the page's uploads carry limits (settings.upload_max_models / _judges), and a
    file beyond them is refused with the counts before anything is fitted. The command line has no limit."""
    fits = count_fits(monkeypatch)
    generator = np.random.default_rng(6)
    rows = [
        _row(f"q{(m * 6 + j) // 2}", str(generator.choice(["model_a", "model_b"])), "judge:g")
        | {"model_a": "base", "model_b": f"m{m}", "len_a": float(generator.integers(10, 99)), "len_b": 50.0}
        for m in range(300)
        for j in range(6)
    ]
    with pytest.raises(AuditInputError, match=r"names 301 models; an audit here takes at most 200"):
        audit_judges(pd.DataFrame(rows), rounds=ROUNDS, limits=AuditLimits(max_models=200, max_judges=10))
    assert fits[0] == 0
    many_judges = pd.DataFrame([_row("1", source=f"judge:j{i}") for i in range(12)])
    with pytest.raises(AuditInputError, match=r"names 12 LLM judges; an audit here takes at most 10"):
        audit_judges(many_judges, rounds=ROUNDS, limits=AuditLimits(max_models=200, max_judges=10))


def test_the_difficulty_estimate_at_the_upload_limit_stays_small() -> None:
    """At the upload limit of 200 models the joint fit's dense blocks stay a few megabytes."""
    assert _peak_bytes(_difficulty_input(200)) < 32 * 2**20


def test_alpaca_eval_tables_past_the_fit_budget_are_left_out_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    fits = count_fits(monkeypatch)
    generator = np.random.default_rng(7)
    rows = [
        _row(f"q{j}", str(generator.choice(["model_a", "model_b"])), judge)
        | {"model_a": "base", "model_b": f"m{m}", "len_a": float(generator.integers(10, 99)), "len_b": 50.0}
        for judge in ("judge:g", "judge:h")
        for m in range(60)
        for j in range(6)
    ]
    report = audit_judges(pd.DataFrame(rows), rounds=ROUNDS, limits=AuditLimits(max_fits=100))
    boards = {board.source: board for board in report.alpaca_eval}
    assert len(boards["judge:g"].models) == 60 and fits[0] <= 60  # one fit at most per model (none if all alike)
    assert boards["judge:h"].models == () and "limit" in (boards["judge:h"].message or "")
