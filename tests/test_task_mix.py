"""Specification of an SFT set's task mix (leaderboard.task_mix) and its command line (`python -m training.generate
mix`): use-case shares with Wilson intervals against InstructGPT's table or a target, the distance and a
goodness-of-fit test, prompt and answer lengths, and a seeded sampler that draws a set to a target mix."""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest, chisquare

from facts.categories import CATEGORIES, classify_prompt
from facts.json_safe import dumps
from leaderboard import task_mix
from leaderboard.task_mix import (
    CATEGORY_USE_CASE,
    USE_CASES,
    TargetError,
    apportion,
    goodness_of_fit,
    instructgpt_mix,
    mix_report,
    parse_record,
    resolve_target,
    sample_to_mix,
    token_count,
    use_case,
    wilson_interval,
)
from models.registry import DecodingConfig, ModelSpec
from store import NewSftExample, NewTurn, Store
from tests.shared_data import SHARED_DATA
from training.generate import mix

SEEDS = SHARED_DATA / "self-instruct" / "seed_tasks.jsonl"

# Prompts whose category the classifier is checked to give (test_the_fixture_prompts_classify_as_named).
PROMPTS = {
    "creative_writing": ["Write a poem about the sea.", "Write a short story about a dragon.", "Write a haiku."],
    "open_qa": ["Who wrote Hamlet?", "What is the capital of Peru?", "Why is the sky blue?"],
    "chat": ["hi", "hello there"],
    "coding": ["Write a Python function that reverses a list."],
    "math": ["What is the derivative of x^2?"],
    "summarization": ["Summarize this article for me."],
}


def chat(prompt: str, answer: str = "An answer.") -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def records_of(counts: dict[str, int], answer: str = "An answer.") -> list[dict[str, Any]]:
    """`counts[category]` chat records whose prompt the classifier puts in that category (prompts cycle)."""
    records = []
    for category, count in counts.items():
        prompts = PROMPTS[category]
        records += [chat(f"{prompts[i % len(prompts)]}", answer) for i in range(count)]
    return records


def test_the_fixture_prompts_classify_as_named() -> None:
    for category, prompts in PROMPTS.items():
        assert {classify_prompt(p) for p in prompts} == {category}


# ---- the target and the mapping ----------------------------------------------------------------------


def test_instructgpts_table_loads_and_sums_to_one() -> None:
    shares = instructgpt_mix()
    assert math.isclose(sum(shares.values()), 1.0)
    assert list(shares)[:3] == ["generation", "open_qa", "brainstorming"]
    assert set(shares) == set(USE_CASES) - {"coding"}
    # The paper's percentages (summing to 99.9), normalised.
    assert math.isclose(shares["generation"], 45.6 / 99.9) and math.isclose(shares["extraction"], 1.9 / 99.9)


def test_the_shipped_table_is_the_shared_one_with_its_license() -> None:
    shipped = task_mix.TABLE.parent
    assert {"instructgpt_use_cases.csv", "LICENSE", "README.md"} <= {p.name for p in shipped.iterdir()}
    shared = SHARED_DATA / "task-distributions" / "instructgpt_use_cases.csv"
    if shared.exists():
        assert task_mix.TABLE.read_bytes() == shared.read_bytes()
    with task_mix.TABLE.open() as stream:
        assert len(list(csv.DictReader(stream))) == 10


def test_h4_gives_instructgpts_other_slot_to_code() -> None:
    name, h4 = resolve_target("h4")
    assert name == "h4" and "other" not in h4
    assert h4["coding"] == instructgpt_mix()["other"]
    assert {k: v for k, v in h4.items() if k != "coding"} == {
        k: v for k, v in instructgpt_mix().items() if k != "other"
    }


def test_every_category_the_classifier_can_produce_has_a_use_case() -> None:
    # Fails when facts.categories gains a category without a mapping here.
    assert set(CATEGORY_USE_CASE) == set(CATEGORIES)
    assert set(CATEGORY_USE_CASE.values()) <= set(USE_CASES)
    for category in CATEGORIES:
        assert use_case(category) in instructgpt_mix()
        assert use_case(category, "h4") in resolve_target("h4")[1]


def test_code_is_other_against_instructgpt_and_coding_against_h4_and_math_is_open_qa() -> None:
    assert use_case("coding") == "other"
    assert use_case("coding", "h4") == "coding"
    assert use_case("math") == use_case("math", "h4") == "open_qa"
    assert use_case("creative_writing") == "generation"
    with pytest.raises(ValueError, match="unknown category"):
        use_case("poetry")


def test_a_given_target_takes_ids_or_table_names_and_is_normalised() -> None:
    name, shares = resolve_target({"Open QA": 30, "generation": 50, "Extract": 20})
    assert name == "custom"
    assert shares == {"generation": 0.5, "open_qa": 0.3, "extraction": 0.2}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"poetry": 1}, "unknown use case"),
        ({"generation": -1}, ">= 0"),
        ({"generation": float("nan")}, ">= 0"),
        ({"generation": True}, ">= 0"),
        ({"generation": "1"}, ">= 0"),
        ({"generation": 0}, "no use case a positive share"),
        ({"open_qa": 1, "Open QA": 1}, "named twice"),
        ("alpaca", "unknown target"),
    ],
)
def test_a_bad_target_is_refused_with_the_reason(target: Any, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        resolve_target(target)


# ---- the report --------------------------------------------------------------------------------------


def test_shares_and_intervals_are_exact_on_a_constructed_set() -> None:
    records = records_of({"creative_writing": 5, "open_qa": 3, "chat": 2})
    report = mix_report(records, {"generation": 0.5, "open_qa": 0.3, "chat": 0.2})
    assert report.n == 10 and report.unreadable == 0
    rows = {row.use_case: row for row in report.rows}
    assert [row.use_case for row in report.rows] == ["generation", "open_qa", "chat"]
    for case, count in (("generation", 5), ("open_qa", 3), ("chat", 2)):
        reference = binomtest(count, 10).proportion_ci(0.95, method="wilson")  # an independent implementation
        assert rows[case].count == count and rows[case].share == count / 10
        assert math.isclose(rows[case].lower, reference.low) and math.isclose(rows[case].upper, reference.high)
    assert report.distance == 0.0
    assert report.fit.statistic == 0.0 and report.fit.df == 2 and math.isclose(report.fit.p_value, 1.0)
    assert report.fit.p_value_monte_carlo == 1.0


def test_against_instructgpt_every_use_case_is_listed_and_the_distance_is_total_variation() -> None:
    records = records_of({"creative_writing": 5, "open_qa": 3, "chat": 1, "coding": 1})
    report = mix_report(records)
    target = instructgpt_mix()
    assert [row.use_case for row in report.rows] == list(target)
    shares = {row.use_case: row.share for row in report.rows}
    assert shares["other"] == 0.1  # the coding prompt
    assert dict(next(r for r in report.rows if r.use_case == "other").categories) == {"coding": 1}
    expected = 0.5 * sum(abs(shares[case] - target[case]) for case in target)
    assert math.isclose(report.distance, expected)
    observed = [row.count for row in report.rows]
    reference = chisquare(observed, [10 * share for share in target.values()])
    assert math.isclose(report.fit.statistic, reference.statistic)
    assert math.isclose(report.fit.p_value, reference.pvalue)
    assert report.fit.df == 9 and math.isclose(report.fit.min_expected, 10 * target["extraction"])


def test_records_in_a_use_case_the_target_excludes_make_the_fit_impossible() -> None:
    report = mix_report(records_of({"creative_writing": 4, "chat": 1}), {"generation": 1, "open_qa": 1})
    chat_row = report.rows[-1]
    assert (chat_row.use_case, chat_row.count, chat_row.target) == ("chat", 1, 0.0)
    assert report.fit.statistic == math.inf and report.fit.p_value == 0.0 == report.fit.p_value_monte_carlo


def test_the_monte_carlo_p_value_is_seeded_and_close_to_the_asymptotic_one_on_large_counts() -> None:
    counts, target = [520, 300, 180], [0.5, 0.3, 0.2]
    first, second = goodness_of_fit(counts, target), goodness_of_fit(counts, target)
    assert first == second
    assert abs(first.p_value - first.p_value_monte_carlo) < 0.03


def test_wilson_interval_without_observations_is_undefined() -> None:
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0


def test_prompt_and_answer_in_each_layout() -> None:
    conversation = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question"},
            {"role": "assistant", "content": "last answer"},
        ]
    }
    assert parse_record(conversation) == task_mix.Parsed("first question", "last answer")
    record = {"instruction": "Translate.", "input": "Bonjour", "output": "Hello"}
    assert parse_record(record) == task_mix.Parsed("Translate.\n\nBonjour", "Hello")
    assert parse_record({"instruction": "Name a colour.", "output": "Blue"}).prompt == "Name a colour."
    seed = {"instruction": "Add.", "instances": [{"input": "2, 3", "output": "5"}], "is_classification": False}
    assert parse_record(seed) == task_mix.Parsed("Add.\n\n2, 3", "5")
    assert parse_record({"messages": [{"role": "user", "content": "unanswered"}]}).answer is None


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("a string", "expected a JSON object"),
        ([1, 2], "expected a JSON object"),
        ({"text": "hi"}, "neither messages"),
        ({"messages": []}, "non-empty list"),
        ({"messages": [{"role": "user"}]}, "role and content"),
        ({"messages": [{"role": "user", "content": 3}]}, "must be a string"),
        ({"messages": [{"role": "assistant", "content": "orphan"}]}, "no user message"),
        ({"messages": [{"role": "user", "content": " \n"}]}, "no user message"),
        ({"instruction": "  ", "output": "x"}, "empty instruction"),
        ({"instruction": ["x"], "output": "x"}, "must be a string"),
        ({"instruction": "x", "input": 5, "output": "x"}, "input must be a string"),
        ({"instruction": "x", "instances": []}, "instances"),
    ],
)
def test_a_malformed_record_is_counted_with_its_reason_never_raised(record: Any, reason: str) -> None:
    report = mix_report([chat("hi"), record])
    assert report.n == 1 and report.unreadable == 1
    assert report.problems[0][0] == 1 and reason in report.problems[0][1]


def test_no_readable_record_gives_an_empty_report_not_an_error() -> None:
    report = mix_report([{"x": 1}], unparsed=2)
    assert report.n == 0 and report.unreadable == 3
    assert "No readable record" in report.markdown()
    json.loads(dumps(report.to_dict()))
    report.figure()


def test_lengths_count_words_and_punctuation() -> None:
    assert token_count("Hello, world!") == 4
    assert token_count("  ") == 0
    answers = ["one", "one two three", "a " * 20, "b " * 300]
    report = mix_report([chat("hi", answer) for answer in answers])
    lengths = report.answer_lengths
    assert lengths.count == 4 and lengths.minimum == 1 and lengths.maximum == 300
    assert math.isclose(lengths.mean, (1 + 3 + 20 + 300) / 4)
    assert math.isclose(lengths.quantile(0.5), float(np.median([1, 3, 20, 300])))
    assert sum(count for _, _, count in lengths.bins) == 4
    bins = {low: count for low, _, count in lengths.bins}
    assert (bins[0], bins[16], bins[256]) == (2, 1, 1)
    assert report.prompt_lengths.count == 4 and report.prompt_lengths.maximum == 1
    # Records without an answer count for the prompts only.
    unanswered = mix_report([{"messages": [{"role": "user", "content": "hi"}]}])
    assert unanswered.prompt_lengths.count == 1 and unanswered.answer_lengths.count == 0


def test_the_table_figure_and_dict_carry_the_same_mix() -> None:
    report = mix_report(records_of({"creative_writing": 5, "open_qa": 3, "chat": 2}), "h4")
    text = report.markdown()
    assert "| Generation | 5 | 50.0% |" in text and "Total variation distance" in text and "χ²" in text
    assert "| prompt | 10 |" in text and task_mix.TOKEN_RULE in text
    figure = report.figure()
    bars = next(trace for trace in figure.data if trace.name == "this set")
    assert list(bars.x) == [row.label for row in report.rows] and list(bars.y) == [row.share for row in report.rows]
    assert [trace.name for trace in figure.data] == ["this set", "target", "prompts", "answers"]
    payload = json.loads(dumps(report.to_dict()))
    assert payload["target_name"] == "h4" and payload["rows"][0]["count"] == 5
    assert payload["mapping"]["coding"] == "coding" and payload["n"] == 10


# ---- the sampler -------------------------------------------------------------------------------------

TARGET = {"generation": 0.5, "open_qa": 0.3, "chat": 0.2}


def drawn_use_cases(records: list[dict[str, Any]]) -> Counter[str]:
    return Counter(use_case(classify_prompt(parse_record(r).prompt), TARGET) for r in records)


def numbered(counts: dict[str, int]) -> list[dict[str, Any]]:
    """Records with distinct answers, so that a repeat would show."""
    return [{**record, "id": i} for i, record in enumerate(records_of(counts))]


def test_the_sampler_hits_the_target_exactly_when_the_set_allows_it() -> None:
    records = numbered({"creative_writing": 10, "open_qa": 10, "chat": 10, "coding": 5})
    result = sample_to_mix(records, TARGET, 10, seed=4)
    assert dict(result.drawn) == dict(result.quotas) == {"generation": 5, "open_qa": 3, "chat": 2}
    assert drawn_use_cases(list(result.records)) == {"generation": 5, "open_qa": 3, "chat": 2}
    assert not result.shortfalls and result.distance == 0.0
    assert len(set(result.indices)) == 10 and list(result.indices) == sorted(result.indices)
    assert [records[i] for i in result.indices] == list(result.records)


def test_the_draw_is_seeded_and_without_replacement() -> None:
    records = numbered({"creative_writing": 30, "open_qa": 30, "chat": 30})
    first, again = sample_to_mix(records, TARGET, 60, seed=1), sample_to_mix(records, TARGET, 60, seed=1)
    other = sample_to_mix(records, TARGET, 60, seed=2)
    assert first.indices == again.indices and first.indices != other.indices
    assert len({r["id"] for r in first.records}) == 60


def test_a_use_case_short_of_records_is_reported_and_its_places_shared_by_the_target() -> None:
    records = numbered({"creative_writing": 30, "open_qa": 30, "chat": 2})
    result = sample_to_mix(records, TARGET, 20)
    assert result.quotas == {"generation": 10, "open_qa": 6, "chat": 4}
    assert result.shortfalls == {"chat": 2}
    # The 18 other places split 0.5 : 0.3 (11.25 : 6.75, largest remainder to open QA).
    assert result.drawn == {"generation": 11, "open_qa": 7, "chat": 2}
    assert len(result.records) == 20 and "Chat 2" in result.summary()
    assert math.isclose(result.achieved["chat"], 0.1)


def test_a_set_too_small_for_n_gives_every_record_the_target_wants() -> None:
    records = numbered({"creative_writing": 3, "open_qa": 1, "coding": 4})
    result = sample_to_mix(records, TARGET, 50)
    assert len(result.records) == 4 and result.drawn == {"generation": 3, "open_qa": 1, "chat": 0}
    assert "too few records" in result.summary()
    assert all(classify_prompt(parse_record(r).prompt) != "coding" for r in result.records)  # no target share


def test_apportion_sums_to_the_total_and_stays_within_one_of_each_share() -> None:
    shares = instructgpt_mix()
    for total in (1, 7, 100, 1001):
        parts = apportion(total, shares)
        assert sum(parts.values()) == total
        assert all(abs(parts[k] - total * s) < 1 for k, s in shares.items())


def test_the_sampler_refuses_a_bad_n() -> None:
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="whole number"):
            sample_to_mix([chat("hi")], None, bad)  # type: ignore[arg-type]


# ---- the 175 Self-Instruct seed tasks ----------------------------------------------------------------


def test_the_seed_tasks_mix_against_instructgpt() -> None:
    if not SEEDS.exists():
        pytest.skip(f"SELF-INSTRUCT SEEDS NOT FOUND at {SEEDS}: set ARENA_SHARED_DATA to the shared/data folder")
    records = [json.loads(line) for line in SEEDS.read_text().splitlines() if line.strip()]
    report = mix_report(records)
    assert report.n == 175 and report.unreadable == 0
    assert sum(row.count for row in report.rows) == 175
    assert [row.use_case for row in report.rows] == list(instructgpt_mix())
    assert report.prompt_lengths.count == report.answer_lengths.count == 175
    assert 0 < report.distance < 1 and report.fit.df == 9


# ---- the command line --------------------------------------------------------------------------------


def cli(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser()
    mix.add_arguments(parser)
    return mix.run(parser.parse_args([str(a) for a in argv]))


def write_jsonl(path: Path, records: list[Any], extra_lines: tuple[str, ...] = ()) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "".join(f"{line}\n" for line in extra_lines))
    return path


@pytest.fixture
def chat_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "chat.jsonl", numbered({"creative_writing": 10, "open_qa": 6, "chat": 4}))


@pytest.fixture
def instruction_file(tmp_path: Path) -> Path:
    records = [
        {"instruction": "Write a poem about rain.", "input": "", "output": "Drops."},
        {"instruction": "Who painted the Mona Lisa?", "output": "Leonardo."},
    ]
    return write_jsonl(tmp_path / "instructions.jsonl", records, ("not json", "{}", ""))


def test_the_command_prints_the_table_and_counts_bad_lines(
    chat_file: Path, instruction_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(chat_file, instruction_file) == 0
    out = capsys.readouterr().out
    assert "| Generation | 11 | 50.0% |" in out and "| Open QA | 7 |" in out
    assert "2 unreadable records left out" in out
    assert f"- {instruction_file}:3: not JSON" in out
    assert f"- {instruction_file}:4: neither messages" in out


def test_the_command_prints_json_against_a_target_file(
    chat_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "target.json"
    target.write_text(json.dumps({"Generation": 50, "Open QA": 30, "Chat": 20}))
    assert cli(chat_file, "--target", target, "--format", "json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["report"]["target"] == {"generation": 0.5, "open_qa": 0.3, "chat": 0.2}
    assert payload["report"]["distance"] == 0.0 and payload["sources"][0]["readable"] == 20
    assert payload["sample"] is None


def test_the_command_writes_the_plot_and_a_sample_that_reads_back(
    chat_file: Path, instruction_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot, out = tmp_path / "plots" / "mix.html", tmp_path / "sampled.jsonl"
    args = (chat_file, instruction_file, "--target", "h4", "--plot", plot, "--sample", 6, "--out", out, "--seed", 5)
    assert cli(*args) == 0
    assert "plotly" in plot.read_text()[:200_000].lower() and "Task mix of 22 records" in plot.read_text()
    sampled = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(sampled) == 6
    lines = chat_file.read_text().splitlines() + instruction_file.read_text().splitlines()[:2]
    inputs = [json.loads(line) for line in lines]
    assert all(record in inputs for record in sampled)  # unchanged, in their own layout
    assert len({json.dumps(r, sort_keys=True) for r in sampled}) == 6
    assert "wrote 6 records" in capsys.readouterr().out
    first = out.read_text()
    assert cli(*args) == 0 and out.read_text() == first  # seeded
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_the_sample_reads_back_as_a_set_with_the_drawn_mix(chat_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "sampled.jsonl"
    target = tmp_path / "target.json"
    target.write_text(json.dumps(TARGET))
    assert cli(chat_file, "--target", target, "--sample", 10, "--out", out) == 0
    again = mix_report([json.loads(line) for line in out.read_text().splitlines()], TARGET)
    assert [row.count for row in again.rows] == [5, 3, 2] and again.distance == 0.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("{missing}",), "no such file"),
        (("{junk}",), "no readable record"),
        (("{empty}",), "no readable record (0 lines)"),
        (("{chat}", "{junk}"), "no readable record"),
        ((), "give at least one JSONL file"),
        (("{chat}", "--sample", "5"), "--sample N needs --out"),
        (("{chat}", "--out", "{tmp}/x.jsonl"), "give --sample N too"),
        (("{chat}", "--sample", "0", "--out", "{tmp}/x.jsonl"), "between 1 and"),
        (("{chat}", "--sample", "5", "--out", "{chat}"), "is one of the input files"),
        (("{chat}", "--plot", "{tmp}"), "is a folder"),
        (("{chat}", "--target", "alpaca"), "neither instructgpt, h4 nor a JSON file"),
        (("{chat}", "--target", "{junk}"), "is not JSON"),
        (("{chat}", "--target", "{list_target}"), "must hold a JSON object"),
        (("{chat}", "--target", "{bad_target}"), "unknown use case"),
        (("{chat}", "--db", "sqlite:///{tmp}/none.db"), "no database file"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(
    argv: tuple[str, ...], message: str, chat_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "junk.jsonl").write_text("not json\n[1]\n")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    (tmp_path / "list_target.json").write_text("[1]")
    (tmp_path / "bad_target.json").write_text('{"poetry": 1}')
    names = {
        "missing": tmp_path / "missing.jsonl",
        "junk": tmp_path / "junk.jsonl",
        "empty": tmp_path / "empty.jsonl",
        "chat": chat_file,
        "tmp": tmp_path,
        "list_target": tmp_path / "list_target.json",
        "bad_target": tmp_path / "bad_target.json",
    }
    assert cli(*(a.format(**names) for a in argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.jsonl").exists()


def test_a_sample_with_nothing_the_target_wants_is_exit_1_and_writes_nothing(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "code.jsonl", records_of({"coding": 3}))
    target = tmp_path / "target.json"
    target.write_text('{"generation": 1}')
    out = tmp_path / "x.jsonl"
    assert cli(source, "--target", target, "--sample", 2, "--out", out) == 1
    assert not out.exists()


def test_lines_end_at_newline_only_and_nan_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "odd.jsonl"
    # A raw U+2028 inside a JSON string is valid JSON; str.splitlines would cut the record in two.
    source.write_bytes(
        json.dumps(chat("Who wrote\u2028Hamlet?"), ensure_ascii=False).encode() + b"\n"
        b'{"instruction": "Write a poem.", "output": NaN}\n\xff\xfe\n'
    )
    assert cli(source, "--format", "json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["report"]["n"] == 1 and payload["report"]["unreadable"] == 2
    assert [p["reason"] for p in payload["problems"]] == ["not JSON (NaN is not a JSON number)", "not UTF-8"]


# ---- a saved set from the database -------------------------------------------------------------------


def test_the_command_reads_a_saved_set_from_the_database(
    storage: Store, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = ModelSpec(name="tiny-greedy", generation=DecodingConfig(temperature=0.0, max_new_tokens=6))
    storage.registry.sync([model])
    for number, (prompt, answer) in enumerate((("Write a poem about the sea.", "Waves."), ("Who wrote Hamlet?", "?"))):
        battle = storage.battles.create(
            mode="direct", model_a=model.name, model_b=None, swapped=False, params_a={}, params_b={},
            session_id=f"s{number}", voter_id="v",
        )  # fmt: skip
        storage.battles.add_turn(battle.id, NewTurn(user_message=prompt, answer_a=answer, finish_a="stop"))
        messages = ({"role": "user", "content": prompt}, {"role": "assistant", "content": answer})
        storage.sft_examples.save(
            NewSftExample(
                set_name="direct-chat", battle_id=battle.id, turn=1, attempt=0, messages=messages,
                original_answer=answer, edited_answer="Shakespeare." if number else None, model=model.name,
                saved_by="v",
            )
        )  # fmt: skip
    out = tmp_path / "sampled.jsonl"
    assert cli("--db", db_url, "--set", "direct-chat", "--format", "json", "--sample", 2, "--out", out) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = {row["use_case"]: row["count"] for row in payload["report"]["rows"]}
    assert payload["report"]["n"] == 2 and rows["generation"] == rows["open_qa"] == 1
    assert payload["sources"] == [{"source": "saved set 'direct-chat'", "records": 2, "readable": 2}]
    sampled = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["messages"][-1]["content"] for r in sampled} == {"Waves.", "Shakespeare."}  # the edit, as exported
    assert cli("--db", db_url, "--set", "other") == 2
    assert "no saved examples" in capsys.readouterr().err
