"""Role-play dialogues (`python -m training.generate role-play`) against the loopback OpenAI-protocol server with
scripted turns: who sees what, when a dialogue stops, the output lines, the filters, resuming, refusals, and the
SFT entry point training on the output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.openai_server import Event, OpenAIServer, Status, streamed
from training.generate.role_play import (
    GREETING,
    SEED_TASKS_FILE,
    STOP_TOKEN,
    add_arguments,
    load_personas,
    load_topics,
    rejected_path,
    run,
)

SIM, HELPER = "sim", "helper"  # the served model names of the two registry entries
HELPER_SYSTEM = "You are a test assistant."
Reply = str | list[Event]
# (topic line of the simulator's system prompt, its turn from 1) -> its message
UserScript = Callable[[str, int], Reply]
# (the user message it answers, its turn from 1) -> its answer
AssistantScript = Callable[[str, int], Reply]


def _asks_about_topic(topic: str, turn: int) -> Reply:
    return f"I would like help with {topic}" if turn == 1 else f"Thanks. Could you say more, point {turn}?"


def _answers(user_message: str, turn: int) -> Reply:
    return f"Answer {turn}: here is what I suggest about that."


def _script(server: OpenAIServer, user: UserScript = _asks_about_topic, assistant: AssistantScript = _answers) -> None:
    """Answer each request by the model it names: the simulator's turn is one more than its own (assistant-role)
    messages so far, the assistant's is the number of user messages it sees."""

    def respond(body: dict[str, Any]) -> list[Event]:
        messages = body["messages"]
        if body["model"] == SIM:
            topic = next(line for line in messages[0]["content"].splitlines() if line.startswith("What you want"))
            reply = user(topic.split(": ", 1)[1], 1 + sum(m["role"] == "assistant" for m in messages))
        else:
            reply = assistant(messages[-1]["content"], sum(m["role"] == "user" for m in messages))
        return streamed(reply) if isinstance(reply, str) else reply

    server.responder = respond


@pytest.fixture
def registry(openai_server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry file with the two players on the loopback server (no retries: a scripted error is final)."""

    def entry(name: str, **extra: Any) -> dict[str, Any]:
        options = {"base_url": openai_server.base_url, "model": name, "no_api_key": True, "max_retries": 0}
        return {"name": name, "backend": "openai", "options": options, **extra}

    models = tmp_path / "models.yaml"
    models.write_text(json.dumps({"models": [entry(SIM), entry(HELPER, system_prompt=HELPER_SYSTEM)]}))
    monkeypatch.setenv("ARENA_MODELS", str(models))
    monkeypatch.setenv("ARENA_DATA_DIR", str(tmp_path / "data"))  # no app database: only the file's models
    return models


def _write(path: Path, key: str, entries: list[tuple[str, str]]) -> Path:
    path.write_text(json.dumps({key: [{"id": i, "text": t} for i, t in entries]}))
    return path


@pytest.fixture
def persona(tmp_path: Path) -> Path:
    return _write(tmp_path / "persona.json", "personas", [("gardener", "a keen hobby gardener with an allotment")])


def _topics(tmp_path: Path, *texts: str) -> Path:
    return _write(tmp_path / "topics.json", "topics", [(f"t{i}", text) for i, text in enumerate(texts)])


def _generate(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args([str(a) for a in argv]))


def _base(out: Path, personas: Path, topics: Path | str, *extra: str | int) -> list[str | Path]:
    return ["--user-model", SIM, "--assistant-model", HELPER, "--out", out, "--personas", personas,
            "--topics", topics, *map(str, extra)]  # fmt: skip


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _requests(server: OpenAIServer, model: str) -> list[list[dict[str, str]]]:
    return [r.body["messages"] for r in server.requests if r.body["model"] == model]


# =====================================================================================================
# Turn taking: who sees what
# =====================================================================================================


def test_the_simulator_sees_the_dialogue_with_roles_swapped_and_the_assistant_sees_it_as_it_is(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path
) -> None:
    _script(openai_server)
    out = tmp_path / "dialogues.jsonl"
    topics = _topics(tmp_path, "planting garlic in autumn")
    assert _generate(*_base(out, persona, topics, "--target", 1, "--turns", 2)) == 0

    u1 = "I would like help with planting garlic in autumn"
    a1, a2 = (f"Answer {turn}: here is what I suggest about that." for turn in (1, 2))
    u2 = "Thanks. Could you say more, point 2?"
    first, second = _requests(openai_server, SIM)
    system = first[0]
    assert system["role"] == "system"
    assert "a keen hobby gardener with an allotment" in system["content"]
    assert "planting garlic in autumn" in system["content"] and STOP_TOKEN in system["content"]
    assert first == [system, {"role": "user", "content": GREETING}]
    # Its own message comes back as the assistant's, the assistant's answer as the user's.
    assert second == [
        system,
        {"role": "user", "content": GREETING},
        {"role": "assistant", "content": u1},
        {"role": "user", "content": a1},
    ]
    assert _requests(openai_server, HELPER) == [
        [{"role": "system", "content": HELPER_SYSTEM}, {"role": "user", "content": u1}],
        [{"role": "system", "content": HELPER_SYSTEM}, {"role": "user", "content": u1},
         {"role": "assistant", "content": a1}, {"role": "user", "content": u2}],
    ]  # fmt: skip
    ((line,),) = [_lines(out)]
    assert line["messages"] == [
        {"role": "user", "content": u1},
        {"role": "assistant", "content": a1},
        {"role": "user", "content": u2},
        {"role": "assistant", "content": a2},
    ]
    assert line["provenance"]["stop_reason"] == "turn_cap" and line["provenance"]["turns"] == 2


def test_assistant_system_replaces_the_registry_prompt(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path
) -> None:
    _script(openai_server)
    out = tmp_path / "dialogues.jsonl"
    argv = _base(out, persona, _topics(tmp_path, "planting garlic in autumn"), "--target", 1, "--turns", 1)
    assert _generate(*argv, "--assistant-system", "Answer like a pirate.") == 0
    ((request,),) = [_requests(openai_server, HELPER)]
    assert request[0] == {"role": "system", "content": "Answer like a pirate."}
    assert _lines(out)[0]["provenance"]["assistant_system_prompt"] == "Answer like a pirate."


def test_the_cli_dispatches_role_play(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.generate.__main__ import main

    _script(openai_server)
    out = tmp_path / "dialogues.jsonl"
    argv = _base(out, persona, _topics(tmp_path, "planting garlic in autumn"), "--target", 1, "--turns", 1)
    assert main(["role-play", *map(str, argv)]) == 0
    assert capsys.readouterr().out.startswith(f"kept 1 of 1 dialogues in {out} (1 new)")


# =====================================================================================================
# The stop rule
# =====================================================================================================


def _one_dialogue(
    server: OpenAIServer, persona: Path, tmp_path: Path, user: UserScript = _asks_about_topic,
    assistant: AssistantScript = _answers, turns: int = 4,
) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """One attempt; returns the exit code and its line (kept or rejected)."""
    _script(server, user, assistant)
    out = tmp_path / "dialogues.jsonl"
    topics = _topics(tmp_path, "planting garlic in autumn")
    code = _generate(*_base(out, persona, topics, "--target", 1, "--turns", turns, "--max-attempts", 1))
    (line,) = _lines(out) + _lines(rejected_path(out))
    return code, line


def test_the_simulator_ends_the_dialogue_with_the_stop_token(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path
) -> None:
    def thanks_then_stop(topic: str, turn: int) -> str:
        return _asks_about_topic(topic, turn) if turn < 3 else f"Great, thank you! {STOP_TOKEN}"

    code, line = _one_dialogue(openai_server, persona, tmp_path, thanks_then_stop)
    assert code == 0
    assert [m["role"] for m in line["messages"]] == ["user", "assistant", "user", "assistant"]
    assert (line["provenance"]["stop_reason"], line["provenance"]["stopped_by"]) == ("stop_token", "user")
    assert len(_requests(openai_server, HELPER)) == 2  # the farewell is not answered, nor kept


def test_the_turn_cap_ends_the_dialogue(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path
) -> None:
    code, line = _one_dialogue(openai_server, persona, tmp_path, turns=3)
    assert code == 0
    assert line["provenance"]["turns"] == line["provenance"]["max_turns"] == 3
    assert line["provenance"]["stop_reason"] == "turn_cap" and len(line["messages"]) == 6
    assert len(_requests(openai_server, SIM)) == 3


def test_a_repeated_user_message_ends_the_loop_and_is_not_kept(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path
) -> None:
    def stuck(topic: str, turn: int) -> str:
        return _asks_about_topic(topic, min(turn, 2))  # turn 3 says turn 2's message again

    code, line = _one_dialogue(openai_server, persona, tmp_path, stuck)
    assert code == 0
    assert (line["provenance"]["stop_reason"], line["provenance"]["stopped_by"]) == ("repeated_message", "user")
    assert line["provenance"]["turns"] == 2 and line["messages"][-1]["role"] == "assistant"
    assert len(_requests(openai_server, HELPER)) == 2


def test_an_assistant_echoing_the_user_ends_the_dialogue_without_that_pair(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path
) -> None:
    def echoes_at_turn_2(user_message: str, turn: int) -> str:
        return user_message if turn == 2 else _answers(user_message, turn)

    code, line = _one_dialogue(openai_server, persona, tmp_path, assistant=echoes_at_turn_2)
    assert code == 0
    assert (line["provenance"]["stop_reason"], line["provenance"]["stopped_by"]) == ("repeated_message", "assistant")
    assert [m["role"] for m in line["messages"]] == ["user", "assistant"]


def test_a_backend_error_keeps_the_complete_turns(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path
) -> None:
    def fails_at_turn_2(user_message: str, turn: int) -> Reply:
        return [Status(500)] if turn == 2 else _answers(user_message, turn)

    code, line = _one_dialogue(openai_server, persona, tmp_path, assistant=fails_at_turn_2)
    assert code == 0
    assert (line["provenance"]["stop_reason"], line["provenance"]["stopped_by"]) == ("error", "assistant")
    assert line["provenance"]["stop_detail"]  # the backend's message
    assert [m["role"] for m in line["messages"]] == ["user", "assistant"]  # the unanswered message is dropped


def test_an_empty_answer_rejects_the_dialogue(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = _one_dialogue(
        openai_server, persona, tmp_path, assistant=lambda m, turn: "\u200b " if turn == 2 else _answers(m, turn)
    )
    assert code == 1 and "stopped after 1 dialogues" in capsys.readouterr().err
    assert not (tmp_path / "dialogues.jsonl").exists() or not _lines(tmp_path / "dialogues.jsonl")
    assert (line["provenance"]["stop_reason"], line["provenance"]["stopped_by"]) == ("empty_message", "assistant")
    failed = {v["name"]: v["detail"] for v in line["provenance"]["filters"] if not v["passed"]}
    assert failed == {"assistant_messages": "message 3 is empty"}  # the opening's own answer was fine


def test_every_request_failing_exits_1_after_one_batch(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _script(openai_server, user=lambda topic, turn: [Status(503)])
    out = tmp_path / "dialogues.jsonl"
    topics = _topics(tmp_path, "planting garlic in autumn")
    assert _generate(*_base(out, persona, topics, "--target", 10, "--batch-size", 3)) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: every request failed") and "0 of 10 kept" in err
    assert len(openai_server.requests) == 3  # one batch, then it stops
    rejected = _lines(rejected_path(out))
    assert [r["provenance"]["stop_reason"] for r in rejected] == ["error"] * 3
    assert all(r["provenance"]["filters"][0]["name"] == "complete_turn" for r in rejected)


# =====================================================================================================
# Output format and filters
# =====================================================================================================


def test_lines_are_chat_records_with_complete_provenance_that_sft_reads(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path
) -> None:
    from training.sft import read_examples

    _script(openai_server)
    out = tmp_path / "dialogues.jsonl"
    topics = _topics(tmp_path, "planting garlic in autumn", "fixing a squeaky bicycle brake", "a poem about rain")
    assert _generate(*_base(out, persona, topics, "--target", 2, "--turns", 2, "--seed", 3)) == 0
    lines = _lines(out)
    assert len(lines) == 2
    for line in lines:
        assert set(line) == {"messages", "provenance"}
        assert [m["role"] for m in line["messages"]] == ["user", "assistant"] * line["provenance"]["turns"]
        provenance = line["provenance"]
        assert (provenance["user_model"], provenance["assistant_model"]) == (SIM, HELPER)
        assert provenance["persona"] == {"id": "gardener", "text": "a keen hobby gardener with an allotment"}
        assert provenance["topic"]["source"] == str(topics) and provenance["seed_task_id"] is None
        assert provenance["topic"]["text"] in line["messages"][0]["content"]
        assert provenance["assistant_system_prompt"] == HELPER_SYSTEM and provenance["seed"] == 3
        assert [v["name"] for v in provenance["filters"]] == [
            "complete_turn", "empty_output", "length", "banned_words", "duplicate", "rouge_l", "form",
            "assistant_messages",
        ]  # fmt: skip
        assert all(v["passed"] for v in provenance["filters"])
        assert datetime.fromisoformat(provenance["created_at"]).tzinfo is not None
    examples = read_examples(out, "chat")
    assert [e["completion"][0]["content"] for e in examples] == [line["messages"][-1]["content"] for line in lines]


def test_a_near_duplicate_opening_is_rejected_with_its_verdicts(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _script(openai_server)
    out = tmp_path / "dialogues.jsonl"
    # Whichever the two dialogues draw, their openings are the same or nearly so.
    topics = _topics(tmp_path, "planting garlic in the autumn", "planting garlic in late autumn")
    code = _generate(*_base(out, persona, topics, "--target", 2, "--turns", 1, "--batch-size", 2, "--max-attempts", 2))
    assert code == 1  # only one could be kept
    (kept,), (rejected,) = _lines(out), _lines(rejected_path(out))
    assert (kept["provenance"]["attempt"], rejected["provenance"]["attempt"]) == (0, 1)
    verdicts = {v["name"]: v for v in rejected["provenance"]["filters"]}
    assert not verdicts["rouge_l"]["passed"]
    assert kept["messages"][0]["content"][:30] in verdicts["rouge_l"]["detail"]
    assert "rouge_l 1" in capsys.readouterr().out  # the summary counts the failed filters


def test_a_banned_word_in_the_opening_rejects_the_dialogue(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path
) -> None:
    code, line = _one_dialogue(
        openai_server, persona, tmp_path, lambda topic, turn: "Please draw a diagram of my garden beds.", turns=1
    )
    assert code == 1
    failed = {v["name"]: v["detail"] for v in line["provenance"]["filters"] if not v["passed"]}
    assert failed == {"banned_words": "contains diagram, draw"}


# =====================================================================================================
# Resume and reproducibility
# =====================================================================================================


def test_a_rerun_drops_a_half_written_line_and_continues_to_the_target(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path
) -> None:
    _script(openai_server)
    out = tmp_path / "dialogues.jsonl"
    topics = _topics(tmp_path, "planting garlic in autumn", "fixing a squeaky bicycle brake",
                     "writing a short poem about rain", "choosing a first telescope for a child")  # fmt: skip
    uninterrupted = tmp_path / "uninterrupted.jsonl"
    assert _generate(*_base(uninterrupted, persona, topics, "--target", 3, "--turns", 1, "--batch-size", 1)) == 0

    assert _generate(*_base(out, persona, topics, "--target", 2, "--turns", 1, "--batch-size", 1)) == 0
    with out.open("a") as file:
        file.write('{"messages": [{"role": "user", "con')  # a run stopped mid-write
    asked = len(openai_server.requests)
    assert _generate(*_base(out, persona, topics, "--target", 3, "--turns", 1, "--batch-size", 1)) == 0
    lines = _lines(out)  # every line parses: the half line is gone
    assert len(lines) == 3 and out.read_text().endswith("\n")

    def drawn(path: Path) -> list[tuple[int, str]]:
        rows = _lines(path) + _lines(rejected_path(path))
        return sorted((r["provenance"]["attempt"], r["provenance"]["topic"]["id"]) for r in rows)

    assert drawn(out) == drawn(uninterrupted)  # the resumed run drew what an uninterrupted one did
    assert len(openai_server.requests) - asked >= 2  # it played on, one dialogue (or more) after the two kept

    asked = len(openai_server.requests)
    assert _generate(*_base(out, persona, topics, "--target", 3, "--turns", 1)) == 0
    assert len(openai_server.requests) == asked  # the target is met: nothing to do


def test_the_seed_decides_the_personas_and_topics() -> None:
    from training.generate.role_play import choose, load_personas

    personas, topics = load_personas(), load_topics("shipped")
    draws = [choose(personas, topics, seed=7, attempt=i) for i in range(20)]
    assert draws == [choose(personas, topics, seed=7, attempt=i) for i in range(20)]
    assert draws != [choose(personas, topics, seed=8, attempt=i) for i in range(20)]
    assert len({persona.id for persona, _ in draws}) > 5 and len({topic.id for _, topic in draws}) > 5


def test_the_shipped_lists_and_the_seed_tasks_load() -> None:
    assert len(load_personas()) >= 10 and len(load_topics("shipped")) >= 20
    if not SEED_TASKS_FILE.exists():
        pytest.skip(f"the seed tasks are not at {SEED_TASKS_FILE} yet")
    seeds = load_topics("seeds")
    assert len(seeds) == 175
    relation = next(t for t in seeds if t.id == "seed_task_1")
    assert relation.seed_task_id == "seed_task_1" and relation.source == "seeds"
    assert relation.text == "What is the relation between the given pairs?\nInput: Night : Day :: Right : Left"


# =====================================================================================================
# Refusals: exit 2, one line, nothing written
# =====================================================================================================


def _bad_inputs(tmp_path: Path, persona: Path, topics: Path) -> dict[str, tuple[list[Any], str]]:
    def bad(name: str, text: str) -> Path:
        (tmp_path / name).write_text(text)
        return tmp_path / name

    out = tmp_path / "dialogues.jsonl"
    good = _base(out, persona, topics, "--target", 1)
    swap = {"--personas": persona, "--topics": topics}

    def using(option: str, path: Path | str) -> list[Any]:
        values = {**swap, option: path}
        return _base(out, values["--personas"], values["--topics"], "--target", 1)

    return {
        "unknown model": (
            ["--user-model", "nobody", "--assistant-model", HELPER, "--out", out, "--target", 1],
            "no model named 'nobody'",
        ),
        "zero turns": ([*good, "--turns", 0], "--turns must be between 1 and 20, got 0"),
        "zero target": (_base(out, persona, topics, "--target", 0), "--target must be between 1"),
        "huge batch": ([*good, "--batch-size", 1000], "--batch-size must be between 1 and 64"),
        "persona file missing": (using("--personas", tmp_path / "none.yaml"), "cannot read"),
        "persona file not yaml": (using("--personas", bad("p1.yaml", "personas: [")), "not valid YAML or JSON"),
        "persona file without list": (using("--personas", bad("p2.yaml", "people: []")), "non-empty 'personas' list"),
        "persona without text": (using("--personas", bad("p3.yaml", "personas: [{id: a}]")), "exactly the keys"),
        "duplicate persona id": (
            using("--personas", bad("p4.yaml", "personas: [{id: a, text: x y}, {id: a, text: z w}]")),
            "id 'a' is used twice",
        ),
        "stop token in a topic": (
            using("--topics", bad("t1.yaml", "topics: [{id: a, text: 'say [END] now'}]")),
            "contains the stop token",
        ),
        "topic text not a string": (using("--topics", bad("t2.yaml", "topics: [{id: a, text: [1]}]")), "non-empty"),
        "bad topic id": (using("--topics", bad("t3.yaml", "topics: [{id: '../x', text: hello}]")), "id must be"),
    }


BAD_INPUTS = (
    "unknown model", "zero turns", "zero target", "huge batch", "persona file missing", "persona file not yaml",
    "persona file without list", "persona without text", "duplicate persona id", "stop token in a topic",
    "topic text not a string", "bad topic id",
)  # fmt: skip


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:  # fmt: skip
    cases = _bad_inputs(tmp_path, persona, _topics(tmp_path, "planting garlic in autumn"))
    assert set(cases) == set(BAD_INPUTS)
    argv, expected = cases[case]
    assert _generate(*argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert not (tmp_path / "dialogues.jsonl").exists() and not openai_server.requests


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"instruction": "x", "output": "y"}\n', ":1: not a role-play dialogue line"),
        ('{"instruction": "x", "output": "y"}', ":1: not a role-play dialogue line"),  # no line end: not cut off
        ("instruction,output\nx,", ":1: not a role-play dialogue line"),
        ('{"messages": [], "provenance": {}}\n{"instr', ":2: not a role-play dialogue line"),
        ('{"messages": [], "provenance": {}}', ":1: the last line has no line end"),
    ],
)
def test_an_out_file_that_is_not_ours_is_refused_and_left_alone(
    openai_server: OpenAIServer, registry: Path, persona: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    content: str, message: str,
) -> None:  # fmt: skip
    out = tmp_path / "dialogues.jsonl"
    out.write_text(content)
    assert _generate(*_base(out, persona, _topics(tmp_path, "garlic"), "--target", 2)) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith(f"error: {out}{message}")
    assert out.read_text() == content and not openai_server.requests


# =====================================================================================================
# The SFT entry point trains on the output (slow: three LoRA steps on the embedded model)
# =====================================================================================================


def _one_step_recipe(folder: Path) -> Path:
    """cpu-smoke with one optimizer step on short sequences: the point is that SFT reads and trains on the file."""
    import yaml

    from training.recipes import RECIPES_DIR

    recipe = yaml.safe_load((RECIPES_DIR / "cpu-smoke.yaml").read_text())
    recipe["name"] = "role-play-one-step"
    recipe["sft"].update(max_steps=1, save_steps=1, max_length=128, per_device_train_batch_size=2)
    path = folder / "one-step.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sft_trains_on_generated_dialogues(
    openai_server: OpenAIServer, registry: Path, tmp_path: Path, converted_model: Any, db_url: str
) -> None:
    from training.recipes import load_recipe
    from training.sft import main as sft_main
    from training.sft import read_examples, split_examples

    _script(openai_server)
    out = tmp_path / "dialogues.jsonl"
    personas = Path(__file__).resolve().parent.parent / "training/generate/data/role-play/personas.yaml"
    assert _generate(*_base(out, personas, "shipped", "--target", 10, "--turns", 2, "--batch-size", 5)) == 0
    recipe = _one_step_recipe(tmp_path)
    sft = load_recipe(str(recipe)).require_sft()
    train, held_out = split_examples(read_examples(out, "chat"), sft.eval_fraction, sft.seed)
    assert len(train) >= 2 and held_out  # what SFT needs (deterministic: the script and --seed 0)

    messages: list[str] = []
    run_dir = tmp_path / "sft"
    sft_argv = ["--recipe", str(recipe), "--chat", str(out), "--out", str(run_dir),
                "--base-model", str(converted_model.folder), "--db", db_url]  # fmt: skip
    assert sft_main(sft_argv, echo=messages.append) == 0, messages
    report = json.loads((run_dir / "report.json").read_text())
    assert report["data"]["records"] == 10
    assert report["data"]["dropped_no_answer_within_max_length"] == {"train": 0, "eval": 0}
    assert report["training"]["global_step"] == 1, report["stages"]
