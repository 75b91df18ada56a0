"""`python -m training.generate self-instruct`: proposals parsed, classified, given an instance, filtered, written with
their provenance, resumed after a crash; bad input refused with exit 2.

The exact checks use a real OpenAI-protocol server on 127.0.0.1 (tests/openai_server.py) whose generator answers by
rule from the prompt it reads; one test runs the embedded model end to end, and its records train-read by
`training.sft`.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.openai_server import OpenAIServer, Status, streamed
from training.generate import self_instruct
from training.generate.filters import VERDICT_NAMES
from training.generate.self_instruct import SEED_TASKS_FILE, add_arguments, parse_instance, parse_proposals
from training.sft import read_examples

SEED_IDS = {json.loads(line)["id"]: json.loads(line) for line in SEED_TASKS_FILE.read_text().splitlines()}

# What the scripted generator proposes, round by round (one proposal per round with --batch-size 1).
FIRST_PROPOSAL = "\n".join([
    "9. Classify the sentiment of the given movie review as positive or negative.",
    "10. Draw a picture of a cat sitting on a mat.",
    "11. Write a short poem about the sea at night.",
    "12. Write a short poem about the sea at night time.",
    "13. List three uses of a paperclip in an office.",
    "14. Hi there",
])  # fmt: skip
SECOND_PROPOSAL = "9. Convert the given temperature from Celsius to Fahrenheit."
THIRD_PROPOSAL = "9. Suggest a name for a bakery that sells only bread made with rye flour."
INSTANCES = {
    "Classify the sentiment": "Class label: Positive\nInput: I loved every minute of this film.",
    "Write a short poem about the sea at night.": "Input: <none>\nOutput: Dark water hums beneath the moon.",
    "Write a short poem about the sea at night time.": "Input: <none>\nOutput: Waves at midnight, silver-tipped.",
    "List three uses of a paperclip": "Input: <none>\nOutput:",
    "Convert the given temperature": "Input: 100 degrees Celsius\nOutput: 212 degrees Fahrenheit",
    "Suggest a name for a bakery": "Output: Rye Society",
}


class ScriptedGenerator:
    """Reads each request and answers like a generator would: proposals in order, Yes for sentiment tasks, the
    instance scripted for the task."""

    def __init__(self, proposals: list[str]) -> None:
        self.proposals = list(proposals)
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> list[Any]:
        asked = body["messages"][-1]["content"]
        if asked.startswith("Come up with a series of tasks"):
            with self.lock:
                return streamed(self.proposals.pop(0) if self.proposals else "9. Write a haiku about the moon.")
        task = asked.split("Task: ", 1)[1]
        if asked.startswith("Can the following task be regarded as a classification task"):
            return streamed("Yes" if "sentiment" in task else "No.")
        return streamed(next(answer for start, answer in INSTANCES.items() if task.startswith(start)))


def remote_registry(tmp_path: Path, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry file naming the loopback server as `writer`, and an empty data folder (no default database)."""
    models = tmp_path / "models.yaml"
    options = {"base_url": server.base_url, "model": "writer", "no_api_key": True}
    models.write_text(json.dumps({"models": [{"name": "writer", "backend": "openai", "options": options}]}))
    monkeypatch.setenv("ARENA_MODELS", str(models))
    monkeypatch.setenv("ARENA_DATA_DIR", str(tmp_path / "data"))


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return self_instruct.run(parser.parse_args(argv))


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def scripted(openai_server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpenAIServer:
    openai_server.responder = ScriptedGenerator([FIRST_PROPOSAL, SECOND_PROPOSAL, THIRD_PROPOSAL])
    remote_registry(tmp_path, openai_server, monkeypatch)
    return openai_server


def test_proposals_are_classified_given_an_instance_filtered_and_kept_with_their_provenance(
    scripted: OpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "si.jsonl"
    assert cli("--generator", "writer", "--out", str(out), "--target", "3", "--batch-size", "1") == 0

    kept = lines(out)
    assert [(r["instruction"], r["input"], r["output"], r["provenance"]["is_classification"]) for r in kept] == [
        ("Classify the sentiment of the given movie review as positive or negative.",
         "I loved every minute of this film.", "Positive", True),
        ("Write a short poem about the sea at night.", "", "Dark water hums beneath the moon.", False),
        ("Convert the given temperature from Celsius to Fahrenheit.", "100 degrees Celsius", "212 degrees Fahrenheit",
         False),
    ]  # fmt: skip
    first, _, third = (r["provenance"] for r in kept)
    assert first["generator"] == "writer" and len(first["generator_fingerprint"]) == 64
    assert first["prompt"].startswith("Come up with a series of tasks") and "\n8. " in first["prompt"]
    assert len(first["seed_tasks"]) == 8 and set(first["seed_tasks"]) <= set(SEED_IDS), "8 seeds until 2 are kept"
    assert first["machine_tasks"] == [] and first["classification_answer"] == "Yes"
    assert all(SEED_IDS[i]["instruction"] in first["prompt"] for i in first["seed_tasks"])
    assert len(third["seed_tasks"]) == 6 and sorted(third["machine_tasks"]) == sorted(
        r["instruction"] for r in kept[:2]
    )
    assert all(task in third["prompt"] for task in third["machine_tasks"]), "then 6 seeds and 2 generated tasks"
    for provenance in (first, third):
        assert [f["name"] for f in provenance["filters"]] == list(VERDICT_NAMES)
        assert all(f["passed"] for f in provenance["filters"]) and provenance["created_at"].endswith("+00:00")
        assert set(provenance["few_shot"]) == {"classification", "instance"}
    classifier_shots = [SEED_IDS[i]["is_classification"] for i in first["few_shot"]["classification"]]
    assert sorted(classifier_shots) == [False, False, True, True], "the classifier sees both answers"
    assert all(SEED_IDS[i]["is_classification"] for i in first["few_shot"]["instance"]), "classification: its kind"

    rejected = {r["instruction"]: r for r in lines(self_instruct.rejected_path(out))}
    failed = {text: [f["name"] for f in r["provenance"]["filters"] if not f["passed"]] for text, r in rejected.items()}
    assert failed == {
        "Draw a picture of a cat sitting on a mat.": ["banned_words"],
        "Write a short poem about the sea at night time.": ["rouge_l"],
        "List three uses of a paperclip in an office.": ["empty_output"],
        "Hi there": ["length"],
    }
    near = next(f for f in rejected["Write a short poem about the sea at night time."]["provenance"]["filters"]
                if f["name"] == "rouge_l")  # fmt: skip
    assert "'Write a short poem about the sea at night.'" in near["detail"], "the close kept text is named"
    assert not rejected["Draw a picture of a cat sitting on a mat."]["provenance"]["output_generated"]
    assert rejected["Write a short poem about the sea at night time."]["provenance"]["output_generated"]

    asked = [r.body for r in scripted.requests]
    kinds = [b["messages"][-1]["content"].split(" ", 1)[0] for b in asked]
    assert kinds.count("Come") == 2, "two proposals reached the target"
    assert kinds.count("Can") == kinds.count("Write") == 5, "no output asked for the two instructions already rejected"
    proposal = next(b for b in asked if b["messages"][-1]["content"].startswith("Come"))
    classify = next(b for b in asked if b["messages"][-1]["content"].startswith("Can"))
    assert (proposal["temperature"], proposal["top_p"]) == (0.7, 0.5) and classify["temperature"] == 0
    assert [m["role"] for m in classify["messages"]] == ["user", "assistant"] * 4 + ["user"]

    summary = capsys.readouterr().out
    assert "kept 3 this run, 3 of 3 in all" in summary and "rejected 4" in summary and "failed 0" in summary
    assert [example["completion"][0]["content"] for example in read_examples(out, "records")] == [
        "Positive", "Dark water hums beneath the moon.", "212 degrees Fahrenheit"
    ], "training.sft reads the records, provenance ignored"  # fmt: skip


def test_a_rerun_resumes_and_drops_a_line_a_crash_cut_short(
    scripted: OpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "si.jsonl"
    assert cli("--generator", "writer", "--out", str(out), "--target", "3", "--batch-size", "1") == 0
    before = out.read_text()
    asked = len(scripted.requests)
    assert cli("--generator", "writer", "--out", str(out), "--target", "3") == 0
    assert out.read_text() == before and len(scripted.requests) == asked, "the target is there: nothing is asked"

    with out.open("a") as handle:
        handle.write('{"instruction": "Half a rec')  # the write a crash interrupted
    capsys.readouterr()
    assert cli("--generator", "writer", "--out", str(out), "--target", "4", "--batch-size", "1") == 0
    assert "dropped a final line cut short" in capsys.readouterr().out
    records = lines(out)  # every line is whole JSON again
    assert out.read_text().startswith(before) and len(records) == 4, "the 3 kept records are not made again"
    assert records[3]["instruction"] == "Suggest a name for a bakery that sells only bread made with rye flour."
    assert records[3]["input"] == "" and records[3]["output"] == "Rye Society"
    assert len(records[3]["provenance"]["machine_tasks"]) == 2, "the kept instructions are back in the pool"
    rerun_asked = [r.body["messages"][-1]["content"] for r in scripted.requests[asked:]]
    assert sum(text.startswith("Come") for text in rerun_asked) == 1


def test_a_generator_failing_on_every_request_exits_1_with_its_error(
    openai_server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.responder = lambda body: [Status(400, message="model overloaded")]
    remote_registry(tmp_path, openai_server, monkeypatch)
    out = tmp_path / "si.jsonl"
    assert cli("--generator", "writer", "--out", str(out), "--target", "2", "--batch-size", "2") == 1
    err = capsys.readouterr().err
    assert "error: the generator 'writer' failed on every request (2)" in err and "Traceback" not in err
    assert len(openai_server.requests) == 2, "one round, then it stops"
    assert out.read_text() == "" and self_instruct.rejected_path(out).read_text() == ""


def test_a_target_not_reached_within_the_proposal_budget_exits_1_and_says_how_to_continue(
    openai_server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.responder = ScriptedGenerator(["9. Draw a map of your town."] * 3)
    remote_registry(tmp_path, openai_server, monkeypatch)
    out = tmp_path / "si.jsonl"
    code = cli("--generator", "writer", "--out", str(out), "--target", "1", "--max-proposals", "3", "--batch-size", "1")
    captured = capsys.readouterr()
    assert code == 1 and "0 of 1 records kept after 3 proposals; rerun to continue" in captured.err
    assert "banned_words 3" in captured.out and len(lines(self_instruct.rejected_path(out))) == 3


def test_a_checkpoint_registered_in_the_database_can_generate(
    openai_server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.registry import ModelSpec
    from store import Store

    openai_server.responder = ScriptedGenerator([SECOND_PROPOSAL])
    remote_registry(tmp_path, openai_server, monkeypatch)
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store.open(url)
    options = {"base_url": openai_server.base_url, "model": "writer", "no_api_key": True}
    store.registry.sync([ModelSpec(name="checkpoint-v1", backend="openai", options=options)])
    store.dispose()
    out = tmp_path / "si.jsonl"
    assert cli("--generator", "checkpoint-v1", "--db", url, "--out", str(out), "--target", "1") == 0
    assert lines(out)[0]["provenance"]["generator"] == "checkpoint-v1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "0"], "--target must be between 1 and"),
        (["--target", "1", "--batch-size", "0"], "--batch-size must be between 1 and 256"),
        (["--target", "1", "--max-words", "2"], "--max-words (2) is below --min-words (3)"),
        (["--target", "1", "--generator", "nobody"], "no model named 'nobody'; the registry's models are: writer"),
        (["--target", "1", "--seed-tasks", "missing.jsonl"], "cannot read the seed tasks"),
        (["--target", "1", "--seed-tasks", "{not json"], ":1: not JSON"),
        (["--target", "1", "--seed-tasks", '{"id": "a", "instruction": "x"}'], "wrong or missing: input, output"),
        (["--target", "1", "--seed-tasks", "\n\n"], "holds no seed tasks"),
        (["--target", "1", "--db", "sqlite:///nowhere/arena.db"], "no database file at"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line_and_asks_nothing(
    scripted: OpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    if "--seed-tasks" in argv and argv[-1] != "missing.jsonl":
        seeds = tmp_path / "seeds.jsonl"
        seeds.write_text(argv[-1])
        argv = [*argv[:-1], str(seeds)]
    out = tmp_path / "si.jsonl"
    generator = [] if "--generator" in argv else ["--generator", "writer"]
    assert cli(*generator, "--out", str(out), *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not scripted.requests and not out.exists()


def test_a_malformed_line_inside_the_records_is_an_error_not_a_silent_loss(
    scripted: OpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "si.jsonl"
    out.write_text('not a record\n{"instruction": "Name three rivers.", "input": "", "output": "Rhine"}\n')
    assert cli("--generator", "writer", "--out", str(out), "--target", "2") == 2
    assert f"{out}:1 is not a record of this command" in capsys.readouterr().err
    assert not scripted.requests


def test_parsing_reads_numbered_and_unnumbered_lists_and_labelled_instances() -> None:
    numbered = "1. Old example.\n9. **Name a river.**\n10.  Give   two  synonyms of happy.\n11. Describe the"
    assert parse_proposals(numbered, 8, cut=True) == ["Name a river.", "Give two synonyms of happy."]
    assert parse_proposals(numbered, 8, cut=False)[-1] == "Describe the", "only a line the limit cut is dropped"
    assert parse_proposals("- name a river.\n* Count to ten.", 8, cut=False) == ["Name a river.", "Count to ten."]
    assert parse_instance("Input: <none>\nOutput: Paris", False) == ("", "Paris")
    assert parse_instance("Input: 2 + 2\nOutput: 4\nTask: next one", False) == ("2 + 2", "4")
    assert parse_instance("Class label: Spam\nInput: WIN A PRIZE", True) == ("WIN A PRIZE", "Spam")
    assert parse_instance("Paris is the capital.", False) == ("", "Paris is the capital."), "no labels: the output"
    assert parse_instance("Input: something", False) == ("something", ""), "no output: left empty, then rejected"


def test_the_embedded_model_generates_records_the_sft_reader_reads_and_a_rerun_resumes(
    converted_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARENA_MODEL_CACHE", str(converted_model.cache_dir))
    monkeypatch.setenv("ARENA_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "si.jsonl"
    argv = ["--generator", "smollm2-135m-greedy", "--out", str(out), "--max-new-tokens", "32", "--batch-size", "4"]
    assert cli(*argv, "--target", "1") == 0, capsys.readouterr()
    kept = lines(out)
    assert len(kept) == 1 and all(r["instruction"].strip() and r["output"].strip() for r in kept)
    for record in kept:
        provenance = record["provenance"]
        assert provenance["generator"] == "smollm2-135m-greedy" and provenance["prompt"].startswith("Come up with")
        assert len(provenance["seed_tasks"]) + len(provenance["machine_tasks"]) == 8
        assert [f["name"] for f in provenance["filters"]] == list(VERDICT_NAMES)
        assert all(f["passed"] for f in provenance["filters"]) and isinstance(provenance["is_classification"], bool)
    assert len(read_examples(out, "records")) == 1

    text = out.read_text()
    out.write_text(text + text[:30])  # a crash in the middle of a second record
    assert cli(*argv, "--target", "2") == 0
    records = lines(out)
    assert len(records) == 2 and out.read_text().startswith(text), "the kept record stays, one is added"
