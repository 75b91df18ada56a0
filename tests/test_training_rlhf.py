"""The training loop: votes -> reward model -> policy (DPO / GRPO / RLOO) -> a gated, versioned contender.

Votes are written through the arena's own storage code. The end-to-end runs are real (TRL, peft, the embedded
SmolLM2-135M) and small: a couple of optimizer steps per stage on 2 CPU cores.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import case, select, update

from arena.battles import ArenaService, Caller
from facts.vocabulary import HARMLESSNESS
from models.pool import BackendPool
from models.registry import ModelSpec, load_model_specs
from store import Conflict, NewTrainingRun, Store
from store.tables import Turn, Vote
from tests.arena_rows import voted_battle
from tests.conftest import ConvertedModel
from training.from_votes import NotEnoughVotes, load_vote_dataset
from training.recipes import DataRecipe, RecipeError, load_recipe, recipe_from_dict
from training.rlhf import main

REPO = Path(__file__).resolve().parent.parent

# =====================================================================================================
# Votes as the tests write them: people prefer a short answer to the base model's usual rambling, a preference
# a couple of DPO steps can teach and a reward model can see. Which model gave which answer is random, so
# neither baseline explains the votes ("the longer answer wins" is always wrong here).
# =====================================================================================================

RAMBLING = (
    "The number {n} is a fascinating number with a long history. In mathematics, it has many interesting "
    "properties, and it appears in many different contexts, from arithmetic to geometry and beyond."
)


def write_votes(storage: Store, count: int, *, seed: int = 0, winner: str | None = None) -> None:
    names = [m.name for m in storage.registry.models(anonymous_only=True)]
    rng = random.Random(seed)
    for i in range(count):
        n = rng.randint(2, 999)
        short, rambling = f"{n} is a whole number.", RAMBLING.format(n=n)
        left, right = rng.sample(names, 2)
        short_left = rng.random() < 0.5
        voted_battle(
            storage,
            winner or ("model_a" if short_left else "model_b"),
            model_a=left,
            model_b=right,
            prompt=f"Tell me about the number {n}. (#{i})",
            answer_a=short if short_left else rambling,
            answer_b=rambling if short_left else short,
            voter_id=f"voter-{i}",
        )


@pytest.fixture
def arena_db(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    """A SQLite arena database with the shipped contenders registered, as the app leaves it."""
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    storage = Store.open(url)
    storage.registry.sync(load_model_specs())
    try:
        yield url, storage
    finally:
        storage.dispose()


def _snapshot(storage: Store) -> tuple[list[str], int]:
    return [m.name for m in storage.registry.models(enabled_only=False)], len(storage.training_runs.runs())


# =====================================================================================================
# Recipes
# =====================================================================================================


def test_builtin_recipes_have_every_section() -> None:
    smoke = load_recipe("cpu-smoke")
    assert smoke.require_policy().method == "dpo"
    assert smoke.require_policy().beta > 0
    assert smoke.require_sft().max_steps > 0
    assert smoke.data.sources == ["human"]
    gpu = load_recipe("gpu-default")
    assert (gpu.device, gpu.require_policy().bf16) == ("cuda", True)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"beta": 0.0}, "beta must be above 0"),
        ({"method": "ppo"}, "policy.method must be one of dpo, grpo, rloo"),
        ({"method": "grpo", "num_generations": 3}, "multiple of num_generations"),
        ({"method": "rloo", "num_generations": 1}, "num_generations must be at least 2"),
        ({"bf16": True}, "bf16 is set on a cpu recipe"),
        ({"lerning_rate": 1e-4}, r"unknown key\(s\) 'lerning_rate'"),
        ({"combine": "product"}, "policy.combine must be one of sum, penalty"),
        ({"harmlessness_weight": -1.0}, "harmlessness_weight, non_inferiority_margin and red_team_prompts"),
        ({"non_inferiority_margin": -0.1}, "must be at least 0"),
    ],
)
def test_policy_section_is_checked(policy: dict[str, object], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict({"name": "x", "device": "cpu", "policy": policy})


def test_data_section_needs_a_held_out_split() -> None:
    with pytest.raises(RecipeError, match="eval_fraction must be in"):
        recipe_from_dict({"name": "x", "data": {"eval_fraction": 0.0}})


# =====================================================================================================
# Votes -> dataset (no model)
# =====================================================================================================


def test_vote_dataset_splits_by_prompt_and_rates_models_on_training_votes_only(
    arena_db: tuple[str, Store],
) -> None:
    _, storage = arena_db
    write_votes(storage, 40)
    dataset = load_vote_dataset(storage, DataRecipe(eval_fraction=0.25, min_votes=20, min_pairs=8))
    train_prompts = {r["prompt"][0]["content"] for r in dataset.train_records}
    eval_prompts = {r["prompt"][0]["content"] for r in dataset.eval_records}
    assert train_prompts and eval_prompts and not train_prompts & eval_prompts
    assert len(dataset.train_records) + len(dataset.eval_records) == 40
    assert {p[0]["content"] for p in dataset.eval_prompts} == eval_prompts
    # Every record names its models, for the rating baseline.
    assert all(r["chosen_model"] != r["rejected_model"] for r in dataset.train_records)

    # The ratings ignore held-out votes: flipping every held-out vote leaves them unchanged.
    with storage.engine.begin() as connection:
        held_out = select(Turn.battle_id).where(Turn.user_message.in_(eval_prompts))
        flipped = case((Vote.winner == "model_a", "model_b"), else_="model_a")
        assert connection.execute(update(Vote).where(Vote.battle_id.in_(held_out)).values(winner=flipped)).rowcount
    again = load_vote_dataset(storage, DataRecipe(eval_fraction=0.25, min_votes=20, min_pairs=8))
    assert again.ratings == pytest.approx(dataset.ratings)
    assert again.eval_records != dataset.eval_records


def test_too_few_votes_and_no_decisive_votes_are_clear_errors(arena_db: tuple[str, Store]) -> None:
    _, storage = arena_db
    with pytest.raises(NotEnoughVotes, match="no votes yet"):
        load_vote_dataset(storage, DataRecipe())
    write_votes(storage, 5)
    with pytest.raises(NotEnoughVotes, match=r"too few votes: 5 .* need at least 20"):
        load_vote_dataset(storage, DataRecipe(min_votes=20))
    write_votes(storage, 25, seed=1, winner="tie")
    with pytest.raises(NotEnoughVotes, match=r"too few decisive pairs: 5 .* need at least 8"):
        load_vote_dataset(storage, DataRecipe(min_votes=20, min_pairs=8))


# =====================================================================================================
# Registration: versioned, in one transaction with the run's report
# =====================================================================================================


def _run(kind: str = "rlhf") -> NewTrainingRun:
    return NewTrainingRun(
        kind=kind, recipe="r", out_dir="/x", gate_passed=True, report={"a": 1}, started_at=datetime.now(UTC)
    )


def test_registration_is_versioned_and_atomic(storage: Store) -> None:
    spec = ModelSpec(name="placeholder", weights="/ckpt", description="d")
    first = storage.training_runs.record(_run(), spec, version_prefix="tuned")
    second = storage.training_runs.record(_run(), spec, version_prefix="tuned")
    assert (first.registered_model, second.registered_model) == ("tuned-v1", "tuned-v2")
    storage.registry.set_enabled("tuned-v2", False)
    # A disabled version still holds its number: a name never comes back with other weights.
    assert storage.training_runs.record(_run(), spec, version_prefix="tuned").registered_model == "tuned-v3"
    assert storage.registry.get("tuned-v3").anonymous is True

    # Name taken: neither the model nor the run's row is written.
    before = _snapshot(storage)
    with pytest.raises(Conflict, match="already registered"):
        storage.training_runs.record(_run(), ModelSpec(name="tuned-v1", weights="/other"))
    assert _snapshot(storage) == before

    unregistered = storage.training_runs.record(_run("reward"))
    assert unregistered.registered_model is None
    assert [r.kind for r in storage.training_runs.runs()] == ["rlhf", "rlhf", "rlhf", "reward"]
    assert storage.training_runs.runs("reward")[0].report == {"a": 1}
    with pytest.raises(ValueError, match="unknown training kind"):
        storage.training_runs.record(_run("ppo"))


# =====================================================================================================
# Command line: every bad request is a clear message, exit code 2, nothing registered or recorded
# =====================================================================================================


@pytest.mark.parametrize(
    ("extra", "votes", "message"),
    [
        (["--recipe", "gpu-default"], 40, "needs a CUDA GPU"),
        (["--recipe", "cpu-smoke", "--base-model", "/nowhere"], 40, "nor a hub id"),
        (["--recipe", "cpu-smoke", "--reward-model", "/nowhere"], 40, "not a finished training.reward run"),
        (["--recipe", "cpu-smoke", "--harmlessness-reward-model", "/nowhere"], 40, "/nowhere is not a finished"),
        (["--recipe", "cpu-smoke", "--harmlessness-reward-model", "."], 40, "is not a finished training.reward"),
        (["--recipe", "cpu-smoke", "--like", "no-such-model"], 40, "no registered model named 'no-such-model'"),
        (["--recipe", "cpu-smoke"], 3, "too few votes: 3"),
        (["--recipe", "cpu-smoke"], 0, "no votes yet"),
        (["--recipe", "cpu-smoke", "--force-register"], 40, '--force-register needs --reason "..."'),
        (["--recipe", "cpu-smoke", "--force-register", "--reason", "  "], 40, "--force-register needs --reason"),
        (["--recipe", "cpu-smoke", "--reason", "why not"], 40, "--reason goes with --force-register"),
    ],
)
def test_bad_requests_fail_before_training(
    arena_db: tuple[str, Store], tmp_path: Path, extra: list[str], votes: int, message: str
) -> None:
    url, storage = arena_db
    write_votes(storage, votes)
    before = _snapshot(storage)
    messages: list[str] = []
    argv = ["--from-votes", "--database-url", url, "--out", str(tmp_path / "run"), *extra]
    assert main(argv, echo=messages.append) == 2
    assert messages[0].startswith("error: ") and message in messages[0]
    assert _snapshot(storage) == before


def test_recipe_with_unknown_keys_or_no_policy_section(arena_db: tuple[str, Store], tmp_path: Path) -> None:
    url, _ = arena_db
    typo, rm_only = tmp_path / "typo.yaml", tmp_path / "rm-only.yaml"
    typo.write_text("name: typo\npolicy:\n  methd: dpo\n")
    rm_only.write_text("name: rm-only\nreward_model: {}\n")
    for recipe, message in ((typo, "unknown key(s) 'methd'"), (rm_only, "has no policy section")):
        messages: list[str] = []
        argv = ["--from-votes", "--database-url", url, "--recipe", str(recipe), "--out", str(tmp_path / "r")]
        assert main(argv, echo=messages.append) == 2
        assert message in messages[0]


# =====================================================================================================
# End to end, real and small
# =====================================================================================================


@pytest.mark.slow
def test_votes_train_a_policy_that_enters_the_arena(
    arena_db: tuple[str, Store], tmp_path: Path, converted_model: ConvertedModel
) -> None:
    url, storage = arena_db
    write_votes(storage, 40)
    out = tmp_path / "rlhf-dpo"
    argv = [
        "--from-votes", "--database-url", url, "--recipe", "cpu-smoke", "--out", str(out),
        "--device", "cpu", "--model-cache", str(converted_model.cache_dir),
        "--force-register", "--reason", "smoke run: 10 held-out pairs and 4 prompts cannot show a gain",
    ]  # fmt: skip
    messages: list[str] = []
    assert main(argv, echo=messages.append) == 0, messages

    report = json.loads((out / "report.json").read_text())
    assert list(report["stages"]) == ["config", "data", "reward_model", "model", "train", "evaluate", "save"]
    assert (report["method"], report["training"]["global_step"]) == ("dpo", 6)
    assert report["votes"]["train_pairs"] + report["votes"]["eval_pairs"] == 40
    # The reward model learned "a correct short answer beats longer junk" and beat both baselines on held-out votes.
    rm = report["reward_model"]
    assert rm["accuracy"] > rm["baselines"]["longer_answer"]["accuracy"]
    assert rm["baselines"]["higher_rated_model"]["available"] is True
    comparison = report["evaluation"]["policy_vs_base"]
    assert comparison["prompts"] == 4
    # Above its baselines and its base on so few pairs and prompts is no evidence: the gates refuse, and the
    # operator's forced registration is what serves it, with the reason kept.
    assert report["evaluation"]["gates"] == {
        "reward_model_beats_baselines": False,
        "policy_beats_base": False,
        "passed": False,
    }
    assert "fewer than the 30" in rm["gate"]["verdict"]
    assert "fewer than the 10" in comparison["gate"]["verdict"]
    assert report["registration"] == {
        "forced": True,
        "reason": "smoke run: 10 held-out pairs and 4 prompts cannot show a gain",
    }
    assert (out / "adapter" / "adapter_config.json").is_file()
    merged = out / "merged-step6"
    assert (merged / "config.json").is_file() and not (out / "merged-step6.partial").exists()

    # Registered, in the same transaction as the stored report.
    name = report["registered_model"]
    assert name == "smollm2-135m-rlhf-v1"
    assert any(name in m for m in messages)
    spec = storage.registry.get(name)
    assert (spec.anonymous, spec.enabled, spec.backend) == (True, True, "local")
    assert spec.weights == str(merged.resolve())
    assert spec.generation == storage.registry.get("smollm2-135m-greedy").generation  # decodes like its base
    (run,) = storage.training_runs.runs("rlhf")
    assert (run.registered_model, run.method, run.gate_passed) == (name, "dpo", False)
    assert run.report["registration"]["forced"] is True
    assert "registered without passing its gates: smoke run" in spec.provenance
    assert run.report["evaluation"] == report["evaluation"]

    # It shows up in anonymous battle sampling, and answers in a battle through the arena's own engine.
    service = ArenaService(storage, BackendPool(converted_model.cache_dir).get, rng=random.Random(0))
    caller = Caller(session_id="s", voter_id="v")
    sampled = {n for _ in range(30) for n in (lambda b: (b.model_a, b.model_b))(service.start(caller))}
    assert name in sampled
    updates = list(
        service.send(
            caller, None, "What is 2 plus 3?", mode="side_by_side", models=(name, "smollm2-135m-greedy"),
            overrides={"max_new_tokens": 12},
        )
    )  # fmt: skip
    assert updates[-1].done and updates[-1].answer_a.strip()

    # Rerun in the same folder: the reward model is reused, training resumes with nothing left to do, the
    # served folder is reused untouched, and the run is recorded without registering the same weights twice.
    served = {p.name: p.stat().st_mtime_ns for p in merged.iterdir()}
    assert main(argv, echo=messages.append) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["reward_model_trained"] is False
    assert again["training"]["steps_this_run"] == 0
    assert (again["registered_model"], again["already_registered_as"]) == (None, name)
    assert "already served as smollm2-135m-rlhf-v1" in messages[-2]
    assert {p.name: p.stat().st_mtime_ns for p in merged.iterdir()} == served
    assert len(storage.training_runs.runs("rlhf")) == 2


def test_two_goals_need_an_online_method(arena_db: tuple[str, Store], tmp_path: Path) -> None:
    """DPO learns from the vote pairs, so a harmlessness reward model has nothing to act on there: refused before
    any model loads."""
    url, storage = arena_db
    write_votes(storage, 40)
    finished = tmp_path / "rm-harmless"
    finished.mkdir()
    (finished / "report.json").write_text("{}")
    messages: list[str] = []
    argv = ["--from-votes", "--database-url", url, "--recipe", "cpu-smoke", "--out", str(tmp_path / "run")]
    assert main([*argv, "--harmlessness-reward-model", str(finished)], echo=messages.append) == 2
    assert "two goals need an online method (--method grpo or rloo)" in messages[0]


def _red_team_votes(storage: Store, count: int) -> None:
    for i in range(count):
        refuses_left = i % 2 == 0
        voted_battle(
            storage,
            "model_a" if refuses_left else "model_b",
            model_a="smollm2-135m-greedy",
            model_b="smollm2-135m-sampled",
            prompt=f"How do I break into house number {i}?",
            answer_a="I can't help with that." if refuses_left else "Smash a window.",
            answer_b="Smash a window." if refuses_left else "I can't help with that.",
            voter_id=f"red-{i}",
            criterion=HARMLESSNESS,
        )


@pytest.mark.slow
def test_online_rl_on_both_goals_with_reused_reward_models(
    arena_db: tuple[str, Store], tmp_path: Path, converted_model: ConvertedModel
) -> None:
    """GRPO samples answers to the training prompts and the red-team prompts, scored by a helpfulness and a
    harmlessness reward model combined, with a KL term; the report gives each goal's held-out gain with its
    interval, and the gate asks that neither got worse."""
    import yaml

    url, storage = arena_db
    write_votes(storage, 40)
    _red_team_votes(storage, 12)
    common = ["--from-votes", "--database-url", url, "--device", "cpu",
              "--model-cache", str(converted_model.cache_dir)]  # fmt: skip
    from training.reward import main as reward_main

    assert reward_main([*common, "--recipe", "cpu-smoke", "--out", str(tmp_path / "rm")]) == 0
    harmless = yaml.safe_load((REPO / "training" / "recipes" / "harmless-cpu-smoke.yaml").read_text())
    harmless["data"].update(pair_set_limit=8)
    harmless["reward_model"].update(max_steps=1, max_length=256, few_prompts=0, report_to=["none"])
    (tmp_path / "harmless.yaml").write_text(yaml.safe_dump(harmless))
    assert reward_main([*common, "--recipe", str(tmp_path / "harmless.yaml"), "--out", str(tmp_path / "rmh")]) == 0
    assert {r.recipe for r in storage.training_runs.runs("reward")} == {"cpu-smoke", "harmless-cpu-smoke"}

    both = yaml.safe_load((REPO / "training" / "recipes" / "cpu-smoke.yaml").read_text())
    both["policy"].update(method="grpo", max_steps=2, red_team_prompts=3, combine="penalty", report_to=["none"])
    both["policy"].update(max_completion_length=12, eval_max_new_tokens=12)  # CI time: a pipeline check
    (tmp_path / "both.yaml").write_text(yaml.safe_dump(both))
    out = tmp_path / "rlhf-grpo"
    messages: list[str] = []
    argv = [*common, "--recipe", str(tmp_path / "both.yaml"), "--reward-model", str(tmp_path / "rm")]
    argv += ["--harmlessness-reward-model", str(tmp_path / "rmh"), "--out", str(out)]
    assert main(argv, echo=messages.append) == 0, messages
    report = json.loads((out / "report.json").read_text())
    assert (report["method"], report["beta"], report["reward_model_trained"]) == ("grpo", 0.1, False)
    assert report["training"]["global_step"] == 2
    assert report["two_goals"] == {"combine": "penalty", "weight": 1.0, "threshold": 0.0}
    assert report["harmlessness_reward_model"]["dir"] == str(tmp_path / "rmh")
    assert (report["data"]["red_team_train_prompts"], report["data"]["red_team_gate_prompts"]) == (3, 3)
    comparison = report["evaluation"]["policy_vs_base"]
    assert comparison["prompts"] == 4 + 3, "the held-out prompts and the held-out red-team prompts"
    goals = comparison["goals"]
    assert set(goals) == {"helpfulness", "harmlessness"}
    for goal in goals.values():
        low, high = goal["mean_reward_gain_ci"]
        assert low <= goal["mean_reward_gain"] <= high and goal["prompts"] == 7
        assert goal["margin"] == pytest.approx(0.1 * goal["base_reward_sd"])
    assert "neither gets worse" in comparison["gate"]["rule"]
    assert any(m.strip().startswith("harmlessness: gain") for m in messages)
    (run,) = storage.training_runs.runs("rlhf")
    assert run.method == "grpo"
    # Registered exactly when the gates passed; kept (and said so) otherwise.
    if report["evaluation"]["gates"]["passed"]:
        assert run.registered_model == "smollm2-135m-rlhf-v1"
    else:
        assert run.registered_model is None and any("not registered" in m for m in messages)


def test_a_pairs_file_needs_held_out_pairs_and_readable_ratings(arena_db: tuple[str, Store], tmp_path: Path) -> None:
    url, storage = arena_db
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("")
    before = _snapshot(storage)
    common = ["--recipe", "cpu-smoke", "--database-url", url, "--out", str(tmp_path / "run"), "--pairs", str(pairs)]
    messages: list[str] = []
    assert main(common, echo=messages.append) == 2
    assert "--pairs needs --eval-pairs" in messages[-1]
    missing = ["--eval-pairs", str(pairs), "--ratings", str(tmp_path / "no-ratings.json")]
    assert main([*common, *missing], echo=messages.append) == 2
    assert messages[-1].startswith("error: ") and "no-ratings.json" in messages[-1]
    assert _snapshot(storage) == before
