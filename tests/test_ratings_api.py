"""The entry point the CLI and the page share: which votes count, per-category boards, output shapes, walls."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from leaderboard.ratings import Leaderboard, compute_category_leaderboards, compute_leaderboard
from leaderboard.synthetic import simulate_battles

TRUE = {"a": 1200.0, "b": 1100.0, "c": 1000.0, "d": 900.0}


def mixed_sources() -> pd.DataFrame:
    human = simulate_battles(TRUE, 2000, seed=1).assign(source="human")
    # the judge sees the order upside down: pooling it with people would hide that
    judge = simulate_battles({m: 2100.0 - r for m, r in TRUE.items()}, 2000, seed=2).assign(source="judge:gpt-4")
    return pd.concat([human, judge], ignore_index=True)


def order(board: Leaderboard) -> list[str]:
    return [row.model for row in board.rows]


def test_sources_are_kept_apart_unless_pooled_on_purpose() -> None:
    battles = mixed_sources()
    assert order(compute_leaderboard(battles)) == ["a", "b", "c", "d"]
    assert order(compute_leaderboard(battles, source="judge:gpt-4")) == ["d", "c", "b", "a"]
    pooled = compute_leaderboard(battles, source=None)
    assert pooled.n_battles == 4000 and pooled.source is None
    assert compute_leaderboard(battles).n_battles == 2000


def test_flagged_and_named_votes_do_not_count() -> None:
    battles = simulate_battles(TRUE, 1000, seed=3)
    battles["excluded_reason"] = None
    battles.loc[:99, "excluded_reason"] = "identity"
    battles["anony"] = True
    battles.loc[100:149, "anony"] = False
    assert compute_leaderboard(battles).n_battles == 850


def test_per_category_boards_with_a_minimum_of_votes_per_model() -> None:
    coding = simulate_battles(TRUE, 600, seed=4).assign(category="coding")
    math_votes = simulate_battles({"a": 1000.0, "b": 1000.0}, 50, seed=5).assign(category="math")
    rare = pd.DataFrame({"model_a": ["a"] * 3, "model_b": ["newbie"] * 3, "winner": "model_a", "category": "math"})
    battles = pd.concat([coding, math_votes, rare], ignore_index=True)
    board = compute_leaderboard(battles, category="math", min_votes=10)
    assert {row.model for row in board.rows} == {"a", "b"} and board.n_battles == 50
    assert any("'newbie'" in w for w in board.warnings)
    assert all(row.votes >= 10 for row in board.rows)
    boards = compute_category_leaderboards(battles, min_votes=10)
    assert sorted(boards) == ["coding", "math"] and boards["coding"].n_battles == 600
    assert compute_leaderboard(battles, category="poetry").empty


def test_rows_frame_and_json_carry_what_the_page_shows() -> None:
    board = compute_leaderboard(simulate_battles(TRUE, 1500, seed=6, tie_share=0.2), style_control=True)
    frame = board.to_frame()
    for column in ("model", "rating", "lower", "upper", "rank_ub", "votes", "win_rate", "flags", "online_elo"):
        assert column in frame.columns
    assert list(frame["rating"]) == sorted(frame["rating"], reverse=True)
    assert frame["votes"].sum() == 2 * 1500
    document = json.loads(json.dumps(board.to_dict()))
    assert document["rows"][0]["model"] == "a" and document["ci"] == "sandwich"
    assert set(document["style_coefficients"]) == {"len", "header", "list", "bold"}
    none = compute_leaderboard(simulate_battles(TRUE, 300, seed=7), ci="none").to_dict()
    assert none["rows"][0]["lower"] is None and none["rows"][0]["rank_ub"] == 1


def test_the_rating_core_imports_no_ui_database_or_torch() -> None:
    code = (
        "import sys, leaderboard.ratings, leaderboard.synthetic;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'sqlalchemy', 'gradio', 'arena', 'scipy', 'sklearn'} or m in {'ui.leaderboard', 'store.votes'});"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_results_are_frozen() -> None:
    board = compute_leaderboard(simulate_battles(TRUE, 200, seed=8))
    with pytest.raises(AttributeError):
        board.rows = ()  # type: ignore[misc]
    with pytest.raises(ValueError):
        board.counts.wins[0] = 1.0
    assert np.isfinite([row.rating for row in board.rows]).all()
