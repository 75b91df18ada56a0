"""The gates on real training runs (the embedded SmolLM2-135M, a few LoRA steps on CPU): a reward model trained on a
rule people follow passes the evidence gate; the same pairs with shuffled labels do not; a reward model trained on
LLMFAO's crowd votes is refused for lack of evidence and then scored on every evaluation set."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from leaderboard.io import write_battles
from leaderboard.llmfao import load_llmfao
from tests.conftest import ConvertedModel
from tests.shared_data import require_llmfao
from training.evaluate import main as evaluate
from training.reward import REPORT_FILE
from training.reward import main as train

TOPICS = (
    "the weather", "a recipe for soup", "how tides work", "learning to swim", "the history of tea", "planting tomatoes",
    "how bees make honey", "why the sky is blue", "fixing a flat tyre", "the rules of chess", "how rainbows form",
    "saving money", "writing a poem", "training a puppy", "baking bread", "how vaccines work", "learning Spanish",
    "the water cycle", "making coffee", "how volcanoes erupt", "running a marathon", "choosing a laptop",
    "a trip to Paris", "the moon landing", "a good book to read",
)  # fmt: skip
POLITE = (
    "Happy to help with {t}! Here is a clear, friendly overview.",
    "Great question about {t}. Let me explain it kindly and simply.",
    "Thanks for asking about {t}! I'd be glad to walk you through it.",
)
RUDE = (
    "Ugh, {t} again? Figure it out yourself, I can't be bothered.",
    "Stop wasting my time with {t}. Look it up yourself, honestly.",
    "Whatever. {t} is boring and so is this question. Go away.",
)


def _rule_pairs(shuffled: bool) -> list[dict[str, Any]]:
    """People prefer the courteous answer to the rude one: 150 pairs, each under its own prompt. Shuffled: the
    labels are coin flips, so nothing can be learned."""
    rng = random.Random(0)
    records = []
    for i, topic in enumerate(TOPICS * 6):
        polite, rude = rng.choice(POLITE).format(t=topic), rng.choice(RUDE).format(t=topic)
        if shuffled and rng.random() < 0.5:
            polite, rude = rude, polite
        records.append(
            {
                "prompt": [{"role": "user", "content": f"Can you tell me about {topic}? (question {i})"}],
                "chosen": [{"role": "assistant", "content": polite}],
                "rejected": [{"role": "assistant", "content": rude}],
            }
        )
    return records


def _recipe(tmp_path: Path, **reward_model: Any) -> Path:
    section = {
        "max_length": 96, "per_device_train_batch_size": 8, "learning_rate": 1.0e-3, "max_steps": 6, "lora_r": 8,
        "lora_alpha": 16, "eval_fraction": 0.3, "gate_min_pairs": 30, "save_steps": 6, "logging_steps": 1,
        "report_to": ["none"], **reward_model,
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"name": "cpu-gate", "device": "cpu", "reward_model": section}))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("shuffled", [False, True], ids=["clear rule", "shuffled labels"])
def test_the_reward_gate_passes_a_learned_rule_and_refuses_shuffled_labels(
    converted_model: ConvertedModel, tmp_path: Path, shuffled: bool
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in _rule_pairs(shuffled)))
    out = tmp_path / "rm"
    argv = ["--pairs", str(pairs), "--recipe", str(_recipe(tmp_path)), "--out", str(out)]
    messages: list[str] = []
    assert train([*argv, "--base-model", str(converted_model.folder)], echo=messages.append) == 0, messages
    evaluation = json.loads((out / REPORT_FILE).read_text())["evaluation"]
    assert evaluation["pairs"] == 45
    if shuffled:
        assert evaluation["gate"]["passed"] is False
        assert messages[-1].startswith("evidence: not enough evidence")
    else:
        assert evaluation["gate"]["passed"] is True, evaluation["evidence"]["verdict"]
        assert all(c["difference"]["low"] > 0 for c in evaluation["evidence"]["comparisons"])
        assert {c["baseline"] for c in evaluation["evidence"]["comparisons"]} == {
            "random scorer", "longer answer wins", "shorter answer wins",
        }  # fmt: skip
        assert messages[-1].startswith("evidence: beats every baseline")


@pytest.mark.slow
def test_a_reward_model_trained_on_llmfao_is_refused_then_scored_on_every_set(
    converted_model: ConvertedModel, tmp_path: Path
) -> None:
    battles = tmp_path / "llmfao.jsonl"
    write_battles(load_llmfao(require_llmfao(), sources=["human"]), battles)
    out = tmp_path / "rm"
    # few_prompts 0: one model on the plain split (cross-validation has its own test); long answers are counted.
    recipe = _recipe(tmp_path, max_length=256, max_steps=2, per_device_train_batch_size=4, few_prompts=0)
    messages: list[str] = []
    argv = ["--from-battles", str(battles), "--recipe", str(recipe), "--out", str(out)]
    assert train([*argv, "--base-model", str(converted_model.folder)], echo=messages.append) == 0, messages
    report = json.loads((out / REPORT_FILE).read_text())
    assert report["votes"]["distinct_prompts"] == 13
    assert "few_prompts" in report["votes"]  # said out loud
    assert report["data"]["dropped_too_long"]["train"] > 0  # counted, not silently dropped
    assert report["evaluation"]["gate"]["passed"] is False  # a few held-out prompts are not evidence

    scored = tmp_path / "scores.json"
    sets = ["--set", f"llmfao:{require_llmfao()}", "--set", "hh-rlhf-harmless", "--set", str(battles)]
    options = ["--limit", "12", "--max-length", "1024", "--no-store", "--out", str(scored)]
    argv = ["reward-model", str(out), *sets, *options]
    assert evaluate(argv) == 0
    (result,) = json.loads(scored.read_text())["results"]
    assert [s["set"] for s in result["sets"]] == ["llmfao", "hh-rlhf-harmless", "llmfao.jsonl"]
    for scored_set in result["sets"]:
        assert scored_set["pairs"] + scored_set["over_context"] == 12
        assert {b["name"] for b in scored_set["baselines"]} >= {"random scorer", "longer answer wins"}
    assert 0.0 <= result["overall"]["score"] <= 1.0
