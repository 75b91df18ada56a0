"""Reward-model training: recipes, evaluation metrics and gate, and one real tiny LoRA run on CPU."""

from __future__ import annotations

import importlib.util
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ConvertedModel
from training.recipes import RecipeError, load_recipe, recipe_from_dict, resolve_device
from training.reward import (
    REPORT_FILE,
    RewardScorer,
    evaluate_rewards,
    longer_answer_baseline,
    main,
    rating_baseline,
)

# =====================================================================================================
# Recipes
# =====================================================================================================


def test_builtin_recipes_load() -> None:
    smoke = load_recipe("cpu-smoke")
    assert smoke.device == "cpu"
    rm = smoke.require_reward_model()
    assert (rm.max_length, rm.per_device_train_batch_size, rm.lora_r, rm.bf16) == (192, 4, 8, False)
    assert load_recipe("gpu-default").device == "cuda"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("name: typo\ndevice: cpu\nreward_model:\n  max_lenght: 128\n")
    with pytest.raises(RecipeError, match=r"unknown key\(s\) 'max_lenght'.*allowed keys:.*max_length"):
        load_recipe(path)
    with pytest.raises(RecipeError, match=r"unknown key.*'optimiser'"):
        recipe_from_dict({"name": "x", "optimiser": "adam"})


def test_wrong_type_and_cpu_bf16_are_refused() -> None:
    with pytest.raises(RecipeError, match="lora_r must be int"):
        recipe_from_dict({"name": "x", "reward_model": {"lora_r": "eight"}})
    with pytest.raises(RecipeError, match="bf16"):
        recipe_from_dict({"name": "x", "device": "cpu", "reward_model": {"bf16": True}})


@pytest.mark.parametrize(
    ("report_to", "message"),
    [
        (["tensorboardx"], "report_to has tensorboardx; use auto, none or any of tensorboard, wandb"),
        (["auto", "wandb"], "auto and none stand alone"),
    ],
)
def test_experiment_tracking_names_only_what_the_trainer_knows(report_to: list[str], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict({"name": "x", "reward_model": {"report_to": report_to}})


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_a_tracker_that_is_not_installed_is_refused_with_the_install_command() -> None:
    with pytest.raises(
        RecipeError, match=r"policy.report_to names wandb, which is not installed \(pip install wandb\)"
    ):
        recipe_from_dict({"name": "x", "policy": {"report_to": ["wandb"]}})


def test_the_trainers_report_to_what_the_recipe_says(tmp_path: Path) -> None:
    from training.runs import trainer_arguments

    tensorboard = importlib.util.find_spec("tensorboard") is not None
    section = load_recipe("cpu-smoke").require_reward_model()
    assert section.report_to == ["auto"]
    assert trainer_arguments(section, tmp_path, "cpu")["report_to"] == (["tensorboard"] if tensorboard else [])
    quiet = recipe_from_dict({"name": "x", "reward_model": {"report_to": ["none"]}}).require_reward_model()
    assert trainer_arguments(quiet, tmp_path, "cpu")["report_to"] == []


@pytest.mark.parametrize(
    ("prefix", "base", "kind", "name"),
    [
        ("", "embedded", "rlhf", "smollm2-135m-rlhf"),
        ("", "Qwen/Qwen2.5-0.5B-Instruct", "rlhf", "qwen2.5-0.5b-rlhf"),  # a hub id
        ("", "/models/smollm2-135m-instruct/", "sft", "smollm2-135m-sft"),  # a folder
        ("", "meta-llama/Llama-3.1-8B", "sft", "llama-3.1-8b-sft"),
        ("", "/models/My Model (v2)", "rlhf", "my-model-v2-rlhf"),
        ("tuned", "embedded", "rlhf", "tuned"),  # the recipe's own prefix wins
    ],
)
def test_a_new_contender_is_named_after_its_base_model(prefix: str, base: str, kind: str, name: str) -> None:
    from training.checkpoints import contender_prefix

    assert contender_prefix(prefix, base, kind) == name


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("reward_model", {"gate_level": 1.0}, r"reward_model.gate_level must be in \[0.5, 1\)"),
        ("reward_model", {"gate_min_pairs": 0}, "reward_model.gate_min_pairs must be at least 1"),
        ("policy", {"gate_min_prompts": 0}, "policy.gate_min_prompts must be at least 1"),
        ("policy", {"gate_level": 0.2}, "policy.gate_level"),
    ],
)
def test_a_gate_without_evidence_is_refused_in_the_recipe(section: str, values: dict, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict({"name": "x", section: values})


def test_gpu_recipe_on_cpu_machine_fails_clearly(tmp_path: Path) -> None:
    gpu = load_recipe("gpu-default")
    with pytest.raises(RecipeError, match=r"needs a CUDA GPU.*has none"):
        resolve_device(gpu, has_cuda=False)
    with pytest.raises(RecipeError, match="--device cpu"):
        resolve_device(gpu, "cpu", has_cuda=True)
    assert resolve_device(gpu, has_cuda=True) == "cuda"

    # Through the command line too, before any data or model is touched (this machine has no GPU).
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("")
    messages: list[str] = []
    code = main(
        ["--recipe", "gpu-default", "--pairs", str(pairs), "--out", str(tmp_path / "out")], echo=messages.append
    )
    assert code == 2
    assert "needs a CUDA GPU" in messages[0]


# =====================================================================================================
# Evaluation and gate (no model)
# =====================================================================================================


def _record(chosen: str, rejected: str, **extra: Any) -> dict[str, Any]:
    return {
        "prompt": [{"role": "user", "content": "q"}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        **extra,
    }


def test_metrics_baselines_and_gate() -> None:
    records = [
        _record("long answer", "short", chosen_model="a", rejected_model="b"),
        _record("x", "longer junk", chosen_model="a", rejected_model="b"),
        _record("same", "same", chosen_model="b", rejected_model="a"),
        _record("good answer", "bad", chosen_model="a", rejected_model="c"),  # c is unrated
    ]
    records = [r | {"prompt": [{"role": "user", "content": f"question {i}"}]} for i, r in enumerate(records)]
    assert longer_answer_baseline(records)["accuracy"] == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    rated = rating_baseline(records, {"a": 1100.0, "b": 1000.0})
    assert (rated["available"], rated["pairs"], rated["accuracy"]) == (True, 3, pytest.approx(2 / 3))
    assert rating_baseline(records, None)["available"] is False

    report = evaluate_rewards(records, [2.0, 1.0, 0.0, 3.0], [0.0, 0.0, 1.0, 0.0], {"a": 1100.0, "b": 1000.0})
    assert report["accuracy"] == 0.75
    low, high = report["accuracy_ci95"]
    assert 0.0 <= low <= 0.75 <= high <= 1.0
    assert report["log_loss"] == pytest.approx(
        sum(math.log1p(math.exp(-d)) for d in (2.0, 1.0, -1.0, 3.0)) / 4  # -log(sigmoid(d))
    )
    # 0.75 is above the longer-answer baseline (0.625) and the rating baseline (0.667), on 4 pairs: no evidence.
    assert report["gate"]["passed"] is False
    assert report["gate"]["beats"] == {
        "random scorer": False,
        "longer answer wins": False,
        "shorter answer wins": False,
        "higher-rated model wins": False,
    }
    assert report["gate"]["verdict"] == report["evidence"]["verdict"]
    assert "paired bootstrap" in report["gate"]["rule"]

    # Without ratings the rating baseline is reported unavailable and left out of the evidence.
    no_ratings = evaluate_rewards(records, [2.0, 1.0, 0.0, 3.0], [0.0, 0.0, 1.0, 0.0])
    assert no_ratings["baselines"]["higher_rated_model"]["available"] is False
    assert "higher-rated model wins" not in no_ratings["gate"]["beats"]


def test_the_gate_passes_on_clear_held_out_evidence_and_refuses_a_coin() -> None:
    """Pairs built from a rule people follow (a correct answer beats a wrong one of the same length), so no length
    baseline can score them; a model that follows the rule passes, a model trained on shuffled labels does not."""
    records = [
        _record(f"{a} + {b} = {a + b}", f"{a} + {b} = {a + b + 1}", chosen_model="x", rejected_model="y")
        | {"prompt": [{"role": "user", "content": f"What is {a} + {b}?"}]}
        for a in range(10, 50)
        for b in (3,)
    ]
    ratings = {"x": 1000.0, "y": 1000.0}  # equal ratings: the rating baseline is a coin too
    right = evaluate_rewards(records, [1.0] * 40, [0.0] * 40, ratings)
    assert right["gate"]["passed"] is True, right["gate"]["verdict"]
    assert right["gate"]["verdict"].startswith("beats every baseline")
    coin = [float(i % 2) for i in range(40)]
    shuffled = evaluate_rewards(records, coin, [0.5] * 40, ratings)
    assert shuffled["accuracy"] == 0.5
    assert shuffled["gate"]["passed"] is False and "not enough evidence" in shuffled["gate"]["verdict"]
    # The same clear win on too few pairs is not enough either, and the recipe's minimum is what counts.
    few = evaluate_rewards(records[:20], [1.0] * 20, [0.0] * 20, ratings)
    assert few["gate"]["passed"] is False
    assert evaluate_rewards(records[:20], [1.0] * 20, [0.0] * 20, ratings, min_pairs=20)["gate"]["passed"]


def test_pairs_under_few_prompts_are_weighed_as_few_prompts() -> None:
    """Forty pairs asked under ONE prompt say nothing about the next prompt: no interval, no gate. Under two
    prompts the intervals resample the prompts, so they are wider than forty independent pairs would give."""
    rule = [_record(f"{a} + 3 = {a + 3}", f"{a} + 3 = {a + 4}") for a in range(10, 50)]
    one_prompt = evaluate_rewards(rule, [1.0] * 40, [0.0] * 40)
    assert one_prompt["gate"]["passed"] is False
    assert math.isnan(one_prompt["evidence"]["comparisons"][0]["difference"]["low"])

    mixed = [1.0 if i % 4 else 0.0 for i in range(40)]  # right on 3 pairs of every 4
    two_prompts = [r | {"prompt": [{"role": "user", "content": f"q{i % 2}"}]} for i, r in enumerate(rule)]
    forty_prompts = [r | {"prompt": [{"role": "user", "content": f"q{i}"}]} for i, r in enumerate(rule)]
    narrow = evaluate_rewards(forty_prompts, mixed, [0.5] * 40)["accuracy_ci95"]
    wide = evaluate_rewards(two_prompts, mixed, [0.5] * 40)["accuracy_ci95"]
    assert wide[1] - wide[0] > narrow[1] - narrow[0]  # two prompts at 0.5 and 1.0: [0.5, 1.0]
    assert "2 prompts" in evaluate_rewards(two_prompts, mixed, [0.5] * 40)["evidence"]["verdict"]


# =====================================================================================================
# A real tiny training run (embedded SmolLM2-135M, LoRA r=8, 3 steps of batch 4, CPU)
# =====================================================================================================

FACTS = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What is 7 times 8?", "7 times 8 is 56."),
    ("What gas do plants absorb?", "Plants absorb carbon dioxide from the air for photosynthesis."),
    ("Who wrote Hamlet?", "William Shakespeare wrote Hamlet."),
    ("What is the boiling point of water at sea level?", "Water boils at 100 °C (212 °F) at sea level."),
    ("What is the largest planet?", "Jupiter is the largest planet in the Solar System."),
    ("How many days are in a leap year?", "A leap year has 366 days."),
    ("What is H2O?", "H2O is water: two hydrogen atoms bonded to one oxygen atom."),
    ("What is the speed of light?", "Light travels at about 299,792 km per second in a vacuum."),
    ("Which ocean is the largest?", "The Pacific Ocean is the largest ocean."),
    ("What is the square root of 81?", "The square root of 81 is 9."),
]


def _tiny_pairs() -> list[dict[str, Any]]:
    pairs = []
    for i, (question, answer) in enumerate(FACTS):
        junk = "blah " * 6 if i % 2 else "I don't know."
        pairs.append(_record(answer, junk, margin=1.0, chosen_model="helpful", rejected_model="junk"))
        pairs.append(_record(answer, "I don't know.", margin=0.5, chosen_model="helpful", rejected_model="junk"))
        pairs[-1]["prompt"] = pairs[-2]["prompt"] = [{"role": "user", "content": question}]
    return pairs  # 24


@pytest.mark.slow
def test_tiny_reward_run_saves_reloads_scores_and_reports(converted_model: ConvertedModel, tmp_path: Path) -> None:
    # 20 to train on, 4 held out: scoring is slow on a shared 2-core CPU, and 4 is enough to exercise the report.
    train = _tiny_pairs()[:20]
    held_out = _tiny_pairs()[20:]
    # One pair made too long on purpose: ~400 tokens > max_length 192 (counted before TRL drops it).
    train.append(_record("The answer is " + "very " * 400 + "long.", "I don't know."))
    pairs_file, eval_file, ratings_file = tmp_path / "pairs.jsonl", tmp_path / "eval.jsonl", tmp_path / "ratings.json"
    pairs_file.write_text("".join(json.dumps(r) + "\n" for r in train))
    eval_file.write_text("".join(json.dumps(r) + "\n" for r in held_out))
    ratings_file.write_text(json.dumps({"helpful": 1100, "junk": 900}))
    out = tmp_path / "rm"
    argv = [
        "--recipe", "cpu-smoke", "--pairs", str(pairs_file), "--eval-pairs", str(eval_file),
        "--out", str(out), "--device", "cpu", "--base-model", str(converted_model.folder),
        "--ratings", str(ratings_file),
    ]  # fmt: skip

    start = time.perf_counter()
    messages: list[str] = []
    assert main(argv, echo=messages.append) == 0
    elapsed = time.perf_counter() - start
    assert "held-out accuracy" in messages[-2]
    assert messages[-1] == "evidence: not enough evidence: 4 held-out pairs, fewer than the 30 the gate asks for"

    report = json.loads((out / REPORT_FILE).read_text())
    assert list(report["stages"]) == ["config", "data", "model", "train", "evaluate", "save"]
    assert report["data"]["dropped_too_long"] == {"train": 1, "eval": 0}
    assert report["data"]["trl_dropped_too_long"] == 1  # TRL's own filter agrees with the count
    assert report["data"]["margins_used"] is True
    assert report["training"]["global_step"] == 3
    assert report["training"]["seconds_per_step"] > 0
    evaluation = report["evaluation"]
    assert evaluation["pairs"] == 4
    assert 0.0 <= evaluation["accuracy_ci95"][0] <= evaluation["accuracy"] <= evaluation["accuracy_ci95"][1] <= 1.0
    assert evaluation["log_loss"] > 0
    assert evaluation["baselines"]["longer_answer"]["available"] is True
    assert evaluation["baselines"]["higher_rated_model"] | {"accuracy": None} == {
        "name": "higher-rated model wins", "available": True, "accuracy": None, "pairs": 4,
    }  # fmt: skip
    # The ratings baseline is perfect on this data, so 3 steps cannot beat it: the gate must say no.
    assert evaluation["baselines"]["higher_rated_model"]["accuracy"] == 1.0
    assert evaluation["gate"]["passed"] is False
    assert evaluation["gate"]["beats"]["higher-rated model wins"] is False
    assert evaluation["evidence"]["best_baseline"] == "higher-rated model wins"
    assert evaluation["evidence"]["enough"] is False

    # The adapter (with its score head) and the tokenizer are saved; a fresh load scores like the trained model.
    assert (out / "adapter_config.json").is_file()
    assert (out / "adapter_model.safetensors").is_file()
    assert (out / "tokenizer_config.json").is_file()
    scorer = RewardScorer.load(out)
    prompt = held_out[0]["prompt"]
    good = scorer.score(prompt, held_out[0]["chosen"][0]["content"])
    bad = scorer.score(prompt, held_out[0]["rejected"][0]["content"])
    assert isinstance(good, float) and isinstance(bad, float)
    # Same numbers as the trained model in memory gave during evaluation (the gap over the held-out pairs).
    chosen, rejected = scorer.score_pairs(held_out)
    assert chosen[0] == pytest.approx(good, abs=1e-4)
    assert rejected[0] == pytest.approx(bad, abs=1e-4)
    assert evaluation["mean_reward_gap"] == pytest.approx(
        sum(c - r for c, r in zip(chosen, rejected, strict=True)) / len(chosen), abs=1e-3
    )

    # Resumable: a second run in the same folder starts from the last checkpoint and has nothing left to do.
    assert any(p.name.startswith("checkpoint-") for p in out.iterdir())
    assert main(argv, echo=messages.append) == 0
    again = json.loads((out / REPORT_FILE).read_text())
    assert again["training"]["resumed_from"].endswith("checkpoint-3")
    assert again["training"]["steps_this_run"] == 0
    assert again["evaluation"]["accuracy"] == evaluation["accuracy"]  # the checkpoint's weights, not fresh ones
    print(f"tiny reward run: {elapsed:.1f} s, {report['training']['seconds_per_step']} s/step")


def test_a_hub_id_is_accepted_wherever_a_model_folder_is(tmp_path: Path) -> None:
    from training.reward import resolve_base_model

    assert resolve_base_model("HuggingFaceTB/SmolLM2-135M-Instruct") == Path("HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(FileNotFoundError, match="nor a hub id"):
        resolve_base_model(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nor a hub id"):
        resolve_base_model("not-a-hub-id")


@pytest.mark.parametrize(("name", "kind"), [("ddp", "MULTI_GPU"), ("fsdp", "FSDP")])
def test_the_shipped_accelerate_configs_load_with_accelerate(name: str, kind: str) -> None:
    """The GPU recipe's documented launch configs are read by accelerate's own loader (no GPU needed to parse)."""
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(
        str(Path(__file__).parent.parent / "training" / "accelerate" / f"{name}.yaml")
    )
    assert config.distributed_type.name == kind
    assert config.mixed_precision == "bf16"


def test_a_pairs_file_is_split_by_whole_prompts_like_the_votes() -> None:
    from training.reward import prompt_group, split_pairs

    records = [
        _record(f"good {i}", f"bad {i}") | {"prompt": [{"role": "user", "content": f"q{i % 7}"}]} for i in range(30)
    ]
    train, held_out = split_pairs(records, 0.25, seed=0)
    assert len(train) + len(held_out) == 30 and len(held_out) >= 8  # at least a quarter of the pairs
    assert not {prompt_group(r) for r in train} & {prompt_group(r) for r in held_out}  # no prompt on both sides
    assert split_pairs(records, 0.25, seed=0) == (train, held_out)  # deterministic
    assert split_pairs(records, 0.0, seed=0) == (records, [])
    one_prompt = [r | {"prompt": [{"role": "user", "content": "same"}]} for r in records]
    assert split_pairs(one_prompt, 0.25, seed=0) == (one_prompt, [])  # never everything held out
    # One prompt with most of the pairs is never held out for a small share: smaller prompts are.
    skewed = [r | {"prompt": [{"role": "user", "content": "big"}]} for r in records * 30] + records[:20]
    train, held_out = split_pairs(skewed, 0.1, seed=0)
    assert 0 < len(held_out) <= 0.1 * len(skewed) and all(prompt_group(r) != "big" for r in held_out)
