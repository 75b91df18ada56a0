"""Golden test on real votes: the LLMFAO crowd comparisons (8,931 human votes, 59 models; CC BY 4.0).

Two checks: an independent implementation (evalica's Bradley-Terry, a dev dependency) agrees within 0.01 Elo,
and tests/golden/llmfao_crowd_bt.json holds the expected ratings and intervals, so any change in the numbers
shows up in review. Regenerate the file on purpose with: UPDATE_GOLDEN=1 pytest tests/test_ratings_golden.py
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leaderboard.ratings import compute_leaderboard
from tests.shared_data import LLMFAO

CROWD = LLMFAO / "crowd-comparisons.csv"
GOLDEN = Path(__file__).parent / "golden" / "llmfao_crowd_bt.json"
TOLERANCE = 1e-6  # Elo; the sandwich is exact arithmetic, the bootstrap rounds converge to 2e-4 Elo
BOOTSTRAP_TOLERANCE = 1e-3

pytestmark = pytest.mark.skipif(not CROWD.exists(), reason=f"LLMFAO DATA NOT FOUND at {CROWD}")


def crowd_battles() -> pd.DataFrame:
    """Read the CSV directly: winner is left/right/tie, left/right name the models shown on each side."""
    raw = pd.read_csv(CROWD)
    return pd.DataFrame(
        {
            "model_a": raw["left"],
            "model_b": raw["right"],
            "winner": raw["winner"].map({"left": "model_a", "right": "model_b", "tie": "tie"}),
            "judge": raw["worker"].astype(str),
        }
    )


def current() -> dict[str, dict[str, float]]:
    battles = crowd_battles()
    sandwich = compute_leaderboard(battles, ci="sandwich")
    bootstrap = {row.model: row for row in compute_leaderboard(battles, ci="bootstrap", rounds=1000, seed=0).rows}
    return {
        row.model: {
            "rating": row.rating,
            "sandwich_lower": row.lower,
            "sandwich_upper": row.upper,
            "bootstrap_lower": bootstrap[row.model].lower,
            "bootstrap_upper": bootstrap[row.model].upper,
            "votes": row.votes,
        }
        for row in sandwich.rows
    }


def test_llmfao_crowd_ratings_agree_with_evalica_within_a_hundredth_of_a_point() -> None:
    evalica = pytest.importorskip("evalica")
    battles = crowd_battles()
    outcome = {"model_a": evalica.Winner.X, "model_b": evalica.Winner.Y, "tie": evalica.Winner.Draw}
    result = evalica.bradley_terry(
        battles["model_a"], battles["model_b"], battles["winner"].map(outcome), tolerance=1e-12, limit=100_000
    )
    theirs = 400.0 * np.log10(result.scores.astype(float))
    theirs = theirs - theirs.mean()
    ours = pd.Series({row.model: row.rating for row in compute_leaderboard(battles, ci="none").rows})
    ours = ours - ours.mean()
    assert len(ours) == 59
    assert (ours - theirs.reindex(ours.index)).abs().max() < 0.01


def test_llmfao_crowd_ratings_match_the_golden_file() -> None:
    numbers = current()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        document = {
            "data": "LLMFAO crowd-comparisons.csv (dustalov/llmfao 9e224e94, CC BY 4.0): 8,931 human votes",
            "method": "Bradley-Terry MLE, tie = half a win, scale 400, base 10, mean 1000; sandwich and "
            "bootstrap (1,000 rounds, seed 0) 95% intervals",
            "models": {m: {k: round(v, 6) for k, v in values.items()} for m, values in numbers.items()},
        }
        GOLDEN.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))["models"]
    assert sorted(numbers) == sorted(expected)
    for model, values in expected.items():
        for key, value in values.items():
            tolerance = BOOTSTRAP_TOLERANCE if key.startswith("bootstrap") else TOLERANCE
            assert math.isclose(numbers[model][key], value, abs_tol=tolerance), (model, key)
