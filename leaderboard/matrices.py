"""Pairwise views of the votes: battle counts, observed win fractions, predicted win probabilities.

    pairwise_matrices(counts, ratings=None, parts=None) -> PairMatrices

All matrices are (models x models), rows and columns in counts.models order:
  battles[i, j]          votes between i and j (symmetric)
  win_fraction[i, j]     i's score share against j, a tie counting half: (wins + ties / 2) / votes; NaN if
                         they never met (FastChat's "fraction of model A wins" counts ties as half the same way)
  predicted[i, j]        P(i beats j) from the Elo ratings under Bradley-Terry; NaN on the diagonal and
                         between models of different parts (their ratings are not comparable)
  average_win_rate[i]    mean of win_fraction over the opponents i met, each opponent weighing the same
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leaderboard.outcomes import PairCounts
from leaderboard.scale import win_probability


@dataclass(frozen=True, eq=False)
class PairMatrices:
    models: tuple[str, ...]
    battles: np.ndarray
    win_fraction: np.ndarray
    predicted: np.ndarray
    average_win_rate: np.ndarray

    def frame(self, name: str) -> pd.DataFrame:
        """One matrix ("battles", "win_fraction" or "predicted") labelled by model."""
        return pd.DataFrame(getattr(self, name), index=list(self.models), columns=list(self.models))


def pairwise_matrices(
    counts: PairCounts, ratings: np.ndarray | None = None, parts: np.ndarray | None = None
) -> PairMatrices:
    n = counts.n_models
    battles = np.zeros((n, n))
    battles[counts.first, counts.second] = counts.totals
    battles[counts.second, counts.first] = counts.totals
    scored = np.zeros((n, n))
    scored[counts.first, counts.second] = counts.scores
    scored[counts.second, counts.first] = counts.totals - counts.scores
    with np.errstate(invalid="ignore", divide="ignore"):
        win_fraction = np.where(battles > 0, scored / battles, np.nan)
        met = (battles > 0).sum(axis=1)
        average = np.where(met > 0, np.nansum(win_fraction, axis=1) / np.maximum(met, 1), np.nan)
    predicted = np.full((n, n), np.nan)
    if ratings is not None:
        ratings = np.asarray(ratings, dtype=float)
        predicted = win_probability(ratings[:, None], ratings[None, :])
        same_part = np.ones((n, n), dtype=bool) if parts is None else parts[:, None] == parts[None, :]
        predicted = np.where(same_part & ~np.eye(n, dtype=bool), predicted, np.nan)
    return PairMatrices(counts.models, battles, win_fraction, predicted, average)
