"""Online Elo, K = 4, votes replayed in time order: a diagnostic beside the Bradley-Terry ratings.

    online_elo(battles, *, k=4.0, models=None) -> OnlineElo      battles: counted votes (schema columns)
    replay_elo(side_a, side_b, outcome, n_models, *, k=4.0) -> ratings

Each vote moves the two ratings by k * (score - expected score), a tie scoring half; ratings start at INITIAL
(1000) on the usual scale (400, base 10). Votes are replayed by tstamp, ties in tstamp kept in table order.
Unlike Bradley-Terry the result depends on that order and weighs recent votes more: a model whose
online Elo is far from its Bradley-Terry rating has changed over time, or met a changing field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leaderboard.outcomes import winner_sides
from leaderboard.scale import BASE, INITIAL, SCALE

K_FACTOR = 4.0
_CHUNK = 1 << 18  # votes replayed per batch of Python objects


@dataclass(frozen=True, eq=False)
class OnlineElo:
    models: tuple[str, ...]
    ratings: np.ndarray

    def as_dict(self) -> dict[str, float]:
        return {model: float(rating) for model, rating in zip(self.models, self.ratings, strict=True)}


def vote_scores(winner: pd.Series | np.ndarray) -> np.ndarray:
    """Score of model_a per vote: 1 for a win, 0.5 for either tie label, 0 for a loss."""
    return np.array([1.0, 0.0, 0.5])[winner_sides(winner)]


def replay_elo(
    side_a: np.ndarray, side_b: np.ndarray, outcome: np.ndarray, n_models: int, *, k: float = K_FACTOR
) -> np.ndarray:
    """Ratings after replaying the votes in the given order (side_*: model indices, outcome: score of a)."""
    ratings = [INITIAL] * n_models
    # plain Python floats: each vote depends on the previous one, and numpy scalars are slower here;
    # BASE ** (d / SCALE) as exp(d * ln(BASE) / SCALE), with local names: a third less time per vote
    per_point, exp = math.log(BASE) / SCALE, math.exp
    for start in range(0, len(outcome), _CHUNK):  # Python objects for a chunk of votes at a time, not all
        chunk = slice(start, start + _CHUNK)
        for a, b, score in zip(side_a[chunk].tolist(), side_b[chunk].tolist(), outcome[chunk].tolist(), strict=True):
            rating_a, rating_b = ratings[a], ratings[b]
            delta = k * (score - 1.0 / (1.0 + exp((rating_b - rating_a) * per_point)))
            ratings[a] = rating_a + delta
            ratings[b] = rating_b - delta
    return np.array(ratings)


def online_elo(battles: pd.DataFrame, *, k: float = K_FACTOR, models: tuple[str, ...] | None = None) -> OnlineElo:
    """Online Elo of every model in `battles` (or of `models`, which must include them all), by tstamp."""
    tstamp = battles["tstamp"].to_numpy()
    # The store's votes come in time order: no copy of them then.
    ordered = battles.iloc[np.argsort(tstamp, kind="stable")] if (tstamp[1:] < tstamp[:-1]).any() else battles
    names = models if models is not None else tuple(sorted(set(ordered["model_a"]) | set(ordered["model_b"])))
    categories = pd.CategoricalDtype(list(names))
    side_a = ordered["model_a"].astype(categories).cat.codes.to_numpy()
    side_b = ordered["model_b"].astype(categories).cat.codes.to_numpy()
    if (side_a < 0).any() or (side_b < 0).any():
        raise ValueError("online_elo: a battle names a model missing from `models`")
    return OnlineElo(tuple(names), replay_elo(side_a, side_b, vote_scores(ordered["winner"]), len(names), k=k))
