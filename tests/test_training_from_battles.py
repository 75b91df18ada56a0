"""Training from any votes: a clean-battle file goes through the same pairing, split and gates as the arena's own
votes; few prompts switch the evidence to grouped k-fold by prompt; the learning curve trains nested shares."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leaderboard.bradley_terry import strengths_from_pairs
from leaderboard.io import write_battles
from leaderboard.llmfao import load_llmfao
from store import NewTurn, Store
from store.export import build_export, write_export
from tests.shared_data import require_llmfao
from training.from_votes import load_battles_dataset, load_vote_dataset
from training.recipes import DataRecipe
from training.reward_studies import nested_shares, prompt_folds

REPO = Path(__file__).resolve().parent.parent
RECIPE = DataRecipe(sources=["human"], eval_fraction=0.3, seed=0, min_votes=1, min_pairs=1)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write_votes(storage: Store, battles: int = 30) -> None:
    """Single- and two-turn battles between three models, one vote each, every prompt different."""
    winners = ("model_a", "model_b", "tie", "model_a", "model_b")
    for i in range(battles):
        model_a, model_b = [("alpha", "beta"), ("beta", "gamma"), ("gamma", "alpha")][i % 3]
        battle = storage.battles.create(
            mode="anonymous",
            model_a=model_a,
            model_b=model_b,
            swapped=False,
            params_a={},
            params_b={},
            session_id=_hash(f"session {i}"),
            voter_id=_hash(f"voter {i}"),
        )
        storage.battles.add_turn(
            battle.id, NewTurn(user_message=f"Question number {i}?", answer_a=f"A{i} " * (1 + i % 4), answer_b=f"B{i}")
        )
        turn = 1
        if i % 5 == 0:
            storage.battles.add_turn(
                battle.id, NewTurn(user_message="And then?", answer_a=f"a2-{i}", answer_b=f"b2-{i}")
            )
            turn = 2
        storage.battles.record_vote(battle_id=battle.id, turn=turn, winner=winners[i % 5], voter_id=_hash(f"voter {i}"))


def _pairs(records: list[dict[str, Any]]) -> set[str]:
    return {json.dumps([r["prompt"], r["chosen"], r["rejected"], r["margin"]], sort_keys=True) for r in records}


def test_the_arenas_own_export_trains_like_its_database(storage: Store, tmp_path: Path) -> None:
    """Export the arena's votes, read the file back with --from-battles' reader: the same training pairs, the same
    held-out pairs (multi-turn histories included) and the same held-out prompts as --from-votes."""
    _write_votes(storage)
    exported = write_export(build_export(storage.votes.read(conversations=True)), tmp_path / "export")
    from_file = load_battles_dataset(exported, RECIPE)
    from_database = load_vote_dataset(storage, RECIPE)
    assert _pairs(from_file.train_records) == _pairs(from_database.train_records)
    assert _pairs(from_file.eval_records) == _pairs(from_database.eval_records)
    assert from_file.eval_prompts == from_database.eval_prompts
    assert from_file.ratings == pytest.approx(from_database.ratings)
    assert from_file.summary["origin"] == str(exported)
    assert from_database.summary["origin"] == "the database"
    assert any(len(r["prompt"]) == 3 for r in from_file.train_records + from_file.eval_records)  # two turns


def test_llmfao_has_few_prompts_and_the_summary_says_so(tmp_path: Path) -> None:
    battles = tmp_path / "llmfao.jsonl"
    write_battles(load_llmfao(require_llmfao()), battles)
    dataset = load_battles_dataset(battles, DataRecipe())
    assert dataset.summary["distinct_prompts"] == 13
    assert dataset.summary["held_out_distinct_prompts"] < 10
    assert "distinct prompt(s) held out of 13" in dataset.summary["few_prompts"]
    assert dataset.train_records and dataset.eval_records


def test_a_battles_file_without_texts_is_a_clear_error(tmp_path: Path) -> None:
    battles = tmp_path / "names-only.jsonl"
    rows = [{"model_a": "x", "model_b": "y", "winner": "model_a"}] * 30
    battles.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match=r"no decisive votes to pair|missing_text"):
        load_battles_dataset(battles, RECIPE)


def _record(prompt: str, chosen: str = "yes", rejected: str = "no") -> dict[str, Any]:
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def test_folds_keep_each_prompt_whole_and_deal_prompts_evenly() -> None:
    records = [_record(f"prompt {p}", chosen=f"c{i}") for p in range(13) for i in range(1 + p % 4)]
    folds = prompt_folds(records, 5, seed=0)
    by_prompt: dict[str, set[int]] = {}
    for record, fold in zip(records, folds, strict=True):
        by_prompt.setdefault(record["prompt"][0]["content"], set()).add(fold)
    assert all(len(f) == 1 for f in by_prompt.values())  # no prompt in two folds
    prompts_per_fold = np.bincount([next(iter(f)) for f in by_prompt.values()], minlength=5)
    assert sorted(prompts_per_fold.tolist()) == [2, 2, 3, 3, 3]
    assert prompt_folds(records, 5, seed=0) == folds  # deterministic
    assert prompt_folds(records, 5, seed=1) != folds


def test_learning_curve_shares_are_nested() -> None:
    records = [_record(f"p{i}") for i in range(40)]
    shares = nested_shares(records, [1.0, 0.1, 0.5, 0.25], seed=0)
    assert [len(v) for v in shares.values()] == [4, 10, 20, 40]
    sizes = list(shares.values())
    for smaller, larger in itertools.pairwise(sizes):
        assert larger[: len(smaller)] == smaller


def test_strengths_from_pairs_orders_models_and_stays_finite() -> None:
    strengths = strengths_from_pairs([("a", "b")] * 5 + [("b", "c")] * 5 + [("a", "c")] * 3)
    assert strengths["a"] > strengths["b"] > strengths["c"]  # c lost every vote: finite thanks to the prior
    assert all(np.isfinite(list(strengths.values())))
    assert strengths_from_pairs([]) == {}


# --- real runs (the embedded model, a few steps on CPU) ---------------------------------------------------------


def _recipe(tmp_path: Path, **reward_model: Any) -> Path:
    import yaml

    recipe = yaml.safe_load((REPO / "training" / "recipes" / "cpu-smoke.yaml").read_text())
    recipe["name"] = "cpu-tiny"
    recipe["data"].update(min_votes=2, min_pairs=2)
    recipe["reward_model"].update(max_steps=1, per_device_train_batch_size=2, max_length=96, **reward_model)
    path = tmp_path / "cpu-tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _battles_file(path: Path, prompts: int, per_prompt: int) -> Path:
    """Votes where people prefer the right sum: decisive, short, models named."""
    rows = []
    for p in range(prompts):
        for i in range(per_prompt):
            a, b = 10 + p, 3 + i
            right, wrong = f"{a} + {b} = {a + b}.", f"{a} + {b} = {a + b + 1}."
            first_right = (p + i) % 2 == 0
            rows.append(
                {
                    "model_a": "careful" if first_right else "sloppy",
                    "model_b": "sloppy" if first_right else "careful",
                    "winner": "model_a" if first_right else "model_b",
                    "conversation_a": [
                        {"role": "user", "content": f"Prompt {p}: what is {a} + {b}?"},
                        {"role": "assistant", "content": right if first_right else wrong},
                    ],
                    "conversation_b": [
                        {"role": "user", "content": f"Prompt {p}: what is {a} + {b}?"},
                        {"role": "assistant", "content": wrong if first_right else right},
                    ],
                }
            )
    # Every pair under one prompt shares its first user message: a few prompts, many pairs.
    for row in rows:
        prompt = row["conversation_a"][0]["content"].split(":")[0]
        for side in ("conversation_a", "conversation_b"):
            row[side][0]["content"] = f"{prompt}: add the two numbers I give you."
            row[side].insert(1, {"role": "assistant", "content": "Which numbers?"})
            row[side].insert(2, {"role": "user", "content": row["conversation_a"][-1]["content"].split(" =")[0]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.slow
def test_few_prompts_train_with_grouped_k_fold_and_the_gate_reads_it(converted_model: Any, tmp_path: Path) -> None:
    from training.reward import REPORT_FILE, main

    battles = _battles_file(tmp_path / "few.jsonl", prompts=3, per_prompt=4)
    out = tmp_path / "rm"
    argv = [
        "--from-battles", str(battles), "--recipe", str(_recipe(tmp_path, cross_validation_folds=5, gate_min_pairs=10)),
        "--out", str(out), "--base-model", str(converted_model.folder),
    ]  # fmt: skip
    messages: list[str] = []
    assert main(argv, echo=messages.append) == 0, messages
    report = json.loads((out / REPORT_FILE).read_text())
    cv = report["cross_validation"]
    assert (cv["folds"], cv["prompts"]) == (3, 3)  # at most one fold per prompt
    assert [f["held_out_prompts"] for f in cv["per_fold"]] == [1, 1, 1]
    assert sum(f["held_out_pairs"] for f in cv["per_fold"]) == 12  # every pair scored once, out of fold
    assert report["evaluation"]["pairs"] == 12
    assert report["data"]["train_pairs"] == 12  # the saved model trained on every pair
    assert report["evaluation"]["gate"]["passed"] is False  # 3 prompts are not evidence, whatever the pairs say
    assert "3 prompts" in report["evaluation"]["evidence"]["verdict"]
    assert report["votes"]["distinct_prompts"] == 3
    assert any(m.startswith("few prompts: ") for m in messages)
    for fold in (1, 2, 3):
        assert (out / "cross_validation" / f"fold-{fold}" / "adapter_config.json").is_file()
    assert (out / "adapter_config.json").is_file()

    # A rerun reuses every finished fold and the final model: same figures.
    again: list[str] = []
    assert main(argv, echo=again.append) == 0
    assert json.loads((out / REPORT_FILE).read_text())["evaluation"]["accuracy"] == report["evaluation"]["accuracy"]


@pytest.mark.slow
def test_the_learning_curve_scores_nested_shares_on_the_same_held_out_pairs(
    converted_model: Any, tmp_path: Path
) -> None:
    from training.reward import REPORT_FILE, main

    records = [
        {
            "prompt": [{"role": "user", "content": f"What is {a} + 3?"}],
            "chosen": [{"role": "assistant", "content": f"{a + 3}."}],
            "rejected": [{"role": "assistant", "content": f"{a + 4}."}],
        }
        for a in range(16)
    ]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "rm"
    argv = [
        "--pairs", str(pairs), "--recipe", str(_recipe(tmp_path, learning_curve=[0.5, 1.0])),
        "--out", str(out), "--base-model", str(converted_model.folder),
    ]  # fmt: skip
    messages: list[str] = []
    assert main(argv, echo=messages.append) == 0, messages
    curve = json.loads((out / REPORT_FILE).read_text())["learning_curve"]
    points = curve["points"]
    assert [p["share"] for p in points] == [0.5, 1.0]
    assert [p["train_pairs"] for p in points] == [6, 12]  # 4 of 16 held out, then nested halves
    assert {p["held_out_pairs"] for p in points} == {4}  # the same held-out pairs for every share
    assert "max_steps is 1" in curve["note"]
    assert (curve["last_doubling"]["from_pairs"], curve["last_doubling"]["to_pairs"]) == (6, 12)
    assert Path(curve["plot"]).is_file() and "plotly" in Path(curve["plot"]).read_text()[:100_000].lower()
    assert (out / "learning_curve" / "share-050" / "adapter_config.json").is_file()
    assert not (out / "learning_curve" / "share-100").exists()  # the run itself is the 100% point
    assert any(m.startswith("learning curve: going from 6 to 12 training pairs") for m in messages)


def test_a_study_folder_is_reused_only_for_the_same_pairs_and_recipe(tmp_path: Path) -> None:
    """A fold's model from an earlier run on other votes must not be read as this fold's (it trained on pairs
    that may be held out now): its folder is emptied; the same data keeps it, finished or half-trained."""
    from training.reward_studies import STUDY_FILE, _claim

    fold = tmp_path / "cross_validation" / "fold-1"
    _claim(fold, "fingerprint-a")
    (fold / "checkpoint-3").mkdir()
    _claim(fold, "fingerprint-a")
    assert (fold / "checkpoint-3").is_dir()  # same pairs: resumed, not retrained
    _claim(fold, "fingerprint-b")
    assert not (fold / "checkpoint-3").exists()
    assert json.loads((fold / STUDY_FILE).read_text()) == {"fingerprint": "fingerprint-b"}
