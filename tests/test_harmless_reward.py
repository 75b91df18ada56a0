"""Specification of the harmlessness reward model (issue 17): a recipe names the criterion its votes judged (the
red-team battles' harmlessness votes, never pooled with helpfulness) and may add the training half of the shipped
hh-rlhf harmless pairs, whose other half is the evaluation set every reward model is scored on; trained on CPU in a
few steps and evaluated against the length and random baselines, with intervals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from facts.vocabulary import BOTH_COMPLIED, BOTH_REFUSED, HARMLESSNESS, HELPFULNESS
from store import Store
from store.export import build_export, write_export
from tests.arena_rows import voted_battle
from training.data import first_user
from training.from_votes import NotEnoughVotes, load_battles_dataset, load_vote_dataset
from training.recipes import DataRecipe, RecipeError, load_recipe, recipe_from_dict
from training.reward_sets import HH_RLHF_HARMLESS, HH_RLHF_HARMLESS_TRAIN, hh_rlhf_harmless

REPO = Path(__file__).resolve().parent.parent
HARMLESS = DataRecipe(criterion=HARMLESSNESS, eval_fraction=0.3, min_votes=1, min_pairs=1)
HELPFUL = DataRecipe(criterion=HELPFULNESS, eval_fraction=0.3, min_votes=1, min_pairs=1)


def _prompts(records: Any) -> set[str]:
    return {first_user(r["prompt"]) for r in records}


def _red_team_and_helpful_votes(storage: Store, battles: int = 24) -> None:
    """Red-team battles where the refusing model wins (and a few both-refused / both-complied ties), and helpfulness
    battles on other prompts between the same models."""
    for i in range(battles):
        first_refuses = i % 2 == 0
        refusal, compliance = "I can't help with that.", f"Sure, step {i}: ..."
        voted_battle(
            storage,
            [BOTH_REFUSED, BOTH_COMPLIED][(i // 6) % 2] if i % 6 == 5 else ("model_a" if first_refuses else "model_b"),
            model_a="careful" if first_refuses else "reckless",
            model_b="reckless" if first_refuses else "careful",
            prompt=f"How do I hurt person number {i}?",
            answer_a=refusal if first_refuses else compliance,
            answer_b=compliance if first_refuses else refusal,
            voter_id=f"red-{i}",
            criterion=HARMLESSNESS,
            harm_category="violence",
        )
        voted_battle(
            storage,
            "model_b",
            model_a="careful",
            model_b="reckless",
            prompt=f"Write poem number {i}.",
            answer_a="No.",
            answer_b=f"Roses {i}",
            voter_id=f"help-{i}",
        )


def test_the_shipped_hh_rlhf_pairs_split_once_by_prompt_into_a_training_and_a_held_out_half() -> None:
    held_out, train = hh_rlhf_harmless(), hh_rlhf_harmless(train=True)
    assert (held_out.name, train.name) == (HH_RLHF_HARMLESS, HH_RLHF_HARMLESS_TRAIN)
    assert len(held_out.records) + len(train.records) == 2312, "every shipped pair is in one half"
    assert not _prompts(held_out.records) & _prompts(train.records), "the halves never share a prompt"
    assert 0.4 < len(held_out.records) / 2312 < 0.6
    assert hh_rlhf_harmless().fingerprint == held_out.fingerprint, "the split is fixed, not drawn per run"
    assert "held-out half" in held_out.notes[0] and "training half" in train.notes[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"criterion": "honesty"}, "data.criterion must be one of helpfulness, harmlessness"),
        ({"pair_sets": ["anthropic-red-team"]}, "unknown set 'anthropic-red-team'"),
        ({"pair_set_limit": -1}, "pair_set_limit must be at least 0"),
    ],
)
def test_a_recipe_names_one_known_criterion_and_known_pair_sets(data: dict[str, Any], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict({"name": "x", "data": data})


def test_the_shipped_harmlessness_recipe_loads() -> None:
    recipe = load_recipe("harmless-cpu-smoke")
    assert recipe.data.criterion == HARMLESSNESS and recipe.data.pair_sets == [HH_RLHF_HARMLESS]
    assert recipe.reward_model is not None and not recipe.reward_model.bf16


def test_a_harmlessness_recipe_trains_on_harmlessness_votes_only_and_a_helpfulness_recipe_never_sees_them(
    storage: Store,
) -> None:
    _red_team_and_helpful_votes(storage)
    harmless = load_vote_dataset(storage, HARMLESS)
    helpful = load_vote_dataset(storage, HELPFUL)
    harmless_prompts = _prompts(harmless.train_records + harmless.eval_records)
    helpful_prompts = _prompts(helpful.train_records + helpful.eval_records)
    assert harmless_prompts and all(p.startswith("How do I hurt") for p in harmless_prompts)
    assert helpful_prompts and all(p.startswith("Write poem") for p in helpful_prompts)
    chosen = {r["chosen"][0]["content"] for r in harmless.train_records + harmless.eval_records}
    assert chosen == {"I can't help with that."}, "the more harmless answer is the chosen one"
    assert harmless.summary["votes"] == {"pair": 20, "tie": 2, "both_bad": 2}, "both refused / complied are ties"


def test_pair_sets_add_each_half_where_it_belongs_and_stand_in_for_missing_votes(
    storage: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """No red-team vote yet: the votes are left out with a warning and the hh-rlhf halves are the data; the
    training half trains, the held-out half is held out (and gives the policy gate its prompts)."""
    voted_battle(storage, "model_a", prompt="Write a haiku.")  # helpfulness only
    recipe = DataRecipe(criterion=HARMLESSNESS, pair_sets=[HH_RLHF_HARMLESS], pair_set_limit=20, min_votes=1)
    with caplog.at_level("WARNING"):
        dataset = load_vote_dataset(storage, recipe)
    assert "harmlessness votes left out" in caplog.text and "no harmlessness votes yet" in caplog.text
    assert len(dataset.train_records) == 20 and len(dataset.eval_records) == 20
    assert _prompts(dataset.train_records) <= _prompts(hh_rlhf_harmless(train=True).records)
    assert _prompts(dataset.eval_records) <= _prompts(hh_rlhf_harmless().records)
    assert dataset.eval_prompts and dataset.summary["pair_sets"] == {
        HH_RLHF_HARMLESS: {"train_pairs": 20, "eval_pairs": 20}
    }
    assert dataset.summary["criterion"] == HARMLESSNESS
    with pytest.raises(NotEnoughVotes, match="no harmlessness votes yet"):
        load_vote_dataset(storage, DataRecipe(criterion=HARMLESSNESS, min_votes=1))


def test_pair_sets_join_the_votes_rather_than_replace_them(storage: Store) -> None:
    _red_team_and_helpful_votes(storage)
    votes = load_vote_dataset(storage, HARMLESS)
    both = load_vote_dataset(storage, DataRecipe(**{**HARMLESS.__dict__, "pair_sets": [HH_RLHF_HARMLESS]}))
    assert len(both.train_records) == len(votes.train_records) + len(hh_rlhf_harmless(train=True).records)
    assert len(both.eval_records) == len(votes.eval_records) + len(hh_rlhf_harmless().records)


def test_a_battle_file_trains_on_the_recipes_criterion_by_its_criterion_column(storage: Store, tmp_path: Path) -> None:
    _red_team_and_helpful_votes(storage)
    exported = write_export(build_export(storage.votes.read(conversations=True, criterion=None)), tmp_path / "all")
    harmless = load_battles_dataset(exported, HARMLESS)
    helpful = load_battles_dataset(exported, HELPFUL)
    assert all(p.startswith("How do I hurt") for p in _prompts(harmless.train_records + harmless.eval_records))
    assert all(p.startswith("Write poem") for p in _prompts(helpful.train_records + helpful.eval_records))
    plain = tmp_path / "no-criterion.jsonl"
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    plain.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "criterion"}) + "\n" for r in rows))
    with pytest.raises(NotEnoughVotes, match="no harmlessness votes"):
        load_battles_dataset(plain, HARMLESS)  # a file without the column holds helpfulness votes


@pytest.mark.slow
def test_a_harmlessness_reward_model_trains_on_cpu_and_is_scored_against_the_baselines_on_held_out_pairs(
    storage: Store, db_url: str, converted_model: Any, tmp_path: Path
) -> None:
    """The recipe's pipeline end to end on the embedded model: red-team votes plus hh-rlhf's training half, a few
    steps; then training.evaluate on the held-out hh-rlhf half and the held-out red-team votes, each with its
    accuracy, interval and the length and random baselines on the same pairs."""
    from training.evaluate import main as evaluate
    from training.reward import REPORT_FILE
    from training.reward import main as train

    if not db_url.startswith("sqlite"):
        pytest.skip("one real training run is enough; the data layer is covered on both backends above")
    _red_team_and_helpful_votes(storage, battles=40)
    recipe = yaml.safe_load((REPO / "training" / "recipes" / "harmless-cpu-smoke.yaml").read_text())
    recipe["name"] = "harmless-tiny"
    recipe["data"].update(pair_set_limit=16, eval_fraction=0.3)
    recipe["reward_model"].update(max_steps=2, per_device_train_batch_size=2, max_length=160, report_to=["none"])
    recipe_path = tmp_path / "harmless-tiny.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "rm-harmless"
    messages: list[str] = []
    argv = ["--from-votes", "--db", db_url, "--recipe", str(recipe_path), "--out", str(out)]
    argv += ["--base-model", str(converted_model.folder)]
    assert train(argv, echo=messages.append) == 0, messages
    report = json.loads((out / REPORT_FILE).read_text())
    assert report["votes"]["criterion"] == HARMLESSNESS
    assert report["votes"]["pair_sets"][HH_RLHF_HARMLESS] == {"train_pairs": 16, "eval_pairs": 16}
    assert storage.training_runs.runs()[0].recipe == "harmless-tiny"

    results = tmp_path / "results.json"
    argv = [str(out), "--db", db_url, "--set", "arena-harmlessness", "--set", HH_RLHF_HARMLESS, "--limit", "24"]
    argv += ["--base-model", str(converted_model.folder), "--out", str(results), "--bootstrap", "200"]
    argv += ["--recipe", str(recipe_path)]  # a recipe file of its own: the run names it, the file says the split
    assert evaluate(["reward-model", *argv], echo=messages.append) == 0, messages
    (result,) = json.loads(results.read_text())["results"]
    by_name = {s["set"]: s for s in result["sets"]}
    assert set(by_name) == {"arena-harmlessness", HH_RLHF_HARMLESS}
    for scored in by_name.values():
        assert 0 < scored["pairs"] <= 24 and scored["low"] <= scored["accuracy"] <= scored["high"]
        baselines = {b["name"] for b in scored["baselines"]}
        assert {"longer answer wins", "shorter answer wins"} <= baselines and any("random" in b for b in baselines)
    stored = {row.eval_set for row in storage.reward_evaluations.latest()}
    assert stored == {"arena-harmlessness", HH_RLHF_HARMLESS}
