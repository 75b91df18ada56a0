"""MT-Bench (python -m evals mt-bench): the model answers both turns, its first answer in the conversation of the
second; the judge grades each turn 1-10 with FastChat's prompts, reference-guided for math, reasoning and coding;
the score is the mean of every graded turn with a bootstrap interval over questions; an unreadable grade is recorded,
never guessed. The model and the judge are real OpenAI-protocol servers on 127.0.0.1 answering by a script."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest

from evals.__main__ import main
from evals.mt_bench import QUESTIONS, REFERENCES, parse_rating, questions, summarize
from models.registry import DecodingConfig, ModelSpec
from store import Store
from tests.openai_server import OpenAIServer, streamed

UNREADABLE = "mt-bench:81"  # the judge gives this question's first turn no readable grade


def model_or_judge(body: dict[str, Any]) -> list[Any]:
    """The model answers "A1 to <question>" then "A2 {with braces}"; the judge gives turn 1 a 7 and turn 2 a 4
    (the multi-turn prompt shows the whole conversation), and question 81's first turn nothing readable."""
    messages = body["messages"]
    if body["model"] == "judge":
        text = messages[1]["content"]
        if "### Assistant A:" in text:
            return streamed("The follow-up is weak. Rating: [[4]]")
        if "Compose an engaging travel blog post about a recent trip to Hawaii" in text:
            return streamed("Somewhere between [[3]] and [[9]].")
        return streamed("Good. Rating: [[7]]")
    users = [m["content"] for m in messages if m["role"] == "user"]
    return streamed(f"A1 to {users[0][:30]}" if len(users) == 1 else "A2 {with braces} {question}")


def remote(name: str, server: OpenAIServer) -> ModelSpec:
    options = {"base_url": server.base_url, "model": name, "no_api_key": True}
    return ModelSpec(name=name, backend="openai", options=options, generation=DecodingConfig(temperature=0.0))


@pytest.fixture
def arena(storage: Store, openai_server: OpenAIServer) -> Store:
    openai_server.responder = model_or_judge
    storage.registry.sync([remote("student", openai_server), remote("judge", openai_server)])
    return storage


def test_the_questions_are_80_two_turn_ones_with_references_where_fastchat_grades_against_one() -> None:
    items = questions()
    assert len(items) == 80 and all(len(item.payload["turns"]) == 2 for item in items)
    guided = {item.payload["category"] for item in items if "reference" in item.payload}
    assert guided == {"math", "reasoning", "coding"} and sum("reference" in i.payload for i in items) == 30
    assert len({item.payload["category"] for item in items[:16]}) >= 6, "--limit 16 samples most categories"
    assert QUESTIONS.is_file() and REFERENCES.is_file() and (QUESTIONS.parent / "LICENSE").is_file()


def test_a_grade_is_read_only_when_it_is_one_number_from_1_to_10() -> None:
    assert parse_rating("Rating: [[7]]") == 7.0
    assert parse_rating("[[ 8.5 ]]") == 8.5
    assert parse_rating("Rating: [6]") == 6.0, "FastChat's single-bracket fallback"
    assert parse_rating("[[7]] ... so [[7]]") == 7.0
    for unreadable in ("", "seven", "[[3]] or [[9]]", "[[0]]", "[[11]]", "[[A]]"):
        assert parse_rating(unreadable) is None, unreadable


def test_both_turns_are_answered_and_graded_with_fastchats_prompts_and_the_score_is_the_mean(
    arena: Store, db_url: str, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    order = [item.key for item in questions()]
    limit = order.index(UNREADABLE) + 1
    argv = ["mt-bench", "student", "--judge-model", "judge", "--limit", str(limit), "--db", db_url, "--format", "json"]
    assert main(argv) == 0
    (run,) = json.loads(capsys.readouterr().out)

    # Every turn-1 grade is 7 but one unreadable, every turn-2 grade 4: the mean of the graded turns.
    graded = [7.0] * (limit - 1) + [4.0] * limit
    assert run["score"] == pytest.approx(np.mean(graded))
    assert run["report"]["turns"] == {"1": {"mean": 7.0, "n": limit - 1}, "2": {"mean": 4.0, "n": limit}}
    assert run["report"]["turn_statuses"] == {"graded": 2 * limit - 1, "parse_failure": 1}
    assert run["report"]["verdicts"]["partial"] == 1 and run["n"] == limit and run["failures"] == 0
    assert run["low"] <= run["score"] <= run["high"] and run["grader"] == "judge:judge:fastchat-single-v1"

    stored = {item.item_key: item for item in arena.benchmark_runs.items(arena.benchmark_runs.runs()[0].id)}
    unreadable = stored[UNREADABLE].detail["turns"][0]
    assert unreadable["status"] == "parse_failure" and unreadable["rating"] is None
    assert unreadable["judge_output"] == "Somewhere between [[3]] and [[9]]."

    model_asks = [r.body["messages"] for r in openai_server.requests if r.body["model"] == "student"]
    second_turns = [m for m in model_asks if sum(x["role"] == "user" for x in m) == 2]
    assert len(model_asks) == 2 * limit and len(second_turns) == limit
    assert all(m[-2]["role"] == "assistant" and m[-2]["content"].startswith("A1 to ") for m in second_turns), (
        "the follow-up is asked after the model's own first answer"
    )
    judge_asks = [r.body for r in openai_server.requests if r.body["model"] == "judge"]
    assert len(judge_asks) == 2 * limit and all(body["temperature"] == 0.0 for body in judge_asks)
    texts = [body["messages"][1]["content"] for body in judge_asks]
    assert all("{with braces} {question}" in t for t in texts if "### Assistant A:" in t), "answers are not templates"
    guided = [item for item in questions()[:limit] if "reference" in item.payload]
    if guided:  # the reference is shown for math, reasoning and coding, and only there
        reference = guided[0].payload["reference"][0]
        assert any(reference in t for t in texts)
    assert sum("[The Start of Reference Answer]" in t or "<|The Start of Reference Answer|>" in t for t in texts) == (
        2 * len(guided)
    )


def test_the_interval_is_a_bootstrap_over_questions_and_the_same_every_time(arena: Store) -> None:
    from store import BenchmarkItemView

    rng = np.random.default_rng(3)
    items = [
        BenchmarkItemView(f"q{i}", "", "graded", None, {"category": "writing", "turns": [
            {"turn": 1, "rating": float(rng.integers(1, 11))}, {"turn": 2, "rating": float(rng.integers(1, 11))}]},
            None)  # type: ignore[arg-type]
        for i in range(40)
    ]  # fmt: skip
    first, second = summarize(items), summarize(items)
    assert (first.low, first.high) == (second.low, second.high)
    per_question = [np.mean([t["rating"] for t in item.detail["turns"]]) for item in items]
    standard_error = np.std(per_question, ddof=1) / np.sqrt(len(items))
    assert first.high - first.low == pytest.approx(2 * 1.96 * standard_error, rel=0.2)
    assert summarize([]).score is None


def test_a_judge_is_required_and_a_run_resumes(
    arena: Store, db_url: str, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("ARENA_JUDGE_MODEL", "")
    assert main(["mt-bench", "student", "--db", db_url]) == 2
    assert "graded by a judge" in capsys.readouterr().err
    argv = ["mt-bench", "student", "--judge-model", "judge", "--limit", "2", "--db", db_url]
    assert main(argv) == 0 and main(argv) == 0
    assert len(openai_server.requests) == 8, "2 questions: 2 answers and 2 grades each, once"
    said = r"student  mt-bench: 5\.5 \(5\.5–5\.5\) · n=2 \(2 of 80 items run, 0 not scored\)"
    assert re.search(said, capsys.readouterr().out)
