"""TruthfulQA multiple choice as a stored benchmark: one item per question, MC2 the score with MC1 beside it, matched
on the weights alone, resumed without scoring a question twice, and refused for models without log-probabilities."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import ConvertedModel

from evals import truthfulqa_mc
from evals.__main__ import main
from evals.runner import identity, run_benchmark
from evals.service import run_next_pending
from evals.truthfulqa_mc import TruthfulQAMC, question_order, summarize
from leaderboard.benchmark_columns import BY_BENCHMARK, benchmark_payload, cell, describe
from models.pool import BackendPool
from models.registry import DecodingConfig, ModelSpec
from store import BenchmarkItemView, Store

WEIGHTS = "embedded:smollm2-135m-instruct"


def local(name: str, **changes: Any) -> ModelSpec:
    return ModelSpec(name=name, weights=WEIGHTS, **changes)


@pytest.fixture
def scored(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The question indices each lm-eval call scored (the real call, watched)."""
    calls: list[list[int]] = []
    real = truthfulqa_mc.truthfulqa_mc_model

    def watched(model: Any, tokenizer: Any, *, indices: list[int], **kwargs: Any) -> Any:
        calls.append(list(indices))
        return real(model, tokenizer, indices=indices, **kwargs)

    monkeypatch.setattr(truthfulqa_mc, "truthfulqa_mc_model", watched)
    return calls


def item(key: str, mc1: int | None, mc2: float | None) -> BenchmarkItemView:
    detail = {} if mc2 is None else {"mc1": mc1, "mc2": mc2}
    verdict = "error" if mc2 is None else truthfulqa_mc.SCORED
    return BenchmarkItemView(key, "", verdict, mc2, detail, datetime.now(UTC))


def test_questions_come_in_the_generation_modes_seeded_order_so_a_limit_samples_the_same_ones() -> None:
    from evals.truthfulqa_generation import questions

    order = question_order(817)
    assert sorted(order) == list(range(817)) and order[:5] != [0, 1, 2, 3, 4]
    keys = [item.key for item in TruthfulQAMC(lambda spec: None).items()]  # type: ignore[arg-type,return-value]
    assert keys == [item.key for item in questions()]


def test_the_score_is_mean_mc2_with_a_bootstrap_interval_and_mc1_beside_it() -> None:
    stored = [item("truthfulqa:1", 1, 0.9), item("truthfulqa:2", 0, 0.3), item("truthfulqa:3", 0, 0.6),
              item("truthfulqa:4", None, None)]  # fmt: skip
    summary = summarize(stored)
    assert (summary.n, summary.failures) == (3, 1)
    assert summary.score == pytest.approx(0.6)
    assert summary.low is not None and summary.high is not None
    assert 0.3 <= summary.low < 0.6 < summary.high <= 0.9
    assert summary.report["mc1"]["estimate"] == pytest.approx(1 / 3)
    assert summary.report["mc1"]["n"] == 3

    empty = summarize([item("truthfulqa:4", None, None)])
    assert (empty.n, empty.failures, empty.score) == (0, 1, None)


def test_the_leaderboard_shows_mc2_with_mc1_beside_it() -> None:
    column = BY_BENCHMARK["truthfulqa-mc"]
    run = {"model": "m", "benchmark": "truthfulqa-mc", "score": 0.47, "low": 0.41, "high": 0.53, "n": 817,
           "grader": "lm-eval 0.4.13 log-likelihood",
           "report": {"mc1": {"estimate": 0.255, "low": 0.2, "high": 0.3}}}  # fmt: skip
    figures = benchmark_payload([run])["rows"]["m"]["truthfulqa-mc"]
    assert cell(figures, column) == "47% (41%–53%) · n=817 · MC1 26%"
    assert column.label == "TruthfulQA MC2 (MC1)"


def test_a_run_is_matched_on_the_weights_not_on_decoding_or_system_prompt() -> None:
    benchmark = TruthfulQAMC(lambda spec: None)  # type: ignore[arg-type,return-value]
    base = local("m")
    hotter = local("m", generation=DecodingConfig(temperature=1.2), system_prompt="Be lively.")
    quantized = local("m", quantization="int8-dynamic")
    assert identity(hotter, benchmark, 817).model_fingerprint == identity(base, benchmark, 817).model_fingerprint
    assert identity(quantized, benchmark, 817).model_fingerprint != identity(base, benchmark, 817).model_fingerprint


def test_a_stored_run_keeps_each_question_and_resumes_without_scoring_one_twice(
    storage: Store, backend_pool: BackendPool, scored: list[list[int]]
) -> None:
    benchmark = TruthfulQAMC(backend_pool.get)
    greedy = local("greedy", generation=DecodingConfig(temperature=0.0))
    first = run_benchmark(storage.benchmark_runs, greedy, benchmark, limit=2, batch_size=2)
    assert first.items_done == 2 and first.n == 2 and first.failures == 0
    two = question_order(817)[:2]
    assert scored == [sorted(two)]

    stored = storage.benchmark_runs.items(first.id)
    assert sorted(i.item_key for i in stored) == sorted(f"truthfulqa:{q}" for q in two)
    for row in stored:
        assert row.score == row.detail["mc2"] and row.detail["mc1"] in (0, 1)
        assert len(row.detail["mc1_loglikelihoods"]) >= 2 and len(row.detail["mc2_loglikelihoods"]) >= 2
    assert first.score == pytest.approx(sum(r.score for r in stored) / 2)
    assert describe(first)["report"]["mc1"]["n"] == 2

    # A sibling with other decoding shares the weights: same process, nothing scored again, its own stored run.
    creative = local("creative", generation=DecodingConfig(temperature=0.9))
    sibling = run_benchmark(storage.benchmark_runs, creative, benchmark, limit=2)
    assert sibling.id != first.id and sibling.score == pytest.approx(first.score)
    assert len(scored) == 1

    # A new process (a new benchmark object) resuming to three questions scores only the third.
    resumed = run_benchmark(storage.benchmark_runs, greedy, TruthfulQAMC(backend_pool.get), limit=3)
    assert resumed.id == first.id and resumed.items_done == 3
    assert scored[1:] == [[question_order(817)[2]]]


def test_an_int8_contender_is_scored_as_the_arena_serves_it(storage: Store, backend_pool: BackendPool) -> None:
    # lm-eval re-ties the output head when it wraps a model; an int8-dynamic head cannot take that.
    quantized = local("int8", quantization="int8-dynamic")
    run = run_benchmark(storage.benchmark_runs, quantized, TruthfulQAMC(backend_pool.get), limit=1)
    assert run.n == 1 and run.score is not None and 0.0 <= run.score <= 1.0


def test_a_remote_model_is_refused_and_pointed_to_the_generation_mode(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["truthfulqa-mc", "gpt-4o-judge", "--db", db_url])
    _, err = capsys.readouterr()
    assert code == 2
    assert "log-probabilities" in err and "truthfulqa-gen" in err
    assert "Traceback" not in err


def test_the_scheduler_passes_over_remote_contenders_for_multiple_choice(storage: Store) -> None:
    remote = ModelSpec(
        name="remote", backend="openai", options={"base_url": "http://127.0.0.1:9/v1", "model": "m", "no_api_key": True}
    )
    storage.registry.sync([remote])

    def no_backend(spec: ModelSpec) -> Any:
        raise AssertionError(f"nothing should run for {spec.name}")

    assert run_next_pending(storage, no_backend, ["truthfulqa-mc"], judge=None, limit=5) is None


def test_the_cli_runs_local_contenders_and_prints_their_figures(
    db_url: str, converted_model: ConvertedModel, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARENA_MODEL_CACHE", str(converted_model.cache_dir))
    argv = ["truthfulqa-mc", "smollm2-135m-greedy", "smollm2-135m-concise", "--db", db_url, "--limit", "1"]
    code = main([*argv, "--format", "json"])
    out, _ = capsys.readouterr()
    assert code == 0
    runs = json.loads(out)
    assert [run["model"] for run in runs] == ["smollm2-135m-greedy", "smollm2-135m-concise"]
    assert runs[0]["score"] == runs[1]["score"] and runs[0]["n"] == 1
    assert runs[0]["grader"].startswith("lm-eval 0.4.13")
