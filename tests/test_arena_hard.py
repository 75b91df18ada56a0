"""Arena-Hard-Auto v0.1 (evals.arena_hard): a model answers the hard prompts, a judge compares each answer with the
shipped gpt-4-0314 answer in both orders, and the run stores every item and the pooled win rate with a bootstrap
interval over questions, raw and style-controlled.

The model and the judge are real OpenAI-protocol servers on 127.0.0.1 (tests/openai_server.py). The scripted model
writes which outcome the judge should give into its answer; the scripted judge finds the model's answer among the
two it is shown (as A or B) and writes the verdict label for that position, so every expected number is exact."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from typing import Any

import pytest

from evals.arena_hard import BASELINE_ANSWERS, QUESTIONS, ArenaHard, arena_hard_items, summarize
from evals.runner import run_benchmark
from facts.style import count_tokens
from models.pool import BackendPool
from models.registry import DecodingConfig, ModelSpec
from store import Store
from tests.openai_server import OpenAIServer, Status, streamed

CONTENDER, JUDGE = "contender", "judge"
MARK = "OUTCOME:"
A_OPEN, A_CLOSE = "### Assistant A's answer\n", "\n### End of assistant A's answer"
B_OPEN, B_CLOSE = "### Assistant B's answer\n", "\n### End of assistant B's answer"


def remote(name: str, server: OpenAIServer, **generation: Any) -> ModelSpec:
    options = {"base_url": server.base_url, "model": name, "no_api_key": True}
    return ModelSpec(name=name, backend="openai", options=options, generation=DecodingConfig(**generation))


def shown(user: str) -> tuple[str, str]:
    """The answers the judge was shown as A and as B."""
    a = user.split(A_OPEN, 1)[1].split(A_CLOSE, 1)[0]
    b = user.split(B_OPEN, 1)[1].split(B_CLOSE, 1)[0]
    return a, b


def label(outcome: str, model_side: str) -> str:
    """What the scripted judge writes for `outcome` (the model's view) when the model is shown as `model_side`."""
    other = "B" if model_side == "A" else "A"
    return {
        "strong_win": f"[[{model_side}>>{other}]]",
        "win": f"[[{model_side}>{other}]]",
        "tie": "[[A=B]]",
        "loss": f"[[{other}>{model_side}]]",
        "strong_loss": f"[[{other}>>{model_side}]]",
        "first_wins": "[[A>B]]",  # a judge that always prefers the first answer it reads
        "unreadable": "I cannot decide. [[A>B]] or maybe [[B>A]]",  # two different verdicts: no verdict
        "unreadable_first": "no verdict here" if model_side == "B" else f"[[{model_side}>>{other}]]",
    }[outcome]


def scripted(outcomes: dict[str, str]) -> Any:
    """The model answers prompt p with MARK + outcomes[p]; the judge reads where that answer is and decides."""

    def respond(body: dict[str, Any]) -> list[Any]:
        if body["model"] == CONTENDER:
            return streamed(f"{MARK}{outcomes[body['messages'][-1]['content']]}: my answer.")
        a, b = shown(body["messages"][1]["content"])
        model_side = "A" if a.startswith(MARK) else "B"
        outcome = (a if model_side == "A" else b)[len(MARK) :].split(":", 1)[0]
        return streamed("My own answer first. Then the comparison.\n\nVerdict: ", label(outcome, model_side))

    return respond


@pytest.fixture
def arena(storage: Store, openai_server: OpenAIServer) -> Store:
    storage.registry.sync([remote(CONTENDER, openai_server), remote(JUDGE, openai_server, temperature=0.0)])
    return storage


def benchmark(store: Store, **options: Any) -> ArenaHard:
    return ArenaHard(BackendPool().get, store.registry.get(JUDGE), **{"style_rounds": 20, **options})


def judged(server: OpenAIServer) -> list[dict[str, Any]]:
    return [request.body for request in server.requests if request.body["model"] == JUDGE]


# The scripted mix: (outcome, how many questions). Per question, the model's points over battles (both games):
# strong_win 6/6, win 2/2, tie 1/2, loss 0/2, strong_loss 0/6, first_wins 0/1 + 1/1, unreadable_first 3/3 (game 1
# unreadable, game 2 strong), unreadable none (both games unreadable: a parse failure, not scored).
MIX = [("strong_win", 3), ("win", 2), ("tie", 2), ("loss", 1), ("strong_loss", 1), ("first_wins", 1)]
MIX += [("unreadable_first", 1), ("unreadable", 1)]
POINTS, BATTLES = 18 + 4 + 2 + 0 + 0 + 1 + 3, 18 + 4 + 4 + 2 + 6 + 2 + 3


def mix_outcomes(limit: int = 12) -> dict[str, str]:
    sequence = [outcome for outcome, count in MIX for _ in range(count)]
    assert len(sequence) == limit
    return {item.payload["prompt"]: outcome for item, outcome in zip(arena_hard_items()[:limit], sequence, strict=True)}


def test_the_questions_are_the_500_with_their_baseline_answers_one_per_cluster_first() -> None:
    items = arena_hard_items()
    assert len(items) == 500 and len({item.key for item in items}) == 500
    assert [item.key for item in arena_hard_items()] == [item.key for item in items], "the order never changes"
    assert len({item.payload["cluster"] for item in items[:250]}) == 250, "--limit 250 asks every topic once"
    baseline = {}
    for line in BASELINE_ANSWERS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        baseline[record["uid"]] = record["messages"][1]["content"]["answer"]
    assert all(item.payload["baseline"] == baseline[item.payload["uid"]] for item in items)
    assert all(item.key == f"arena-hard:{item.payload['uid']}" for item in items)
    assert QUESTIONS.is_file() and (BASELINE_ANSWERS.parent.parent / "LICENSE").is_file()
    assert (BASELINE_ANSWERS.parent.parent / "README.md").is_file()


def test_each_question_is_judged_in_both_orders_and_the_win_rate_follows_arena_hards_weights(
    arena: Store, openai_server: OpenAIServer
) -> None:
    outcomes = mix_outcomes()
    openai_server.responder = scripted(outcomes)
    bench = benchmark(arena, judge_max_tokens=300)
    run = run_benchmark(arena.benchmark_runs, arena.registry.get(CONTENDER), bench, limit=12, batch_size=5)

    assert run.benchmark == "arena-hard" and run.grader == "judge:judge:huggy-pairwise-5level-v1"
    assert run.version == "arena-hard-v0.1:baseline-gpt-4-0314:huggy-pairwise-5level-v1"
    assert (run.items_done, run.items_total, run.n, run.failures) == (12, 500, 11, 1)
    assert run.score == pytest.approx(POINTS / BATTLES)
    report = run.report
    assert report["verdicts"] == {"win": 6, "tie": 3, "loss": 2, "parse_failure": 1}
    assert report["items_on_one_game"] == 1
    assert report["games"]["outcomes"] == {
        "model>>baseline": 7, "model>baseline": 5, "tie": 4, "baseline>model": 3, "baseline>>model": 2
    }  # fmt: skip
    assert (report["games"]["read"], report["games"]["unreadable"], report["games"]["failed"]) == (21, 3, 0)
    assert report["win_rate"]["battles"] == BATTLES
    assert "shorter than the baseline's on every question" in report["style_controlled"]["note"], "extrapolated"

    # Both orders per question, the shipped baseline answer and the model's answer swapped between them.
    items = {item.payload["prompt"]: item for item in arena_hard_items()[:12]}
    asked = judged(openai_server)
    assert len(asked) == 24 and all(body["temperature"] == 0.0 and body["max_tokens"] == 300 for body in asked)
    per_question: dict[str, list[tuple[str, str]]] = {}
    for body in asked:
        question = body["messages"][1]["content"].split("### User\n", 1)[1].split("\n\n### Assistant A", 1)[0]
        per_question.setdefault(question, []).append(shown(body["messages"][1]["content"]))
    assert set(per_question) == set(items)
    for question, games in per_question.items():
        answer = f"{MARK}{outcomes[question]}: my answer."
        assert sorted(games) == sorted(
            [(items[question].payload["baseline"], answer), (answer, items[question].payload["baseline"])]
        )
    contender = [r.body for r in openai_server.requests if r.body["model"] == CONTENDER]
    assert len(contender) == 12 and all(body["max_tokens"] == 256 for body in contender), "the model's own cap"

    # Every item stored with its two games, the labels as written and the style of both answers.
    stored = {item.item_key: item for item in arena.benchmark_runs.items(run.id)}
    for prompt, outcome in outcomes.items():
        item = stored[items[prompt].key]
        games = {game["order"]: game for game in item.detail["games"]}
        expected = {"strong_win": 1.0, "win": 1.0, "tie": 0.5, "loss": 0.0, "strong_loss": 0.0, "first_wins": 0.5,
                    "unreadable_first": 1.0, "unreadable": None}[outcome]  # fmt: skip
        assert item.score == expected, outcome
        assert item.output == f"{MARK}{outcome}: my answer."
        assert item.detail["style"]["model"]["tokens"] == count_tokens(item.output)
        assert item.detail["style"]["baseline"]["tokens"] == count_tokens(items[prompt].payload["baseline"])
        if outcome == "strong_win":
            assert (games["baseline_first"]["label"], games["model_first"]["label"]) == ("B>>A", "A>>B")
        if outcome == "first_wins":
            assert games["baseline_first"]["outcome"] == "baseline>model"
            assert games["model_first"]["outcome"] == "model>baseline"
        if outcome.startswith("unreadable"):  # recorded as unreadable, with what the judge said; never guessed
            assert games["baseline_first"]["status"] == "unreadable" and games["baseline_first"]["label"] is None
            assert games["baseline_first"]["judge_output"].endswith(label(outcome, "B"))
        if outcome == "unreadable":
            assert item.verdict == "parse_failure" and games["model_first"]["status"] == "unreadable"
        if outcome == "unreadable_first":
            assert item.detail["games_read"] == 1 and (item.detail["points"], item.detail["battles"]) == (3.0, 3)


def test_the_bootstrap_interval_is_over_questions_deterministic_and_holds_the_estimate(
    arena: Store, openai_server: OpenAIServer
) -> None:
    openai_server.responder = scripted(mix_outcomes())
    bench = benchmark(arena)
    run = run_benchmark(arena.benchmark_runs, arena.registry.get(CONTENDER), bench, limit=12, batch_size=12)
    stored = arena.benchmark_runs.items(run.id)
    again, other_seed = bench.summarize(stored), summarize(stored, rounds=1000, style_rounds=0, seed=1)
    assert (again.score, again.low, again.high) == (run.score, run.low, run.high), "the same figures every time"
    assert run.low is not None and run.high is not None
    assert 0.3 < run.low < run.score < run.high < 1.0
    assert (other_seed.low, other_seed.high) != (run.low, run.high) and other_seed.score == run.score
    assert "over questions, 1000 rounds" in run.report["win_rate"]["interval"]
    # One question resampled alone gives its own share, never a share across the battles of other questions.
    single = next(item for item in stored if item.score == 0.5 and item.detail["battles"] == 2)
    one = summarize([single], rounds=50, style_rounds=0)
    assert (one.score, one.low, one.high) == (0.5, 0.5, 0.5)


def test_style_control_discounts_a_win_rate_that_comes_from_longer_answers(
    arena: Store, openai_server: OpenAIServer
) -> None:
    """The model's answers are mostly longer than the baseline's, and the judge prefers the longer answer (with
    some noise, fixed per question, so that length does not separate wins from losses): the raw win rate is high,
    the win rate at equal style about even."""
    items = arena_hard_items()[:60]
    factors = [0.6, 1.0, 1.4, 1.8, 2.5]  # the model's length relative to the baseline's, most of them longer
    words = {
        item.payload["prompt"]: round(factors[index % len(factors)] * count_tokens(item.payload["baseline"]))
        for index, item in enumerate(items)
    }

    def respond(body: dict[str, Any]) -> list[Any]:
        if body["model"] == CONTENDER:
            return streamed(" ".join(["word"] * words[body["messages"][-1]["content"]]))
        user = body["messages"][1]["content"]
        a, b = (count_tokens(text) for text in shown(user))
        difference = (a - b) / (a + b + 1)
        prefers_a = 1.0 / (1.0 + math.exp(-8.0 * difference))  # the longer answer is likelier to win
        draw = int(hashlib.sha256(user.split("### Assistant A")[0].encode()).hexdigest()[:8], 16) / 2**32
        if abs(prefers_a - 0.5) < 0.05 or abs(draw - prefers_a) < 0.1:
            return streamed("[[A=B]]")
        a_wins = draw < prefers_a
        strength = ">>" if abs(difference) > 0.25 and a_wins == (difference > 0) else ">"
        return streamed(f"[[A{strength}B]]" if a_wins else f"[[B{strength}A]]")

    openai_server.responder = respond
    bench = benchmark(arena, style_rounds=100)
    run = run_benchmark(arena.benchmark_runs, arena.registry.get(CONTENDER), bench, limit=60, batch_size=60)
    style = run.report["style_controlled"]
    assert run.score is not None and run.low is not None and run.score > 0.7
    assert style["estimate"] is not None and style["estimate"] < run.score - 0.15, style
    assert style["high"] < run.score and style["low"] <= style["estimate"] <= style["high"]
    assert 0.4 < style["estimate"] < 0.65, "at equal length this judge has little reason to prefer either"
    assert style["coefficients"]["len"] > 1.0, "longer answers win"
    assert "note" not in style, "the model is longer on some questions, shorter on others: no extrapolation"
    assert run.report["mean_tokens"]["model"] > run.report["mean_tokens"]["baseline"]


def test_a_few_questions_summarize_without_a_style_estimate_when_none_exists(
    arena: Store, openai_server: OpenAIServer
) -> None:
    openai_server.responder = scripted({item.payload["prompt"]: "strong_win" for item in arena_hard_items()[:3]})
    bench = benchmark(arena)
    run = run_benchmark(arena.benchmark_runs, arena.registry.get(CONTENDER), bench, limit=3)
    assert (run.score, run.low, run.high, run.n) == (1.0, 1.0, 1.0, 3)
    style = run.report["style_controlled"]
    assert style["estimate"] is None and "won every read game" in style["note"]

    outcomes = dict(zip([i.payload["prompt"] for i in arena_hard_items()[:3]], ["win", "tie", "loss"], strict=True))
    openai_server.responder = scripted(outcomes)
    run = run_benchmark(arena.benchmark_runs, arena.registry.get(CONTENDER), bench, limit=3, force=True)
    assert run.score == pytest.approx(0.5) and run.n == 3
    style = run.report["style_controlled"]  # three questions: the baseline's length alone tells the outcome
    assert style["estimate"] is None and "style features alone separate" in style["note"], style


def test_a_run_resumes_and_asks_nothing_twice(arena: Store, openai_server: OpenAIServer) -> None:
    openai_server.responder = scripted(mix_outcomes())
    bench, spec = benchmark(arena), arena.registry.get(CONTENDER)
    first = run_benchmark(arena.benchmark_runs, spec, bench, limit=5, batch_size=2)
    assert len(openai_server.requests) == 15, "one answer and two judgments per question"
    again = run_benchmark(arena.benchmark_runs, spec, bench, limit=5)
    assert again.id == first.id and len(openai_server.requests) == 15, "nothing stored is asked again"
    more = run_benchmark(arena.benchmark_runs, spec, bench, limit=12, batch_size=4)
    assert more.id == first.id and more.items_done == 12 and len(openai_server.requests) == 36
    assert more.score == pytest.approx(POINTS / BATTLES)


def test_failed_answers_and_failed_judge_calls_are_errors_without_a_score(
    arena: Store, openai_server: OpenAIServer
) -> None:
    openai_server.responder = scripted({item.payload["prompt"]: "win" for item in arena_hard_items()[:6]})
    openai_server.add([Status(400)], model=CONTENDER)  # not retried: one answer fails
    openai_server.add([Status(400)], model=JUDGE)  # one game of another question fails
    run = run_benchmark(arena.benchmark_runs, arena.registry.get(CONTENDER), benchmark(arena), limit=6, batch_size=6)
    assert (run.n, run.failures, run.score) == (4, 2, 1.0)
    assert run.report["verdicts"] == {"error": 2, "win": 4} and run.report["games"]["failed"] == 1
    errors = [item for item in arena.benchmark_runs.items(run.id) if item.verdict == "error"]
    assert sorted("judge failed" in item.detail["error"] for item in errors) == [False, True]
    assert all(item.score is None and "400" in item.detail["error"] for item in errors)
    assert len(judged(openai_server)) == 10, "a failed answer is not judged"
    assert Counter(item.verdict for item in arena.benchmark_runs.items(run.id)) == Counter(win=4, error=2)
