"""Supervised fine-tuning: record conversion, the held-out split, refusals before any model loads, and one real
tiny LoRA run on CPU that registers its checkpoint as a contender."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from store import Store
from tests.conftest import ConvertedModel
from training.recipes import load_recipe
from training.sft import (
    RecordError,
    check_split,
    decide_gate,
    first_user_message,
    from_chat,
    from_self_instruct,
    loss_evidence,
    main,
    read_examples,
    split_examples,
)

SMOKE_SFT = load_recipe("cpu-smoke").require_sft()


def _instructions(count: int) -> list[dict[str, str]]:
    """Distinct short Self-Instruct records; every third one has an input."""
    records = []
    for i in range(count):
        record = {"instruction": f"Give a fact about the number {i}.", "output": f"{i} comes after {i - 1}."}
        if i % 3 == 0:
            record["input"] = f"Use at most {i + 5} words."
        records.append(record)
    return records


def _chat(folder: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is {i} plus {i}?"},
                {"role": "assistant", "content": f"{2 * i}."},
            ]
        }
        for i in range(8)
    ]
    return _write_jsonl(folder / "chat.jsonl", rows)


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


# =====================================================================================================
# Records
# =====================================================================================================


def test_self_instruct_becomes_prompt_completion() -> None:
    with_input = from_self_instruct(
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"}, "f:1"
    )
    assert with_input["prompt"] == [{"role": "user", "content": "Translate to French.\n\nGood morning"}]
    assert with_input["completion"] == [{"role": "assistant", "content": "Bonjour"}]

    for missing_or_empty in ({}, {"input": ""}, {"input": "   "}):
        record = {"instruction": "Name a colour.", "output": "Blue.", **missing_or_empty}
        assert from_self_instruct(record, "f:2")["prompt"] == [{"role": "user", "content": "Name a colour."}]


def test_chat_record_trains_on_its_last_assistant_message() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome."},
    ]
    example = from_chat({"messages": messages}, "c:1")
    assert example["prompt"] == messages[:-1]
    assert example["completion"] == [{"role": "assistant", "content": "Rome."}]
    assert first_user_message(example) == "Hi"  # what the held-out split hashes


@pytest.mark.parametrize(
    ("kind", "bad_line", "message"),
    [
        ("records", "{not json", "not JSON"),
        ("records", '{"instruction": "Say hi."}', "missing output"),
        ("records", '{"output": "Hi"}', "missing instruction"),
        ("records", '{"instruction": "Say hi.", "output": "  "}', "empty output"),
        ("records", '{"instruction": "Say hi.", "input": 3, "output": "Hi"}', "input must be a string"),
        ("records", "[1, 2]", "expected a JSON object"),
        ("chat", '{"conversation": []}', "missing messages"),
        ("chat", '{"messages": []}', "non-empty list"),
        ("chat", '{"messages": [{"role": "user", "content": "Hi"}]}', "last message must be the assistant"),
        ("chat", '{"messages": [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "x"}]}', "'tool'"),
        (
            "chat",
            '{"messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "x"}, '
            '{"role": "assistant", "content": "Hello"}]}',
            "system message may only come first",
        ),
        ("chat", '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]}', "empty"),
        (
            "chat",
            '{"messages": [{"role": "system", "content": "S"}, {"role": "assistant", "content": "A"}]}',
            "no user",
        ),
    ],
)
def test_bad_line_is_named_by_file_and_line(tmp_path: Path, kind: str, bad_line: str, message: str) -> None:
    good = (
        {"instruction": "Say hi.", "output": "Hi"}
        if kind == "records"
        else {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    )
    # A blank line before the bad one: line numbers are the file's, not the record count.
    path = _write_jsonl(tmp_path / "data.jsonl", [good, "", bad_line])
    with pytest.raises(RecordError) as info:
        read_examples(path, kind)
    assert str(info.value).startswith(f"{path}:3: ")
    assert message in str(info.value)


def test_split_is_deterministic_and_disjoint_by_prompt() -> None:
    examples = [from_self_instruct(r, f"f:{i}") for i, r in enumerate(_instructions(300))]
    # The same prompt with another answer: it must land on the same side as its twin.
    examples += [
        from_self_instruct({**r, "output": "Another answer."}, f"g:{i}") for i, r in enumerate(_instructions(300))
    ]
    train, held_out = split_examples(examples, 0.2, seed=0)
    assert (train, held_out) == split_examples(list(examples), 0.2, seed=0)
    assert len(train) + len(held_out) == len(examples)
    train_prompts = {first_user_message(e) for e in train}
    held_out_prompts = {first_user_message(e) for e in held_out}
    assert not train_prompts & held_out_prompts
    assert 0.12 < len(held_out) / len(examples) < 0.28
    assert split_examples(examples, 0.2, seed=1) != (train, held_out)  # the seed matters


def test_too_few_records_says_how_many_and_what_to_change() -> None:
    examples = [from_self_instruct(r, f"f:{i}") for i, r in enumerate(_instructions(40))]
    train, held_out = split_examples(examples, SMOKE_SFT.eval_fraction, SMOKE_SFT.seed)
    check_split(train, held_out, SMOKE_SFT)  # enough
    with pytest.raises(RecordError, match=r"1 given, 1 for training and 0 held out.*at least 2 training"):
        check_split(train[:1], [], SMOKE_SFT)
    with pytest.raises(RecordError, match=r"0 held out.*sft.eval_fraction"):
        check_split(train, [], SMOKE_SFT)


def test_the_loss_gate_needs_a_confident_fall_on_enough_held_out_examples() -> None:
    examples = [
        {
            "prompt": [{"role": "user", "content": f"question {i}"}],
            "completion": [{"role": "assistant", "content": "a"}],
        }
        for i in range(30)
    ]
    better = loss_evidence(examples, [2.0] * 30, [1.5 + 0.01 * (i % 3) for i in range(30)], min_examples=20, level=0.95)
    assert better["passed"] is True and better["verdict"].startswith("the tuned model fits held-out answers better")
    same = loss_evidence(examples, [2.0] * 30, [2.0 + 0.01 * (-1) ** i for i in range(30)], min_examples=20, level=0.95)
    assert same["passed"] is False and "not enough evidence" in same["verdict"]  # answers like its base
    few = loss_evidence(examples[:5], [2.0] * 5, [1.0] * 5, min_examples=20, level=0.95)
    assert few["passed"] is False and "5 held-out examples, fewer than the 20" in few["verdict"]
    cut = loss_evidence(examples[:3], [None, 2.0, 2.0], [None, 1.0, 1.0], min_examples=1, level=0.95)
    assert cut["examples"] == 2  # an example with no answer token within max_length is not compared
    assert not decide_gate(True, None, few)["passed"]
    assert "held-out answer loss" in decide_gate(True, None, few)["failed_because"][0]


def test_gate_needs_a_serving_checkpoint_and_a_reward_win_when_judged() -> None:
    assert decide_gate(True, None)["passed"]
    assert not decide_gate(False, None)["passed"]
    assert decide_gate(True, {"gate": {"passed": True}})["passed"]
    lost = decide_gate(True, {"gate": {"passed": False}})
    assert not lost["passed"]
    assert "reward model" in lost["failed_because"][0]


# =====================================================================================================
# Command-line refusals: exit code 2, one clear message, nothing stored
# =====================================================================================================


def _refusal_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    records = _write_jsonl(tmp_path / "records.jsonl", _instructions(24))
    bad = _write_jsonl(tmp_path / "bad.jsonl", [*_instructions(3), '{"instruction": "x", "output": ""}'])
    few = _write_jsonl(tmp_path / "few.jsonl", _instructions(2))
    no_sft = tmp_path / "no-sft.yaml"
    no_sft.write_text("name: no-sft\ndevice: cpu\nreward_model:\n  max_length: 128\n")
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: typo\ndevice: cpu\nsft:\n  max_lenght: 128\n")
    smoke = ["--recipe", "cpu-smoke"]
    return {
        "no sft section": (["--recipe", str(no_sft), "--records", str(records)], "has no sft section"),
        "unknown recipe key": (["--recipe", str(typo), "--records", str(records)], "unknown key(s) 'max_lenght'"),
        "gpu recipe on cpu": (["--recipe", "gpu-default", "--records", str(records)], "needs a CUDA GPU"),
        "missing base model": (
            [*smoke, "--records", str(records), "--base-model", str(tmp_path / "nowhere")],
            "nowhere does not exist",
        ),
        "no records": (smoke, "no records given"),
        "bad record": ([*smoke, "--chat", str(_chat(tmp_path)), "--records", str(bad)], f"{bad}:4: empty output"),
        "bad record kind": ([*smoke, "--chat", str(records)], f"{records}:1: missing messages"),
        "too few records": ([*smoke, "--records", str(few)], "too few records: 2 given"),
        "unknown --like": ([*smoke, "--records", str(records), "--like", "nobody"], "no registered model named"),
        "reward model not an adapter": (
            [*smoke, "--records", str(records), "--reward-model", str(tmp_path)],
            "not a reward adapter",
        ),
    }


REFUSALS = (
    "no sft section",
    "unknown recipe key",
    "gpu recipe on cpu",
    "missing base model",
    "no records",
    "bad record",
    "bad record kind",
    "too few records",
    "unknown --like",
    "reward model not an adapter",
)


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_exit_2_and_store_nothing(tmp_path: Path, storage: Store, db_url: str, case: str) -> None:
    cases = _refusal_cases(tmp_path)
    assert set(cases) == set(REFUSALS)
    argv, expected = cases[case]
    out = tmp_path / "out"
    messages: list[str] = []
    code = main([*argv, "--out", str(out), "--register", "--database-url", db_url], echo=messages.append)
    assert code == 2
    assert len(messages) == 1 and messages[0].startswith("error: "), messages
    assert expected in messages[0]
    assert storage.registry.models(enabled_only=False) == []
    assert storage.training_runs.runs() == []
    assert not out.exists()  # refused before any stage ran


# =====================================================================================================
# One real run (slow): 3 LoRA steps on the embedded SmolLM2, registered, then resumed, then unregistered
# =====================================================================================================


def _untrained_reward_adapter(folder: Path, out: Path) -> Path:
    """A reward adapter in training.reward's format (random score head): enough to drive the reward gate."""
    import torch
    from peft import get_peft_model

    from training.reward import load_base_classifier, load_tokenizer, lora_config

    torch.manual_seed(0)
    tokenizer = load_tokenizer(folder)
    model = get_peft_model(
        load_base_classifier(folder, tokenizer, "cpu"), lora_config(load_recipe("cpu-smoke").require_reward_model())
    )
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


@pytest.mark.slow
def test_sft_run_registers_resumes_and_records(
    tmp_path: Path, converted_model: ConvertedModel, storage: Store, db_url: str
) -> None:
    from training.checkpoints import verify_checkpoint

    records = _write_jsonl(tmp_path / "records.jsonl", _instructions(16))
    chat = _chat(tmp_path)
    out = tmp_path / "run"
    base = ["--recipe", "cpu-smoke", "--records", str(records), "--chat", str(chat), "--out", str(out)]
    base += ["--base-model", str(converted_model.folder), "--database-url", db_url]
    messages: list[str] = []

    # Three steps on five held-out examples cannot show a better fit: the loss gate says so, and the operator
    # registers anyway, with a reason that is stored.
    forced = [*base, "--force-register", "--reason", "smoke test: 3 steps"]
    assert main(forced, echo=messages.append) == 0, messages
    report = json.loads((out / "report.json").read_text())
    loss_gate = report["evaluation"]["loss_evidence"]
    assert loss_gate["passed"] is False and loss_gate["verdict"].startswith("not enough evidence")
    assert loss_gate["examples"] == report["data"]["eval_records"] < SMOKE_SFT.gate_min_examples
    assert report["gate"]["passed"] is False
    assert any("held-out answer loss" in reason for reason in report["gate"]["failed_because"])
    assert report["registration"]["forced"] is True
    assert report["registration"]["reason"] == "smoke test: 3 steps"
    assert list(report["stages"]) == ["config", "data", "model", "train", "evaluate", "save"]
    assert report["data"]["records"] == 24
    assert report["data"]["train_records"] >= 2 and report["data"]["eval_records"] >= 1
    assert report["training"]["global_step"] == report["training"]["steps_this_run"] == SMOKE_SFT.max_steps
    evaluation = report["evaluation"]
    for value in (report["training"]["train_loss"], evaluation["base"]["loss"], evaluation["tuned"]["loss"]):
        assert math.isfinite(value) and value > 0
    assert evaluation["tuned"]["perplexity"] == pytest.approx(math.exp(evaluation["tuned"]["loss"]))
    # The adapter changed what the model predicts on held-out answers (base = same weights, adapter off).
    assert evaluation["tuned"]["loss"] != evaluation["base"]["loss"]
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "merged-step3" / "config.json").is_file()
    assert report["checkpoint"]["verified"] is True
    assert verify_checkpoint(out / "merged-step3").strip()  # serves through the arena's engine

    assert (
        messages[-2] == "registered smollm2-135m-sft-v1 (forced: smoke test: 3 steps): it enters anonymous battles now"
    )
    assert messages[-3] == f"evidence: {loss_gate['verdict']}"
    (model,) = storage.registry.models(enabled_only=False)
    assert (model.name, model.anonymous, model.enabled, model.backend) == ("smollm2-135m-sft-v1", True, True, "local")
    assert model.weights == str((out / "merged-step3").resolve())
    (run,) = storage.training_runs.runs()
    assert (run.kind, run.method, run.recipe, run.registered_model) == ("sft", "sft", "cpu-smoke", model.name)
    assert run.gate_passed is False
    assert "registered without passing its gates: smoke test: 3 steps" in model.provenance
    assert run.report["evaluation"]["tuned"]["loss"] == evaluation["tuned"]["loss"]
    assert report["registration"] == {**report["registration"], "run_id": run.id, "registered_model": model.name}

    # Same --out again, judged by a reward model: resumes from the finished checkpoint without training, and the
    # checkpoint already registered is not registered under a second name whatever the reward gate says.
    reward = _untrained_reward_adapter(converted_model.folder, tmp_path / "reward")
    judged = [*base, "--register", "--reward-model", str(reward)]  # cpu-smoke: 2 prompts, 16 new tokens
    assert main(judged, echo=messages.append) == 0, messages
    resumed = json.loads((out / "report.json").read_text())
    assert resumed["training"]["steps_this_run"] == 0
    assert resumed["training"]["resumed_from"].endswith(f"checkpoint-{SMOKE_SFT.max_steps}")
    assert resumed["evaluation"]["tuned"]["loss"] == pytest.approx(evaluation["tuned"]["loss"], rel=1e-5)
    comparison = resumed["evaluation"]["compare_to_base"]
    assert comparison["prompts"] == min(2, report["data"]["eval_records"])
    assert resumed["gate"]["passed"] == comparison["gate"]["passed"]
    assert resumed["registration"]["registered_model"] is None
    assert [m.name for m in storage.registry.models(enabled_only=False)] == [model.name]

    # Without --register the run is recorded and nothing is registered.
    assert main(base, echo=messages.append) == 0, messages
    runs = storage.training_runs.runs()
    assert [(r.kind, r.registered_model) for r in runs] == [("sft", model.name), ("sft", None), ("sft", None)]
    assert [m.name for m in storage.registry.models(enabled_only=False)] == [model.name]
