"""Specification of reward-model evaluation (python -m training.evaluate reward-model): RewardBench's scoring
(training.reward_bench), the evaluation sets (training.reward_sets), and the command on a small untrained reward
model (training.evaluate, training.reward_models)."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facts.categories import classify_prompt
from store import NewTurn, Store
from tests.arena_rows import voted_battle
from tests.conftest import ConvertedModel
from tests.shared_data import require_llmfao
from training.data import first_message_in_eval
from training.evidence import RANDOM
from training.reward_bench import overall, score_set
from training.reward_sets import EvalSetError, arena_set, file_set, hh_rlhf_harmless, llmfao_set

# =====================================================================================================
# Scoring, RewardBench's way (pure)
# =====================================================================================================

MODEL = [1.0, 0.0, 1.0, 1.0, 0.5, 0.0, 1.0, 1.0]
CATEGORY = ["math", "math", "code", "code", "code", "chat", "chat", "chat"]
SOURCE = ["human"] * 5 + ["judge:gpt"] * 3


def test_accuracy_is_the_mean_of_the_pair_outcomes_ties_counting_half() -> None:
    score = score_set("s", MODEL, {"category": CATEGORY}, {}, samples=200)
    assert score.pairs == 8
    assert score.accuracy.estimate == pytest.approx(5.5 / 8)
    assert score.accuracy.low <= score.accuracy.estimate <= score.accuracy.high


def test_each_breakdown_has_its_subsets_with_their_sizes_and_accuracies() -> None:
    score = score_set("s", MODEL, {"category": CATEGORY, "source": SOURCE}, {}, samples=200)
    found = {(s.breakdown, s.subset): (s.pairs, s.accuracy.estimate) for s in score.subsets}
    assert found == {
        ("category", "chat"): (3, pytest.approx(2 / 3)),
        ("category", "code"): (3, pytest.approx(2.5 / 3)),
        ("category", "math"): (2, pytest.approx(0.5)),
        ("source", "human"): (5, pytest.approx(3.5 / 5)),
        ("source", "judge:gpt"): (3, pytest.approx(2 / 3)),
    }


def test_the_section_accuracy_weights_its_subsets_by_their_size() -> None:
    score = score_set("s", MODEL, {"category": CATEGORY}, {}, samples=200)
    weighted = sum(s.pairs * s.accuracy.estimate for s in score.subsets) / sum(s.pairs for s in score.subsets)
    unweighted = float(np.mean([s.accuracy.estimate for s in score.subsets]))
    assert score.accuracy.estimate == pytest.approx(weighted)
    assert weighted != pytest.approx(unweighted)  # the data tells the two rules apart


def test_baselines_are_listed_best_first_and_the_random_scorer_is_always_there() -> None:
    alone = score_set("s", MODEL, {}, {}, samples=200)
    assert [(b.name, b.pairs, b.accuracy) for b in alone.baselines] == [(RANDOM, 8, 0.5)]

    longer = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    shorter = [1.0 - x for x in longer]
    score = score_set("s", MODEL, {}, {"longer answer wins": longer, "shorter answer wins": shorter}, samples=200)
    assert [(b.name, b.accuracy) for b in score.baselines] == [
        ("longer answer wins", 0.75),
        (RANDOM, 0.5),
        ("shorter answer wins", 0.25),
    ]
    assert score.evidence.best is not None and score.evidence.best.baseline == "longer answer wins"


def test_a_baseline_that_cannot_score_a_pair_is_scored_on_the_other_pairs() -> None:
    rated = [1.0, np.nan, 0.0, np.nan, 1.0, 1.0, np.nan, 1.0]
    score = score_set("s", MODEL, {}, {"higher-rated model wins": rated, "unavailable": None}, samples=200)
    by_name = {b.name: b for b in score.baselines}
    assert set(by_name) == {"higher-rated model wins", RANDOM}  # one that scores no pair is left out
    assert by_name["higher-rated model wins"].pairs == 5
    assert by_name["higher-rated model wins"].accuracy == pytest.approx(4 / 5)
    assert not np.isnan(score.evidence.comparisons[0].difference.estimate)


def test_an_empty_set_is_refused() -> None:
    with pytest.raises(ValueError, match="no pairs"):
        score_set("empty", [], {}, {})


def test_the_overall_score_is_the_unweighted_mean_of_the_sets() -> None:
    small, big = [1.0] * 10, [0.0] * 900 + [1.0] * 100  # 1.0 on 10 pairs, 0.1 on 1000
    combined = overall([small, big], samples=300)
    assert combined.estimate == pytest.approx(0.55)  # not (10 + 100) / 1010
    assert combined.low <= combined.estimate <= combined.high

    rng = np.random.default_rng(1)
    noisy = overall([rng.integers(0, 2, 40).astype(float), rng.integers(0, 2, 25).astype(float)], samples=500)
    assert noisy.low < noisy.estimate < noisy.high
    with pytest.raises(ValueError):
        overall([])


# =====================================================================================================
# Evaluation sets (no model)
# =====================================================================================================


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def write_rows(path: Path, rows: list[Any]) -> Path:
    if path.name.endswith(".json"):
        path.write_text(json.dumps(rows))
    elif path.name.endswith(".jsonl.gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_the_shipped_hh_rlhf_harmless_test_split_has_its_2312_pairs_in_two_halves() -> None:
    evaluation, training = hh_rlhf_harmless(), hh_rlhf_harmless(train=True)
    assert evaluation.name == "hh-rlhf-harmless"
    assert len(evaluation.records) + len(training.records) == 2312
    assert evaluation.read == {"pair": 2312, "malformed": 0}
    assert evaluation.labels == {"subset": ("harmless-base",) * len(evaluation.records)}
    assert evaluation.rating_outcomes is None  # no model is named: no rating baseline
    for record in evaluation.records + training.records:
        assert [m["role"] for m in record["chosen"]] == ["assistant"]
        assert [m["role"] for m in record["rejected"]] == ["assistant"]
        assert record["prompt"][0]["role"] == "user"


def test_every_hh_rlhf_harmless_prompt_ends_with_the_user_message_the_answers_reply_to() -> None:
    evaluation = hh_rlhf_harmless()
    ending_otherwise = [
        (i, [m["role"] for m in r["prompt"]][-3:])
        for i, r in enumerate(evaluation.records)
        if r["prompt"][-1]["role"] != "user"
    ]
    assert ending_otherwise == []


CANONICAL = {"prompt": [user("What is 2+2?")], "chosen": [assistant("4")], "rejected": [assistant("5")]}
SHAPES = {
    "trl conversational": CANONICAL,
    "trl implicit prompt": {
        "chosen": [user("What is 2+2?"), assistant("4")],
        "rejected": [user("What is 2+2?"), assistant("5")],
    },
    "plain strings": {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"},
    "hh text dialogue": {
        "chosen": "\n\nHuman: What is 2+2?\n\nAssistant: 4",
        "rejected": "\n\nHuman: What is 2+2?\n\nAssistant: 5",
    },
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".jsonl.gz"])
def test_each_preference_file_shape_becomes_the_same_conversational_pair(
    tmp_path: Path, shape: str, suffix: str
) -> None:
    path = write_rows(tmp_path / f"pairs{suffix}", [SHAPES[shape], SHAPES[shape]])
    evaluation = file_set(path)
    assert evaluation.name == path.name
    assert evaluation.records == (CANONICAL, CANONICAL)
    assert evaluation.read == {"pair": 2, "malformed": 0}
    assert evaluation.labels == {"subset": (path.name, path.name)}


def test_multi_turn_histories_keep_every_message_before_the_answers(tmp_path: Path) -> None:
    history = [{"role": "system", "content": "Be brief."}, user("Hi"), assistant("Hello!"), user("2+2?")]
    rows = [
        {"prompt": history, "chosen": [assistant("4")], "rejected": [assistant("5")]},
        {"chosen": [*history, assistant("4")], "rejected": [*history, assistant("5")]},
        {
            "chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: 2+2?\n\nAssistant: 4",
            "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: 2+2?\n\nAssistant: 5",
        },
    ]
    records = file_set(write_rows(tmp_path / "multi.jsonl", rows)).records
    assert [r["prompt"] for r in records] == [history, history, history[1:]]
    assert all((r["chosen"], r["rejected"]) == ([assistant("4")], [assistant("5")]) for r in records)


def test_rows_that_are_not_a_pair_are_counted_as_malformed_and_left_out(tmp_path: Path) -> None:
    rows = [
        CANONICAL,
        {"prompt": [user("q")], "chosen": [assistant("only one side")]},  # no rejected
        {"prompt": [user("q")], "chosen": 4, "rejected": 5},  # not texts
        # the answer is not the assistant's
        {"prompt": [user("q")], "chosen": [user("4")], "rejected": [assistant("5")]},
        {"prompt": [assistant("no user")], "chosen": [assistant("4")], "rejected": [assistant("5")]},
        {"prompt": [user("q")], "chosen": [assistant("4"), assistant("and more")], "rejected": [assistant("5")]},
        {"prompt": [{"role": "robot", "content": "q"}], "chosen": [assistant("4")], "rejected": [assistant("5")]},
        {"chosen": "not a dialogue", "rejected": "\n\nHuman: q\n\nAssistant: 5"},
        ["a", "list"],
        {"prompt": "q", "chosen": "good", "rejected": "bad"},
    ]
    evaluation = file_set(write_rows(tmp_path / "mixed.jsonl", rows))
    assert evaluation.read == {"pair": 2, "malformed": 8}
    assert evaluation.records == (
        CANONICAL,
        {"prompt": [user("q")], "chosen": [assistant("good")], "rejected": [assistant("bad")]},
    )
    assert evaluation.notes == ("8 malformed row(s) left out",)


def test_a_file_without_a_single_pair_is_an_error(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "broken.jsonl", [{"chosen": "x", "rejected": "y"}, {"chosen": 1, "rejected": 2}])
    with pytest.raises(EvalSetError, match=r"broken.jsonl: no chosen/rejected pair in the file \(2 malformed rows\)"):
        file_set(path)


def test_a_file_of_other_columns_is_refused_naming_the_columns_it_has(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a", "score": 3}])
    with pytest.raises(EvalSetError, match=r"neither a chosen/rejected file .* it has answer, question, score$"):
        file_set(path)


def test_a_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EvalSetError, match="no such file, and not a known set"):
        file_set(tmp_path / "missing.jsonl")


def test_a_file_that_is_not_json_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(CANONICAL) + "\n{not json\n")
    with pytest.raises(EvalSetError, match=r"pairs.jsonl:2: not JSON"):
        file_set(path)


def conversation(prompt: str, answer: str) -> list[dict[str, str]]:
    return [user(prompt), assistant(answer)]


def battle(
    a: str, b: str, winner: str, conversation_a: list[dict[str, str]], conversation_b: list[dict[str, str]]
) -> dict[str, Any]:
    """A row of the arena's export (store.export), which follows Chatbot Arena's clean-battle releases."""
    return {
        "model_a": a,
        "model_b": b,
        "winner": winner,
        "judge": "human",
        "source": "human",
        "turn": 1,
        "anony": True,
        "conversation_a": conversation_a,
        "conversation_b": conversation_b,
    }


def test_a_clean_battle_file_becomes_pairs_of_the_winners_last_answer(tmp_path: Path) -> None:
    rows = [
        battle("alpha", "beta", "model_a", conversation("Say hi.", "Hello!"), conversation("Say hi.", "yo")),
        battle(
            "alpha",
            "beta",
            "model_b",
            [user("Q1"), assistant("a1"), user("Q2"), assistant("a2")],
            [user("Q1"), assistant("b1"), user("Q2"), assistant("b2")],
        ),
        battle("alpha", "beta", "tie", conversation("Tie?", "t1"), conversation("Tie?", "t2")),
        battle("alpha", "beta", "tie (bothbad)", conversation("Bad?", "x1"), conversation("Bad?", "x2")),
    ]
    evaluation = file_set(write_rows(tmp_path / "battles.jsonl", rows))
    assert evaluation.name == "battles.jsonl"
    assert [
        (r["prompt"], r["chosen"], r["rejected"], r["chosen_model"], r["rejected_model"]) for r in evaluation.records
    ] == [
        ([user("Say hi.")], [assistant("Hello!")], [assistant("yo")], "alpha", "beta"),
        # the winner's own history is the prompt (training.data), its last answer the chosen one
        ([user("Q1"), assistant("b1"), user("Q2")], [assistant("b2")], [assistant("a2")], "beta", "alpha"),
    ]
    assert evaluation.read == {"pair": 2, "tie": 1, "both_bad": 1}  # ties carry no preference: never a pair
    assert set(evaluation.labels) == {"source", "category"}
    assert evaluation.labels["source"] == ("human", "human")


def test_the_rating_baseline_of_a_file_never_rates_a_pair_with_its_own_vote(tmp_path: Path) -> None:
    """Cross-fitted ratings: each pair is judged by ratings fitted on the other prompts' folds. Models met on one
    prompt only (so in one fold) have no rating for it: NaN, where a fit on every vote would name the winner."""
    rows = [
        battle("solo-x", "solo-y", "model_a", conversation("Only here.", "good"), conversation("Only here.", "bad")),
        battle("solo-x", "solo-y", "model_a", conversation("Only here.", "fine"), conversation("Only here.", "worse")),
    ]
    prompts = [f"Question number {i}?" for i in range(12)]
    rows += [battle("strong", "weak", "model_a", conversation(p, "right"), conversation(p, "wrong")) for p in prompts]
    rows.append(battle("strong", "weak", "tie", conversation("A tie.", "t1"), conversation("A tie.", "t2")))
    evaluation = file_set(write_rows(tmp_path / "battles.jsonl", rows))
    assert evaluation.rating_outcomes is not None
    assert len(evaluation.records) == len(evaluation.rating_outcomes) == 14  # the tie is not a pair
    solo, strong = evaluation.rating_outcomes[:2], evaluation.rating_outcomes[2:]
    assert [r["chosen_model"] for r in evaluation.records[:2]] == ["solo-x", "solo-x"]
    assert np.isnan(solo).all()
    # "strong" beat "weak" on every other prompt: wherever it is rated, the higher-rated model is the chosen one.
    assert set(strong[~np.isnan(strong)].tolist()) == {1.0}
    assert (~np.isnan(strong)).sum() >= 6


def test_a_clean_battle_file_whose_conversations_are_missing_counts_them(tmp_path: Path) -> None:
    rows = [
        battle("alpha", "beta", "model_a", conversation("Say hi.", "Hello!"), conversation("Say hi.", "yo")),
        battle("alpha", "beta", "model_a", [user("no answer")], conversation("q", "b")),
    ]
    evaluation = file_set(write_rows(tmp_path / "battles.json", rows))
    assert len(evaluation.records) == 1
    assert evaluation.read == {"pair": 1, "missing_text": 1}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_the_arenas_own_export_gives_back_the_pairs_of_its_votes(storage: Store, tmp_path: Path, fmt: str) -> None:
    from store.export import build_export, write_export
    from training.data import from_battles_frame, to_trl_records

    voted_battle(storage, "model_a", prompt="Write a poem.", answer_a="roses", answer_b="meh")
    voted_battle(storage, "model_b", model_a="gamma", prompt="What is 2+2?", answer_a="5", answer_b="4")
    voted_battle(storage, "tie", prompt="Hi", answer_a="hello", answer_b="hey")
    multi_turn = storage.battles.create(
        mode="anonymous", model_a="alpha", model_b="beta", swapped=False, params_a={}, params_b={}, session_id="s",
        voter_id="v",
    )  # fmt: skip
    storage.battles.add_turn(multi_turn.id, NewTurn(user_message="Q1", answer_a="a1", answer_b="b1"))
    storage.battles.add_turn(multi_turn.id, NewTurn(user_message="Q2", answer_a="a2", answer_b="b2"))
    storage.battles.record_vote(battle_id=multi_turn.id, turn=2, winner="model_b", voter_id="v")
    frame = storage.votes.read(conversations=True)
    path = write_export(build_export(frame, source="human", include_flagged=False, descriptions={}), tmp_path, fmt=fmt)

    evaluation = file_set(path)
    assert list(evaluation.records) == to_trl_records(from_battles_frame(frame, eval_fraction=0.0).train)
    assert [r["chosen"][0]["content"] for r in evaluation.records] == ["roses", "4", "b2"]
    assert evaluation.records[2]["prompt"] == [user("Q1"), assistant("b1"), user("Q2")]
    assert evaluation.read == {"pair": 3, "tie": 1}
    assert evaluation.labels["category"] == tuple(classify_prompt(p) for p in ("Write a poem.", "What is 2+2?", "Q1"))


def test_llmfao_crowd_votes_are_pairs_by_category_with_a_rating_baseline() -> None:
    folder = require_llmfao()
    evaluation = llmfao_set(folder)
    n = len(evaluation.records)
    assert n > 500
    assert set(evaluation.labels) == {"category"}
    assert len(evaluation.labels["category"]) == n
    categories = Counter(evaluation.labels["category"])
    assert len(categories) > 5 and "unclassified" not in categories
    for record in evaluation.records[:50]:
        assert [m["role"] for m in record["prompt"]] == ["user"]
        assert record["chosen"][0]["content"] != record["rejected"][0]["content"]
        assert record["chosen_model"] != record["rejected_model"]
    outcomes = evaluation.rating_outcomes
    assert outcomes is not None and len(outcomes) == n
    rated = outcomes[~np.isnan(outcomes)]
    assert len(rated) > n // 2
    assert set(rated.tolist()) <= {0.0, 0.5, 1.0}
    assert evaluation.read["pair"] > 0 and evaluation.read["tie"] > 0


# --- the arena's held-out votes -------------------------------------------------------------------------------

EVAL_FRACTION, SEED = 0.5, 0


def prompts_split(count: int) -> tuple[list[str], list[str]]:
    """`count` prompts on each side of the split training.data draws (held out, trained on)."""
    held_out: list[str] = []
    trained: list[str] = []
    topics = [
        "Write a poem about {}.",
        "What is {} times 7?",
        "Write a python function named f{}.",
        "Tell me about {}.",
    ]
    i = 0
    while len(held_out) < count or len(trained) < count:
        prompt = topics[i % len(topics)].format(i)
        side = held_out if first_message_in_eval(prompt, EVAL_FRACTION, SEED) else trained
        if len(side) < count:
            side.append(prompt)
        i += 1
    return held_out, trained


def test_the_arena_set_is_the_held_out_split_of_every_source_with_source_and_category_subsets(storage: Store) -> None:
    held_out, trained = prompts_split(5)
    newcomer = held_out.pop()  # gamma and delta meet only on a held-out prompt: no training-split rating
    for prompt in held_out + trained:
        # People prefer beta; the judge prefers alpha: a rating fitted on both sources would call it even.
        human = voted_battle(
            storage, "model_b", prompt=prompt, answer_a=f"alpha on {prompt}", answer_b=f"beta on {prompt}"
        )
        storage.battles.record_vote(battle_id=human, turn=1, winner="model_a", voter_id="j", source="judge:gpt")
    voted_battle(storage, "model_a", model_a="gamma", model_b="delta", prompt=newcomer, answer_a="g", answer_b="d")

    evaluation = arena_set(storage.votes.read(conversations=True), eval_fraction=EVAL_FRACTION, seed=SEED)
    assert evaluation.name == "arena"
    first_users = [r["prompt"][0]["content"] for r in evaluation.records]
    assert sorted(first_users) == sorted([*held_out, *held_out, newcomer])  # each held-out prompt once per source
    assert not set(first_users) & set(trained)
    sources = evaluation.labels["source"]
    assert Counter(sources) == {"human": 5, "judge:gpt": 4}
    chosen = {
        (s, r["prompt"][0]["content"]): r["chosen_model"] for s, r in zip(sources, evaluation.records, strict=True)
    }
    assert {chosen["human", p] for p in held_out} == {"beta"}
    assert {chosen["judge:gpt", p] for p in held_out} == {"alpha"}
    assert list(evaluation.labels["category"]) == [classify_prompt(p) for p in first_users]
    # Ratings per source, from its training split: the preferred model is the higher-rated one for both sources,
    # and the models never seen in training are not rated.
    outcomes = dict(zip(zip(sources, first_users, strict=True), evaluation.rating_outcomes, strict=True))
    assert np.isnan(outcomes["human", newcomer])
    assert {v for k, v in outcomes.items() if k != ("human", newcomer)} == {1.0}
    assert evaluation.read["pair"] == 2 * (len(held_out) + len(trained)) + 1  # every decisive vote, read


def test_an_arena_without_held_out_votes_is_an_error(storage: Store) -> None:
    with pytest.raises(EvalSetError, match="the database has no helpfulness votes yet"):
        arena_set(storage.votes.read(conversations=True), eval_fraction=EVAL_FRACTION, seed=SEED)
    _, trained = prompts_split(2)
    for prompt in trained:
        voted_battle(storage, "model_a", prompt=prompt)
    with pytest.raises(EvalSetError, match="no held-out decisive votes"):
        arena_set(storage.votes.read(conversations=True), eval_fraction=EVAL_FRACTION, seed=SEED)


# =====================================================================================================
# The command, on an untrained reward model (embedded SmolLM2-135M with a fresh LoRA adapter and score head)
# =====================================================================================================

SHORT_PAIRS = [
    {
        "prompt": [user(f"What is {i} plus {i}?")],
        "chosen": [assistant(f"{i} plus {i} is {2 * i}.")],
        "rejected": [assistant("No idea.")],
    }
    for i in range(8)
]


@pytest.fixture(scope="module")
def reward_run(converted_model: ConvertedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder as `python -m training.reward` leaves it, without training: adapter, score head, tokenizer and
    report.json (its recipe and max_length)."""
    import torch
    from peft import get_peft_model

    from training.recipes import load_recipe
    from training.reward import load_base_classifier, load_tokenizer, lora_config

    out = tmp_path_factory.mktemp("reward-run")
    tokenizer = load_tokenizer(converted_model.folder)
    torch.manual_seed(0)
    base = load_base_classifier(converted_model.folder, tokenizer, "cpu")
    model = get_peft_model(base, lora_config(load_recipe("cpu-smoke").require_reward_model()))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "report.json").write_text(json.dumps({"recipe": "cpu-smoke", "data": {"max_length": 512}}))
    return out


def evaluate(*argv: str | Path) -> tuple[int, list[str]]:
    from training.evaluate import main

    messages: list[str] = []
    code = main(["reward-model", *map(str, argv), "--device", "cpu", "--bootstrap", "200"], echo=messages.append)
    return code, messages


def arena_database(folder: Path) -> str:
    """An arena database as the app leaves it (created and migrated): results are stored only into one."""
    url = f"sqlite:///{folder / 'arena.db'}"
    Store.open(url).dispose()
    return url


def stored(url: str) -> list[Any]:
    store = Store.open(url)
    try:
        return store.reward_evaluations.latest()
    finally:
        store.dispose()


def test_a_run_folder_is_scored_on_a_file_and_hh_rlhf_and_the_results_are_written_and_stored(
    reward_run: Path, tmp_path: Path, db_url: str
) -> None:
    from leaderboard.reward_board import reward_model_table

    Store.open(db_url).dispose()  # the arena's database, as the app leaves it
    pairs = write_rows(tmp_path / "pairs.jsonl", SHORT_PAIRS)
    out = tmp_path / "results" / "rm.json"
    code, messages = evaluate(
        reward_run, "--set", pairs, "--set", "hh-rlhf-harmless", "--limit", "6", "--db", db_url, "--out", out
    )
    assert code == 0, messages
    assert messages[0].startswith(f"{reward_run}: score ")
    assert messages[-1] == "stored 2 result(s): the reward-model leaderboard shows them"

    (result,) = json.loads(out.read_text())["results"]
    assert (result["model"], result["kind"], result["max_length"]) == (str(reward_run), "run", 512)
    sets = {s["set"]: s for s in result["sets"]}
    assert list(sets) == ["pairs.jsonl", "hh-rlhf-harmless"]
    for figures in sets.values():
        assert {"accuracy", "low", "high", "pairs", "subsets", "baselines", "evidence", "over_context"} <= set(figures)
        assert figures["pairs"] + figures["over_context"] == 6  # --limit 6 of each set
        assert figures["low"] <= figures["accuracy"] <= figures["high"]
        assert figures["accuracy"] == pytest.approx(np.mean(figures["outcomes"]))
        assert RANDOM in [b["name"] for b in figures["baselines"]]
        assert figures["evidence"]["enough"] is False  # 6 pairs are never evidence
    assert sets["pairs.jsonl"]["read"] == {"pair": 8, "malformed": 0}
    assert sets["hh-rlhf-harmless"]["subsets"][0] | {"accuracy": None, "low": None, "high": None} == {
        "breakdown": "subset", "subset": "harmless-base", "pairs": sets["hh-rlhf-harmless"]["pairs"],
        "accuracy": None, "low": None, "high": None, "level": 0.95,
    }  # fmt: skip
    overall_score = result["overall"]
    assert overall_score["sets"] == 2
    assert overall_score["score"] == pytest.approx(np.mean([s["accuracy"] for s in sets.values()]))
    assert overall_score["low"] <= overall_score["score"] <= overall_score["high"]

    rows = stored(db_url)
    assert {(r.reward_model, r.eval_set) for r in rows} == {(str(reward_run), name) for name in sets}
    for row in rows:
        figures = sets[row.eval_set]
        assert (row.accuracy, row.low, row.high, row.pairs) == (
            figures["accuracy"],
            figures["low"],
            figures["high"],
            figures["pairs"],
        )
        assert row.fingerprint == figures["fingerprint"]
        assert row.report["baselines"] == figures["baselines"]
        assert "outcomes" not in row.report
    board = reward_model_table([asdict(row) for row in rows])
    assert board.columns == ("Reward model", "Score", "hh-rlhf-harmless", "pairs.jsonl")
    assert board.rows[0][:2] == (str(reward_run), f"{overall_score['score']:.3f}")


def test_pairs_longer_than_the_context_are_counted_and_left_out_never_truncated(
    reward_run: Path, tmp_path: Path
) -> None:
    long = {
        "prompt": [user("Tell me a long story.")],
        "chosen": [assistant("Once " * 300)],
        "rejected": [assistant("No.")],
    }
    pairs = write_rows(tmp_path / "pairs.jsonl", [*SHORT_PAIRS[:4], long])
    out = tmp_path / "out.json"
    code, messages = evaluate(reward_run, "--set", pairs, "--max-length", "128", "--no-store", "--out", out)
    assert code == 0, messages
    (figures,) = json.loads(out.read_text())["results"][0]["sets"]
    assert (figures["pairs"], figures["over_context"]) == (4, 1)
    assert "1 over the context left out" in messages[1]


def test_a_set_with_every_pair_too_long_stores_nothing(reward_run: Path, tmp_path: Path) -> None:
    url = arena_database(tmp_path)
    pairs = write_rows(tmp_path / "pairs.jsonl", SHORT_PAIRS)
    code, messages = evaluate(
        reward_run, "--set", "hh-rlhf-harmless", "--set", pairs, "--limit", "3", "--max-length", "8", "--db", url
    )
    assert code == 2
    assert messages == [
        f"error: hh-rlhf-harmless: every one of its 3 pairs is longer than {reward_run}'s context (8 tokens); "
        "give --max-length if the model reads more"
    ]
    assert stored(url) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "no-such-set"], "error: unknown evaluation set 'no-such-set': not one of arena, arena-harmlessness"),
        (["--set", "{tmp}/missing.jsonl"], "error: unknown evaluation set '{tmp}/missing.jsonl'"),
        (["--set", "{tmp}/empty.jsonl"], "error: {tmp}/empty.jsonl: neither a chosen/rejected file"),
        (["--set", "{tmp}/pairs.jsonl", "--limit", "0"], "error: --limit must be at least 1, got 0"),
        (["--set", "llmfao:{tmp}/nowhere"], "error: llmfao:{tmp}/nowhere: {tmp}/nowhere: not a folder"),
    ],
    ids=["unknown set name", "missing file", "empty file", "limit 0", "llmfao folder missing"],
)
def test_a_bad_set_or_option_exits_2_with_one_error_line_and_stores_nothing(
    reward_run: Path, tmp_path: Path, arguments: list[str], message: str
) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    write_rows(tmp_path / "pairs.jsonl", SHORT_PAIRS)
    url = arena_database(tmp_path)
    code, messages = evaluate(reward_run, *(a.format(tmp=tmp_path) for a in arguments), "--db", url)
    assert code == 2
    assert len(messages) == 1 and "\n" not in messages[0]
    assert messages[0].startswith(message.format(tmp=tmp_path))
    assert not (tmp_path / "arena.db").exists() or stored(url) == []


@pytest.mark.parametrize("which", ["causal language model", "missing folder", "file"])
def test_a_model_that_is_not_a_reward_model_exits_2_and_stores_nothing(
    converted_model: ConvertedModel, tmp_path: Path, which: str
) -> None:
    model = {
        "causal language model": converted_model.folder,  # no score head: refused, never scored
        "missing folder": tmp_path / "no-such-run",
        "file": write_rows(tmp_path / "model.jsonl", SHORT_PAIRS),
    }[which]
    expected = {
        "causal language model": f"error: {converted_model.folder}: has no score head (LlamaForCausalLM)",
        "missing folder": f"error: {tmp_path / 'no-such-run'}: no such folder, and not a hub id",
        "file": f"error: {model}: a file, not a model folder",
    }[which]
    url = arena_database(tmp_path)
    pairs = write_rows(tmp_path / "pairs.jsonl", SHORT_PAIRS)
    code, messages = evaluate(model, "--set", pairs, "--db", url)
    assert code == 2
    assert len(messages) == 1
    assert messages[0].startswith(expected)
    assert stored(url) == []


def test_the_same_command_twice_gives_the_same_figures(reward_run: Path, tmp_path: Path) -> None:
    pairs = write_rows(tmp_path / "pairs.jsonl", SHORT_PAIRS)
    results = []
    for run in ("first", "second"):
        out = tmp_path / f"{run}.json"
        argv = [reward_run, "--set", pairs, "--set", "hh-rlhf-harmless", "--limit", "2", "--no-store", "--out", out]
        assert evaluate(*argv)[0] == 0
        results.append(json.loads(out.read_text())["results"][0])
    first, second = results
    assert first["overall"] == second["overall"]
    figures = [
        [(s["set"], s["fingerprint"], s["accuracy"], s["low"], s["high"], s["outcomes"]) for s in r["sets"]]
        for r in results
    ]
    assert figures[0] == figures[1]  # the same pairs drawn by --limit, the same scores, the same intervals


def test_scores_do_not_depend_on_batch_order_or_padding(reward_run: Path) -> None:
    from training.reward_models import load_reward_model

    scorer = load_reward_model(str(reward_run), device="cpu").scorer
    conversations = [
        [user("Hi"), assistant("Hello!")],
        [user("Tell me a story about a dragon."), assistant("Once upon a time " + "a dragon flew far away. " * 6)],
        [user("2+2?"), assistant("4")],
        [user("Name three colours."), assistant("Red, green and blue.")],
        [{"role": "system", "content": "Be brief."}, user("Why is the sky blue?"), assistant("Rayleigh scattering.")],
        [user("Count to ten."), assistant("1 2 3 4 5 6 7 8 9 10")],
    ]
    encoded = [scorer.encode(c) for c in conversations]
    assert len({len(ids) for ids in encoded}) == len(encoded)  # every length differs: padding in every batch
    one_by_one = replace(scorer, batch_size=1).score_ids(encoded)
    batched = replace(scorer, batch_size=4).score_ids(encoded)
    reversed_batched = replace(scorer, batch_size=4).score_ids(encoded[::-1])[::-1]
    assert len(set(np.round(one_by_one, 4))) > 1  # the head is not constant: the comparison means something
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)
    np.testing.assert_allclose(reversed_batched, one_by_one, atol=1e-4)
    assert scorer.score_conversations(conversations) == pytest.approx(one_by_one, abs=1e-4)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # both backends: the tests of arena_set above
def test_the_arena_set_is_the_split_the_run_held_out_unless_another_recipe_is_named(
    reward_run: Path, storage: Store, db_url: str, tmp_path: Path
) -> None:
    from training.recipes import load_recipe

    prompts = [f"Tell me about the number {i}." for i in range(40)]
    for prompt in prompts:
        battle_id = voted_battle(storage, "model_a", prompt=prompt, answer_a=f"{prompt} It is nice.", answer_b="No.")
        storage.battles.record_vote(battle_id=battle_id, turn=1, winner="model_b", voter_id="j", source="judge:gpt")
    splits = {name: load_recipe(name).data for name in ("cpu-smoke", "gpu-default")}
    held_out = {
        name: [p for p in prompts if first_message_in_eval(p, data.eval_fraction, data.seed)]
        for name, data in splits.items()
    }
    assert 0 < len(held_out["gpu-default"]) < len(held_out["cpu-smoke"])  # the prompts tell the two splits apart

    # A run trained with gpu-default (its report.json says so; cpu-smoke is the default otherwise) is scored on
    # that recipe's held-out split, unless --recipe names another.
    run = tmp_path / "gpu-run"
    shutil.copytree(reward_run, run)
    (run / "report.json").write_text(json.dumps({"recipe": "gpu-default", "data": {"max_length": 512}}))
    for name, extra in (("gpu-default", []), ("cpu-smoke", ["--recipe", "cpu-smoke"])):
        out = tmp_path / f"{name}.json"
        code, messages = evaluate(run, "--set", "arena", "--db", db_url, "--no-store", "--out", out, *extra)
        assert code == 0, messages
        (figures,) = json.loads(out.read_text())["results"][0]["sets"]
        assert figures["set"] == "arena"
        assert figures["pairs"] == 2 * len(held_out[name])  # every source's held-out votes
        sources = {s["subset"]: s["pairs"] for s in figures["subsets"] if s["breakdown"] == "source"}
        assert sources == {"human": len(held_out[name]), "judge:gpt": len(held_out[name])}
    assert stored(db_url) == []  # --no-store


def test_an_explicit_arena_set_without_votes_is_an_error_but_a_default_one_is_skipped(
    reward_run: Path, tmp_path: Path
) -> None:
    url = arena_database(tmp_path)
    code, messages = evaluate(reward_run, "--set", "arena", "--db", url)
    assert (code, messages) == (2, ["error: arena: the database has no helpfulness votes yet"])
    out = tmp_path / "out.json"
    code, messages = evaluate(reward_run, "--db", url, "--limit", "2", "--out", out)  # default sets
    assert code == 0, messages
    assert [s["set"] for s in json.loads(out.read_text())["results"][0]["sets"]] == ["hh-rlhf-harmless"]
    assert [(r.eval_set, r.pairs) for r in stored(url)] == [("hh-rlhf-harmless", 2)]


def test_a_set_whose_pairs_share_one_prompt_is_scored_or_refused_never_a_crash(
    reward_run: Path, tmp_path: Path, db_url: str
) -> None:
    """One prompt gives no prompt-resampled interval (training.evidence): the accuracy still stands; the command
    must store it or refuse with one line, and never stop on a traceback with half a result."""
    same_prompt = [
        {"prompt": [user("What is 2+2?")], "chosen": [assistant(good)], "rejected": [assistant(bad)]}
        for good, bad in (("4", "5"), ("It is 4.", "It is 22."), ("Four.", "Five."))
    ]
    Store.open(db_url).dispose()  # the arena's database, as the app leaves it
    pairs = write_rows(tmp_path / "one-prompt.jsonl", same_prompt)
    out = tmp_path / "out.json"
    code, messages = evaluate(reward_run, "--set", pairs, "--db", db_url, "--out", out)
    assert code == 0, messages  # stored, with no interval: one prompt says nothing about the next
    if code == 2:
        assert len(messages) == 1 and messages[0].startswith("error: ")
        assert stored(db_url) == []
    else:
        assert code == 0, messages
        json.loads(out.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in the JSON written"))
        (row,) = stored(db_url)
        assert (row.eval_set, row.pairs) == ("one-prompt.jsonl", 3)


def test_a_mistyped_database_is_an_error_not_a_new_database(reward_run: Path, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    code, messages = evaluate(reward_run, "--set", "hh-rlhf-harmless", "--limit", "2", "--db", f"sqlite:///{missing}")
    assert code == 2 and messages[0].startswith(f"error: no database file at {missing}")
    assert not missing.exists()
