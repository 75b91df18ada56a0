"""Synthetic battles from known true ratings: for tests, benchmarks and demos of the rating code.

    simulate_battles(ratings, n_battles, *, seed=0, tie_share=0.0, length_effect=0.0, verbosity=None) -> DataFrame

Pairs are drawn uniformly (ordered, two different models); the outcome follows Bradley-Terry on the Elo
scale, P(a beats b) = p = 1 / (1 + 10 ** ((r_b - r_a) / 400)), with ties that keep a tie worth half a win:
P(tie) = 2 * tie_share * min(p, 1 - p), P(a wins) = p - P(tie) / 2. So the expected score of a is exactly p
and the Bradley-Terry fit (a tie counting half) estimates the true ratings.

Style columns (schema.STYLE_COLUMNS) are always filled: answer lengths are log-normal around each model's
`verbosity` (default 300 tokens; log-sd 0.6), header/list/bold counts Poisson(2) independent of the outcome. With
length_effect = beta, the log-odds of a winning gain beta * (len_a - len_b) / (len_a + len_b + 1): a planted
length bias that style control should recover. tstamp is the row number (seconds).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from leaderboard.scale import BASE, SCALE

DEFAULT_LENGTH = 300.0
LENGTH_SPREAD = 0.6  # standard deviation of log answer length around the model's typical length


def simulate_battles(
    ratings: Mapping[str, float],
    n_battles: int,
    *,
    seed: int = 0,
    tie_share: float = 0.0,
    length_effect: float = 0.0,
    verbosity: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    if not 0.0 <= tie_share <= 1.0:
        raise ValueError("tie_share must be within [0, 1]")
    names = np.array(list(ratings), dtype=object)
    true = np.array([float(ratings[name]) for name in names])
    mean_length = np.array([float((verbosity or {}).get(name, DEFAULT_LENGTH)) for name in names])
    rng = np.random.default_rng(seed)
    n = len(names)
    side_a = rng.integers(0, n, n_battles)
    side_b = rng.integers(0, n - 1, n_battles)
    side_b += side_b >= side_a  # uniform over the other models
    # answers vary a lot in length around their model's habit (log-normal spread), as real answers do
    len_a = rng.poisson(mean_length[side_a] * rng.lognormal(0.0, LENGTH_SPREAD, n_battles))
    len_b = rng.poisson(mean_length[side_b] * rng.lognormal(0.0, LENGTH_SPREAD, n_battles))
    logit = (true[side_a] - true[side_b]) * np.log(BASE) / SCALE
    logit += length_effect * (len_a - len_b) / (len_a + len_b + 1.0)
    p = 1.0 / (1.0 + np.exp(-logit))
    tie = 2.0 * tie_share * np.minimum(p, 1.0 - p)
    draw = rng.random(n_battles)
    winner = np.where(draw < p - tie / 2, "model_a", np.where(draw < p + tie / 2, "tie", "model_b"))
    frame = pd.DataFrame(
        {
            "model_a": names[side_a].astype(str),
            "model_b": names[side_b].astype(str),
            "winner": winner,
            "tstamp": np.arange(n_battles, dtype=float),
            "len_a": len_a,
            "len_b": len_b,
        }
    )
    for feature in ("header", "list", "bold"):
        frame[f"{feature}_a"] = rng.poisson(2.0, n_battles)
        frame[f"{feature}_b"] = rng.poisson(2.0, n_battles)
    return frame
