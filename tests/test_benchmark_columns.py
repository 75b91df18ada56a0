"""Static-benchmark figures beside the arena ratings: each model's newest stored run (python -m evals) in the
leaderboard's snapshot, its table (a cell with the interval and n; missing shown as missing), its CSV and the CLI's
JSON; a new figure makes the snapshot stale without a new vote, and a page read never recomputes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from app import snapshot_services
from evals.over_refusal import summarize
from facts.vocabulary import HARMLESSNESS, MODEL_A
from leaderboard.__main__ import main as leaderboard_main
from leaderboard.benchmark_columns import BY_BENCHMARK, CSV_COLUMNS, MISSING, benchmark_payload, cell, csv_columns
from leaderboard.judge_audit import wilson
from models.pool import BackendPool
from settings import Settings
from store import NewBenchmarkItem, NewBenchmarkRun, Store
from tests.test_battles import make_service, run
from tests.test_red_team import ALICE
from ui.leaderboard import download_frame, render

COLUMN = "Over-refusal (benign)"


def store_run(storage: Store, model: str, refused: list[bool], *, grader: str = "phrases:v1") -> None:
    new = NewBenchmarkRun(model, "f" * 64, "over-refusal", "v1", grader, {}, 580)
    opened = storage.benchmark_runs.open(new)
    done = len(storage.benchmark_runs.done_keys(opened.id))
    items = [
        NewBenchmarkItem(f"k{done + i}", "answer", "refused" if r else "answered", float(r), {"source": "mt-bench"})
        for i, r in enumerate(refused)
    ]
    storage.benchmark_runs.record(opened.id, items, summarize)


def test_a_cell_says_the_figure_its_interval_and_n_and_missing_is_missing() -> None:
    column = BY_BENCHMARK["over-refusal"]
    figure = wilson(3, 40)
    shown = cell({"score": figure.value, "low": figure.low, "high": figure.high, "n": 40}, column)
    assert shown == f"8% ({figure.low:.0%}–{figure.high:.0%}) · n=40"
    assert cell(None, column) == cell({"score": None}, column) == MISSING


def test_arena_hard_shows_its_style_controlled_win_rate_beside_the_raw_one() -> None:
    report = {"style_controlled": {"estimate": 0.41, "low": 0.3, "high": 0.52, "note": ""}}
    run = {"model": "a", "benchmark": "arena-hard", "score": 0.62, "low": 0.55, "high": 0.7, "n": 50, "grader": "j",
           "report": report}  # fmt: skip
    figures = benchmark_payload([run])["rows"]["a"]
    assert cell(figures["arena-hard"], BY_BENCHMARK["arena-hard"]) == "62% (55%–70%) · n=50 · SC 41%"
    flat = csv_columns(figures)
    assert (flat["arena_hard"], flat["arena_hard_style_controlled"], flat["arena_hard_style_controlled_low"]) == (
        0.62,
        0.41,
        0.3,
    )
    assert flat["mt_bench"] is None and flat["over_refusal"] is None, "missing is missing, not zero"
    mt_bench = {"score": 6.25, "low": 5.5, "high": 7.0, "n": 80}
    assert cell(mt_bench, BY_BENCHMARK["mt-bench"]) == "6.2 (5.5–7.0) · n=80"


def test_the_payload_keeps_each_models_shown_benchmarks_and_names_every_grader() -> None:
    runs = [
        {"model": "a", "benchmark": "over-refusal", "score": 0.1, "low": 0.0, "high": 0.3, "n": 9, "grader": "g1"},
        {"model": "b", "benchmark": "over-refusal", "score": 0.2, "low": 0.1, "high": 0.4, "n": 9, "grader": "g2"},
        {"model": "a", "benchmark": "not-a-column", "score": 1.0, "grader": "g3"},
        {"model": "c", "benchmark": "over-refusal", "score": None, "grader": "g4"},
    ]
    payload = benchmark_payload(runs)
    assert set(payload["rows"]) == {"a", "b"} and set(payload["rows"]["a"]) == {"over-refusal"}
    assert payload["columns"][0]["graders"] == ["g1", "g2"], "a column mixing graders says so"
    json.dumps(payload)


def test_the_page_the_csv_and_the_command_show_the_newest_figures_and_a_new_one_refreshes_the_snapshot(
    storage: Store, backend_pool: BackendPool, db_url: str, tmp_path: Path
) -> None:
    service = make_service(storage, backend_pool)
    battle = run(service.send(ALICE, None, "Write a haiku about rain."))[-1].battle_id
    service.vote(ALICE, battle, MODEL_A)
    shown_battle = storage.battles.get(battle)
    model, other = shown_battle.model_a, shown_battle.model_b
    store_run(storage, model, [True, False, False, False])

    leaderboard, _ = snapshot_services(Settings(database_url=db_url, data_dir=tmp_path), storage)
    first = leaderboard.refresh()
    assert first is not None and first.payload["benchmarks"]["rows"][model]["over-refusal"]["n"] == 4
    header, table = render(first.payload, "human", "all", False)[:2]
    cells = dict(zip(table["Model"], table[COLUMN], strict=True))
    assert cells[model].startswith("25% (") and cells[model].endswith("· n=4") and cells[other] == MISSING
    assert "Over-refusal (benign):" in header and "phrases:v1" in header, "the page names the grader"
    assert render(first.payload, "human", "all", False, HARMLESSNESS)[1].empty, "no red-team votes: no table"

    # A new figure, no new vote: the snapshot is stale and the next refresh shows it; reads never recompute.
    assert not leaderboard.is_stale(first)
    store_run(storage, model, [True, True, True, True])
    assert leaderboard.is_stale(first)
    assert leaderboard.read() == first.payload, "a page read shows the stored snapshot as it is"
    second = leaderboard.refresh()
    assert second is not None and second.id != first.id
    assert second.payload["benchmarks"]["rows"][model]["over-refusal"]["score"] == pytest.approx(5 / 8)
    assert not leaderboard.is_stale(second)

    frame = download_frame(second.payload["views"]["human|all|plain"]["rows"], {}, None, second.payload["benchmarks"])
    assert set(CSV_COLUMNS) <= set(frame.columns)
    by_model = frame.set_index("model")
    assert by_model.loc[model, "over_refusal"] == pytest.approx(5 / 8) and by_model.loc[model, "over_refusal_n"] == 8
    assert pd.isna(by_model.loc[other, "over_refusal"])

    out = tmp_path / "board.json"
    assert leaderboard_main(["--db", db_url, "--ci", "none", "--out", str(out)]) == 0
    rows = {row["model"]: row for row in json.loads(out.read_text())}
    assert rows[model]["over_refusal"] == pytest.approx(5 / 8) and rows[model]["over_refusal_grader"] == "phrases:v1"
    assert rows[other]["over_refusal"] is None
    csv = tmp_path / "board.csv"
    assert leaderboard_main(["--db", db_url, "--ci", "none", "--out", str(csv)]) == 0
    assert set(CSV_COLUMNS) <= set(pd.read_csv(csv).columns)
