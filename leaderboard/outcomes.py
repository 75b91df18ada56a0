"""Votes collapsed to counts per pair of models: all a Bradley-Terry fit needs, whatever the number of votes.

Bradley-Terry has no side effect, so a vote (model_a, model_b, outcome) and its mirror (model_b, model_a,
mirrored outcome) carry the same information: the unique (model_a, model_b, outcome) rows are merged further
into one row per unordered pair with three counts (wins of the first model, ties, wins of the second). Both
tie labels are ties. A million votes among 100 models become at most 4,950 rows.

    count_outcomes(battles) -> PairCounts     battles: the counted votes (schema.normalize_battles columns)
    PairCounts.subset(keep) -> PairCounts     the pairs among a subset of the models, re-indexed
    model_codes(battles) -> (side_a, side_b, names)   each vote's models as indices into the sorted names present
    winner_sides(winner) -> 0 (model_a won), 1 (model_b won), 2 (a tie, either label) per vote

The helpers work on the codes of categorical columns (the store's reader and normalize_battles give the model
columns one shared, sorted set of categories), so a million votes cost no string comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# bincount over all n^2 ordered keys is faster than sorting while the key space stays this small
_DENSE_KEYS = 20_000_000
_BLOCK = 1 << 20  # votes per block when counting


def _frozen(values: np.ndarray, dtype: type) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class PairCounts:
    """Vote counts per unordered pair; `first` < `second` index into `models` (sorted names)."""

    models: tuple[str, ...]
    first: np.ndarray
    second: np.ndarray
    wins: np.ndarray  # votes the first model won
    ties: np.ndarray
    losses: np.ndarray  # votes the second model won

    def __post_init__(self) -> None:
        for name, dtype in (("first", np.int64), ("second", np.int64)):
            object.__setattr__(self, name, _frozen(getattr(self, name), dtype))
        for name in ("wins", "ties", "losses"):
            object.__setattr__(self, name, _frozen(getattr(self, name), np.float64))

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_pairs(self) -> int:
        return len(self.first)

    @property
    def totals(self) -> np.ndarray:
        return self.wins + self.ties + self.losses

    @property
    def scores(self) -> np.ndarray:
        """The first model's score per pair: a win counts 1, a tie half."""
        return self.wins + 0.5 * self.ties

    @property
    def n_votes(self) -> int:
        return int(np.rint(self.totals.sum()))

    def per_model(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(wins, ties, losses) of every model over all its pairs."""
        n = self.n_models
        wins = np.bincount(self.first, self.wins, n) + np.bincount(self.second, self.losses, n)
        losses = np.bincount(self.first, self.losses, n) + np.bincount(self.second, self.wins, n)
        ties = np.bincount(self.first, self.ties, n) + np.bincount(self.second, self.ties, n)
        return wins, ties, losses

    def subset(self, keep: np.ndarray) -> PairCounts:
        """The pairs whose two models are both kept (keep: one bool per model), with models re-indexed."""
        keep = np.asarray(keep, dtype=bool)
        new_index = np.cumsum(keep) - 1
        rows = keep[self.first] & keep[self.second]
        return PairCounts(
            models=tuple(m for m, k in zip(self.models, keep, strict=True) if k),
            first=new_index[self.first[rows]],
            second=new_index[self.second[rows]],
            wins=self.wins[rows],
            ties=self.ties[rows],
            losses=self.losses[rows],
        )


def model_codes(battles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """model_a and model_b of every vote as int64 indices into `names`: the models present, sorted."""
    model_a, model_b = battles["model_a"], battles["model_b"]
    shared = (
        isinstance(model_a.dtype, pd.CategoricalDtype)
        and isinstance(model_b.dtype, pd.CategoricalDtype)
        and model_a.cat.categories.equals(model_b.cat.categories)
        and model_a.cat.categories.is_monotonic_increasing
    )
    if not shared:
        n_rows = len(battles)
        codes, names = pd.factorize(pd.concat([model_a, model_b], ignore_index=True), sort=True)
        return codes[:n_rows].astype(np.int64), codes[n_rows:].astype(np.int64), tuple(str(m) for m in names)
    side_a = model_a.cat.codes.to_numpy().astype(np.int64)
    side_b = model_b.cat.codes.to_numpy().astype(np.int64)
    categories = model_a.cat.categories
    present = np.zeros(len(categories), dtype=bool)
    present[side_a] = True
    present[side_b] = True
    index = np.cumsum(present) - 1  # sorted categories, so the models present stay sorted
    return index[side_a], index[side_b], tuple(str(m) for m in categories[present])


def winner_sides(winner: pd.Series | np.ndarray) -> np.ndarray:
    """Per vote: 0 when model_a won, 1 when model_b won, 2 for a tie (either label)."""

    def side(label: object) -> int:
        return 0 if label == "model_a" else 1 if label == "model_b" else 2

    if isinstance(winner, pd.Series) and isinstance(winner.dtype, pd.CategoricalDtype):
        lookup = np.array([side(label) for label in winner.cat.categories] + [2], dtype=np.int8)
        return lookup[winner.cat.codes.to_numpy()]
    labels = np.asarray(winner, dtype=object)
    return np.where(labels == "model_a", 0, np.where(labels == "model_b", 1, 2)).astype(np.int8)


def _outcome_keys(side_a: np.ndarray, side_b: np.ndarray, sides: np.ndarray, n: int) -> np.ndarray:
    """Per vote: 3 * (first * n + second) + outcome, first < second the pair's models, outcome 0 when the first
    won, 1 for a tie, 2 when the second won."""
    a_first = side_a < side_b
    first_won = np.where(a_first, sides == 0, sides == 1)
    second_won = np.where(a_first, sides == 1, sides == 0)
    outcome = np.where(first_won, 0, np.where(second_won, 2, 1))
    return (np.minimum(side_a, side_b) * n + np.maximum(side_a, side_b)) * 3 + outcome


def empty_counts() -> PairCounts:
    nothing = np.zeros(0)
    return PairCounts((), nothing, nothing, nothing, nothing, nothing)


def count_outcomes(battles: pd.DataFrame) -> PairCounts:
    """Collapse votes (model_a, model_b, winner; winner already checked) to counts per unordered pair."""
    if len(battles) == 0:
        return empty_counts()
    side_a, side_b, names = model_codes(battles)
    sides = winner_sides(battles["winner"])
    n = len(names)
    if n * n * 3 <= _DENSE_KEYS:
        # In blocks: the per-vote temporaries stay a block's size, whatever the number of votes.
        counts = np.zeros(n * n * 3, dtype=np.int64)
        for start in range(0, len(sides), _BLOCK):
            block = slice(start, start + _BLOCK)
            counts += np.bincount(_outcome_keys(side_a[block], side_b[block], sides[block], n), minlength=n * n * 3)
        counts = counts.reshape(n * n, 3)
        keys = np.flatnonzero(counts.any(axis=1))
        counts = counts[keys]
    else:
        outcome_keys = _outcome_keys(side_a, side_b, sides, n)
        keys, inverse = np.unique(outcome_keys // 3, return_inverse=True)
        counts = np.bincount(inverse * 3 + outcome_keys % 3, minlength=len(keys) * 3).reshape(len(keys), 3)
    return PairCounts(
        models=names,
        first=keys // n,
        second=keys % n,
        wins=counts[:, 0],
        ties=counts[:, 1],
        losses=counts[:, 2],
    )
