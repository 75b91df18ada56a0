"""Checkpoint versus base, judged (python -m training.evaluate checkpoint): both models answer through the arena's
real backends (the embedded SmolLM2), a judge on a real OpenAI-protocol server on 127.0.0.1 reads the prompt it is
sent and answers, and the figures are stored with the training run."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.registry import DecodingConfig, ModelSpec
from store import NewTrainingRun, Store
from tests.openai_server import OpenAIServer, streamed
from training.evaluate import main

ANSWERS = re.compile(
    r"### Assistant A's answer\n(.*)\n### End of assistant A's answer.*"
    r"### Assistant B's answer\n(.*)\n### End of assistant B's answer",
    re.S,
)


def prefers_the_longer_answer(body: dict[str, Any]) -> list[Any]:
    """A judge with a length bias and nothing else: the longer answer wins, whatever the order."""
    match = ANSWERS.search(body["messages"][1]["content"])
    assert match, "the judge prompt shows both answers"
    first, second = match.groups()
    return streamed("[[A>>B]]" if len(first) > len(second) else "[[B>>A]]" if len(second) > len(first) else "[[A=B]]")


@pytest.fixture
def arena(storage: Store, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch, converted_model: Any) -> Store:
    monkeypatch.setenv("ARENA_MODEL_CACHE", str(converted_model.cache_dir))
    openai_server.responder = prefers_the_longer_answer
    storage.registry.sync(
        [
            ModelSpec(name="base", generation=DecodingConfig(max_new_tokens=2, temperature=0.0)),
            ModelSpec(name="judge", backend="openai",
                      options={"base_url": openai_server.base_url, "model": "gpt-4o", "no_api_key": True}),
        ]
    )  # fmt: skip
    checkpoint = ModelSpec(name="ckpt-v1", base="base", generation=DecodingConfig(max_new_tokens=12, temperature=0.0))
    run = NewTrainingRun("rlhf", "cpu-smoke", "/tmp/run", True, {"evaluation": {}}, datetime.now(UTC), "dpo")
    storage.training_runs.record(run, checkpoint)
    return storage


# The database's part is one small write (TrainingRuns.attach): SQLite is enough next to two models answering.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_checkpoint_is_judged_against_its_base_in_both_orders_and_stored_with_its_run(
    arena: Store, db_url: str, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    out = tmp_path / "compare.json"
    argv = ["checkpoint", "ckpt-v1", "--judge", "judge", "--arena-hard", "4", "--db", db_url, "--out", str(out)]
    messages: list[str] = []
    assert main(argv, echo=messages.append) == 0, messages
    comparison = json.loads(out.read_text())
    assert (comparison["model"], comparison["base"], comparison["judge"]) == ("ckpt-v1", "base", "judge")
    assert len(comparison["results"]) == 4  # no votes in this arena: Arena-Hard questions only
    assert {r["source"] for r in comparison["results"]} == {"arena-hard"}
    assert all(len(r["answer_model"]) > len(r["answer_base"]) for r in comparison["results"])
    # Each prompt judged twice, once in each order: the longer (checkpoint's) answer shown first once.
    assert len(openai_server.requests) == 8
    assert all(r["status"] == "consistent" and r["score"] == 1.0 for r in comparison["results"])
    overall = comparison["summary"]["all"]
    assert overall["win_rate"]["estimate"] == 1.0 and overall["win_rate"]["n"] == 4
    # Every win came with a longer answer: controlled for length, the win rate is far less certain.
    lc = overall["length_controlled_win_rate"]
    assert lc["low"] < overall["win_rate"]["low"] and overall["length_coefficient"] > 0
    assert overall["mean_length_difference_tokens"] > 0
    assert messages[0] == "ckpt-v1 vs its base base, judged by judge in both orders:"
    assert messages[-1].startswith("stored with training run ")

    (run,) = arena.training_runs.runs()
    stored = run.report["checkpoint_evaluation"]
    assert stored["summary"]["all"]["win_rate"] == overall["win_rate"]
    assert "results" not in stored  # the figures, not every answer


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_judge_that_cannot_be_read_is_counted_never_guessed(
    arena: Store, db_url: str, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.responder = lambda body: streamed("Both answers have merits.")
    out = tmp_path / "compare.json"
    argv = ["checkpoint", "ckpt-v1", "--judge", "judge", "--arena-hard", "2", "--db", db_url, "--out", str(out)]
    messages: list[str] = []
    assert main(argv, echo=messages.append) == 0, messages
    summary = json.loads(out.read_text())["summary"]["all"]
    assert (summary["prompts"], summary["judged"], summary["statuses"]) == (2, 0, {"parse_failure": 2})
    assert "win_rate" not in summary
    assert "no verdict on 2 prompts" in messages[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--judge", "nobody"], "the judge 'nobody' is not a registered model"),
        (["--judge", "judge", "--base", "nobody"], "the base 'nobody' is not a registered model"),
        (["--judge", "judge", "--arena-hard", "0", "--held-out", "0"], "no prompts to ask"),
        (["--judge", "judge", "--arena-hard", "-1"], "--arena-hard cannot be -1"),
    ],
)
def test_bad_requests_exit_2_and_store_nothing(arena: Store, db_url: str, extra: list[str], message: str) -> None:
    messages: list[str] = []
    assert main(["checkpoint", "ckpt-v1", *extra, "--db", db_url], echo=messages.append) == 2
    assert messages[0].startswith("error: ") and message in messages[0]
    (run,) = arena.training_runs.runs()
    assert "checkpoint_evaluation" not in run.report
