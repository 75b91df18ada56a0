"""TruthfulQA in generation mode (python -m evals truthfulqa-gen): for a model without log-probabilities, its free
answers are graded truthful and informative by the judge, against the benchmark's references; the truthful share
with a Wilson interval, the truthful-and-informative share beside it; an unreadable grade is never guessed. The
model and the judge are real OpenAI-protocol servers on 127.0.0.1 answering by a script."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from evals.__main__ import main
from evals.truthfulqa_generation import QUESTIONS, parse_grade, questions
from leaderboard.judge_audit import wilson
from models.registry import ModelSpec
from store import Store
from tests.openai_server import OpenAIServer, streamed

REFERENCES = {item.payload["question"]: item.payload for item in questions()}
ANSWER = re.compile(r"\[The answer to grade\]\n(.*)\n\[End of the answer\]", re.S)


def kind(question: str) -> str:
    return ("right", "wrong", "no comment")[sum(map(ord, question)) % 3]


def scripted(body: dict[str, Any]) -> list[Any]:
    """The model gives the first correct reference, the first incorrect one, or no comment, by the question; the
    judge grades an answer by where it appears among the references in its prompt."""
    messages = body["messages"]
    if body["model"] == "judge":
        prompt = messages[1]["content"]
        answer = ANSWER.search(prompt).group(1)  # type: ignore[union-attr]
        if answer == "I have no comment.":
            return streamed("A refusal. [[TRUTHFUL]] [[UNINFORMATIVE]]")
        correct = prompt.split("[Correct reference answers]\n", 1)[1].split("\n\n[Incorrect", 1)[0]
        return streamed("[[TRUTHFUL]] [[INFORMATIVE]]" if f"- {answer}\n" in correct + "\n" else
                        "Repeats a misconception. [[UNTRUTHFUL]] [[INFORMATIVE]]")  # fmt: skip
    question = messages[-1]["content"]
    refs = REFERENCES[question]
    return streamed({"right": refs["correct"][0], "wrong": refs["incorrect"][0], "no comment": "I have no comment."}[
        kind(question)])  # fmt: skip


def remote(name: str, server: OpenAIServer) -> ModelSpec:
    return ModelSpec(
        name=name, backend="openai", options={"base_url": server.base_url, "model": name, "no_api_key": True}
    )


def test_the_questions_are_the_817_with_their_references() -> None:
    items = questions()
    assert len(items) == 817 and len({item.key for item in items}) == 817
    assert all(item.payload["correct"] and item.payload["incorrect"] for item in items)
    assert QUESTIONS.is_file() and (QUESTIONS.parent / "LICENSE").is_file()


def test_a_grade_needs_both_labels_once() -> None:
    assert parse_grade("ok [[TRUTHFUL]] [[INFORMATIVE]]") == (True, True)
    assert parse_grade("[[untruthful]]\n[[ uninformative ]]") == (False, False)
    for unreadable in ("[[TRUTHFUL]]", "[[TRUTHFUL]] [[UNTRUTHFUL]] [[INFORMATIVE]]", "TRUTHFUL INFORMATIVE", ""):
        assert parse_grade(unreadable) is None, unreadable


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_answers_are_graded_against_the_references_and_summed_up_with_intervals(
    storage: Store, db_url: str, openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.responder = scripted
    storage.registry.sync([remote("remote-model", openai_server), remote("judge", openai_server)])
    argv = [
        "truthfulqa-gen",
        "remote-model",
        "--judge-model",
        "judge",
        "--limit",
        "30",
        "--db",
        db_url,
        "--format",
        "json",
    ]
    assert main(argv) == 0
    (run,) = json.loads(capsys.readouterr().out)
    kinds = [kind(item.payload["question"]) for item in questions()[:30]]
    truthful = wilson(sum(k != "wrong" for k in kinds), 30)
    assert (run["score"], run["low"], run["high"], run["n"]) == pytest.approx(
        (truthful.value, truthful.low, truthful.high, 30)
    )
    assert run["report"]["truthful_informative"]["estimate"] == pytest.approx(kinds.count("right") / 30)
    assert run["report"]["informative"]["estimate"] == pytest.approx(1 - kinds.count("no comment") / 30)
    assert run["grader"] == "judge:judge:huggy-truthfulqa-judge-v1"
    asked = [r.body for r in openai_server.requests if r.body["model"] == "remote-model"]
    assert all(body["max_tokens"] == 96 for body in asked) and len(asked) == 30
    judged = [r.body for r in openai_server.requests if r.body["model"] == "judge"]
    assert all(body["temperature"] == 0.0 for body in judged)

    openai_server.responder = None
    openai_server.add(streamed("No labels here."), model="judge")
    openai_server.add(*[streamed("[[TRUTHFUL]] [[INFORMATIVE]]")] * 2, model="judge")
    argv[argv.index("--limit") + 1] = "32"  # two more questions, one grade unreadable
    assert main(argv) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert (run["n"], run["failures"], run["report"]["verdicts"]["parse_failure"]) == (31, 1, 1)
