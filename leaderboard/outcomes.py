"""Votes collapsed to counts per pair of models: all a Bradley-Terry fit needs, whatever the number of votes.

Bradley-Terry has no side effect, so a vote (model_a, model_b, outcome) and its mirror (model_b, model_a,
mirrored outcome) carry the same information: the unique (model_a, model_b, outcome) rows are merged further
into one row per unordered pair with three counts (wins of the first model, ties, wins of the second). Both
tie labels are ties. A million votes among 100 models become at most 4,950 rows.

    count_outcomes(battles, weights=None, *, cells=False, by_battle=True) -> PairCounts
        battles: the counted votes (schema.normalize_battles columns); weights: one positive weight per vote
        (leaderboard.weights: inverse sampling propensity, source weights), None for plain counts
    battle_codes(battles) -> per vote a dense int code of its battle, or None when the frame names no battles
    PairCounts.subset(keep) -> PairCounts     the pairs among a subset of the models, re-indexed
    model_codes(battles) -> (side_a, side_b, names)   each vote's models as indices into the sorted names present
    winner_sides(winner) -> 0 (model_a won), 1 (model_b won), 2 (a tie, either label) per vote

Weighted counts: with `weights`, wins, ties and losses are the sums of the votes' weights per pair and outcome
(what the weighted likelihood needs), `wins_sq`, `ties_sq`, `losses_sq` the sums of their squares (the sandwich's
meat: B = sum w^2 (y - p)^2 x x^T), `plain` the unweighted counts (what a table shows: votes are votes), and, when
asked (`cells=True`, for the bootstrap), `cells`: the votes grouped by (pair, outcome, weight). Without weights
every one of these is the plain count itself and nothing else changes (the unweighted results stay bit-identical).

Votes of one battle: a person's votes on several turns of one conversation, a judge's verdicts in both orders (a
file may keep them as two rows), a person's and a judge's vote on the same answers all read the same two answers, so
they are not independent. When some battle holds more than one of the counted votes, `battles` (BattleSums) keeps
what the sandwich needs to treat each battle, not each vote, as the independent unit (intervals.py): per pair, the
sums over its battles of S^2, S*W and W^2, S a battle's weighted score of the first model and W its votes' weight.
When every battle holds one vote, `battles` is None and the intervals are exactly the per-vote ones. The battle
comes from the column battle_key (the store's integer stand-in for battle_id, facts.schema) or else battle_id; a
frame with neither counts every vote as its own battle. Asked for cells (the bootstrap), such counts also carry
`units` (BattleUnits): the battles grouped by the cells of their votes, so that the bootstrap resamples battles
rather than votes.

The helpers work on the codes of categorical columns (the store's reader and normalize_battles give the model
columns one shared, sorted set of categories), so a million votes cost no string comparison.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

# bincount over all n^2 ordered keys is faster than sorting while the key space stays this small
_DENSE_KEYS = 20_000_000
_BLOCK = 1 << 20  # votes per block when counting


def _frozen(values: np.ndarray, dtype: type) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


# The bootstrap groups weighted votes by (pair, outcome, weight). Up to this many distinct weights they are grouped
# exactly; beyond it (continuous propensities) by their weight rounded on a logarithmic grid of WEIGHT_STEP.
EXACT_WEIGHT_LEVELS = 4096
WEIGHT_STEP = 1e-3  # relative: weights within 0.05 % of each other share a cell
MAX_CELLS = 250_000  # more cells than this: no cells (a block of 125 rounds would hold 250 MB of draws)


@dataclass(frozen=True, eq=False)
class WeightCells:
    """Weighted votes grouped for resampling: each cell holds `count` votes of one pair and outcome with one weight.

    column: the cell's (outcome, pair) as outcome * n_pairs + pair, outcome 0 wins, 1 ties, 2 losses (the layout
    of the bootstrap's draws); weight: the votes' weight (rounded when `rounded`)."""

    column: np.ndarray
    weight: np.ndarray
    count: np.ndarray
    rounded: bool

    def __len__(self) -> int:
        return len(self.count)


@dataclass(frozen=True, eq=False)
class BattleSums:
    """Per pair, over its battles b: sums of S_b^2, S_b * W_b and W_b^2, where S_b is the sum of weight * score of
    the pair's first model (1 win, 1/2 tie, 0 loss) over the battle's votes and W_b the sum of their weights. The
    battle's score residual at win probability p is S_b - p W_b, so the sandwich's meat per pair is
    score_sq - 2 p score_weight + p^2 weight_sq."""

    score_sq: np.ndarray
    score_weight: np.ndarray
    weight_sq: np.ndarray
    n_battles: int  # battles with counted votes
    shared: int  # battles holding more than one counted vote

    def rows(self, rows: np.ndarray) -> BattleSums:
        """The sums of the pairs `rows` (the battle figures stay those of the whole counts)."""
        return BattleSums(self.score_sq[rows], self.score_weight[rows], self.weight_sq[rows], self.n_battles,
                          self.shared)  # fmt: skip


@dataclass(frozen=True, eq=False)
class BattleUnits:
    """Battles grouped for the bootstrap, which resamples battles when some hold several votes: the battles of one
    unit have votes in the same (pair, outcome, weight) cells, so they are interchangeable. Unit u holds count[u]
    battles; entry e is one vote of unit `unit[e]`, in column `column[e]` (outcome * n_pairs + pair, as
    WeightCells) with weight `weight[e]` (1 when unweighted; rounded as WeightCells' when `rounded`)."""

    count: np.ndarray
    unit: np.ndarray
    column: np.ndarray
    weight: np.ndarray
    rounded: bool

    def __len__(self) -> int:
        return len(self.count)


@dataclass(frozen=True, eq=False)
class PairCounts:
    """Vote counts per unordered pair; `first` < `second` index into `models` (sorted names). Weighted counts also
    carry the sums of squared weights, the plain counts and, when asked, the bootstrap's cells (module docstring)."""

    models: tuple[str, ...]
    first: np.ndarray
    second: np.ndarray
    wins: np.ndarray  # votes the first model won (the sum of their weights, when weighted)
    ties: np.ndarray
    losses: np.ndarray  # votes the second model won
    wins_sq: np.ndarray | None = None  # sums of squared weights; None: unweighted (the counts themselves)
    ties_sq: np.ndarray | None = None
    losses_sq: np.ndarray | None = None
    observed: PairCounts | None = None  # the plain counts of weighted votes
    cells: WeightCells | None = None  # the weighted votes grouped for the bootstrap, when asked and not too many
    battles: BattleSums | None = None  # when some battle holds several votes (module docstring)
    units: BattleUnits | None = None  # those battles grouped for the bootstrap, when asked and not too many

    def __post_init__(self) -> None:
        for name, dtype in (("first", np.int64), ("second", np.int64)):
            object.__setattr__(self, name, _frozen(getattr(self, name), dtype))
        for name in ("wins", "ties", "losses"):
            object.__setattr__(self, name, _frozen(getattr(self, name), np.float64))
        for name in ("wins_sq", "ties_sq", "losses_sq"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _frozen(getattr(self, name), np.float64))

    @property
    def weighted(self) -> bool:
        return self.wins_sq is not None

    @property
    def plain(self) -> PairCounts:
        """The unweighted vote counts (self when unweighted)."""
        return self.observed if self.observed is not None else self

    def squared(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per pair, the sums of squared weights of (wins, ties, losses): the counts themselves when unweighted."""
        if self.wins_sq is None or self.ties_sq is None or self.losses_sq is None:
            return self.wins, self.ties, self.losses
        return self.wins_sq, self.ties_sq, self.losses_sq

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
        """The number of votes (not the sum of their weights)."""
        return int(np.rint(self.plain.totals.sum()))

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
        squares = {}
        if self.weighted:
            wins_sq, ties_sq, losses_sq = self.squared()
            squares = {"wins_sq": wins_sq[rows], "ties_sq": ties_sq[rows], "losses_sq": losses_sq[rows]}
        return PairCounts(
            models=tuple(m for m, k in zip(self.models, keep, strict=True) if k),
            first=new_index[self.first[rows]],
            second=new_index[self.second[rows]],
            wins=self.wins[rows],
            ties=self.ties[rows],
            losses=self.losses[rows],
            observed=None if self.observed is None else self.observed.subset(keep),
            battles=None if self.battles is None else self.battles.rows(rows),
            **squares,
        )  # no cells: the bootstrap resamples the whole counts' cells, then takes each part's columns


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


def count_outcomes(
    battles: pd.DataFrame, weights: np.ndarray | None = None, *, cells: bool = False, by_battle: bool = True
) -> PairCounts:
    """Collapse votes (model_a, model_b, winner; winner already checked) to counts per unordered pair.

    weights: one finite, positive weight per vote (None: plain counts); `cells`: also group the weighted votes for
    the bootstrap (WeightCells; left out when there would be more than MAX_CELLS), and battles holding several votes
    (BattleUnits); `by_battle`: compute BattleSums (False for callers that show no interval)."""
    if len(battles) == 0:
        return empty_counts()
    side_a, side_b, names = model_codes(battles)
    sides = winner_sides(battles["winner"])
    if weights is not None:
        weights = _checked(weights, len(sides))
        counts = _weighted_counts(side_a, side_b, sides, names, weights, cells)
    else:
        counts = _plain_counts(side_a, side_b, sides, names)
    codes = battle_codes(battles) if by_battle or cells else None
    grouped = None if codes is None else _battles_by_pair(codes, side_a, side_b, counts)
    if grouped is None:
        return counts
    codes, pair_of_battle, votes_per_battle = grouped
    votes = _VoteSides(side_a, side_b, sides, weights)
    return replace(
        counts,
        battles=_battle_sums(codes, pair_of_battle, votes_per_battle, votes, counts.n_pairs),
        units=_battle_units(codes, votes_per_battle, votes, counts) if cells else None,
    )


def _plain_counts(side_a: np.ndarray, side_b: np.ndarray, sides: np.ndarray, names: tuple[str, ...]) -> PairCounts:
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


def battle_codes(battles: pd.DataFrame) -> np.ndarray | None:
    """Per vote, a code 0..k-1 of its battle (equal codes: the same battle): from battle_key, else battle_id (a vote
    with neither is a battle of its own); None when the frame names no battle at all. Codes mean something within
    one frame only: the store's battle_key is numbered per read, so frames of two reads must not be concatenated
    with their keys."""
    for column in ("battle_key", "battle_id"):
        if column not in battles.columns or len(battles) == 0:
            continue
        values = battles[column]
        if values.dtype.kind in "iu" and not values.hasnans:
            keys = values.to_numpy()
            if keys.min() >= 0 and keys.max() < 4 * len(keys) + 1024:
                return keys.astype(np.int64, copy=False)  # dense enough already (the store's codes): as they are
        # Any other type (ids, a categorical, floats or nullable integers with gaps): numbered as they appear, so
        # the codes stay as many as this frame's battles.
        codes = pd.factorize(values, use_na_sentinel=True)[0].astype(np.int64)
        missing = codes < 0
        if missing.all():
            continue
        if missing.any():  # no battle named: each such vote its own
            codes[missing] = codes.max() + 1 + np.arange(int(missing.sum()))
        return codes
    return None


@dataclass(frozen=True, eq=False)
class _VoteSides:
    side_a: np.ndarray
    side_b: np.ndarray
    sides: np.ndarray
    weights: np.ndarray | None

    def blocks(self) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
        """Per block of votes: its slice, the outcome of the pair's first model (0 won, 1 tie, 2 lost) and the
        votes' weights. In blocks, so the per-vote temporaries stay a block's size."""
        for start in range(0, len(self.sides), _BLOCK):
            block = slice(start, start + _BLOCK)
            side_a, side_b, sides = self.side_a[block], self.side_b[block], self.sides[block]
            first_won = np.where(side_a < side_b, sides == 0, sides == 1)
            outcome = np.where(sides == 2, 1, np.where(first_won, 0, 2))
            weight = np.ones(len(sides)) if self.weights is None else self.weights[block]
            yield block, outcome, weight


def _pair_rows(side_a: np.ndarray, side_b: np.ndarray, counts: PairCounts) -> np.ndarray:
    n = counts.n_models
    pair_keys = counts.first * n + counts.second  # sorted: the counts' rows
    return np.searchsorted(pair_keys, np.minimum(side_a, side_b) * n + np.maximum(side_a, side_b))


def _battles_by_pair(
    codes: np.ndarray, side_a: np.ndarray, side_b: np.ndarray, counts: PairCounts
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(codes, pair row of each battle, votes per battle), or None when no battle holds more than one vote. A battle
    id reused across pairs (a malformed import) is split by pair. O(votes + battles) in blocks, no sort (but for
    the split)."""
    size = int(codes.max()) + 1
    votes_per_battle = np.bincount(codes, minlength=size)
    if not (votes_per_battle > 1).any():
        return None
    pair_of_battle = np.full(size, -1, dtype=np.int64)
    for start in range(0, len(codes), _BLOCK):
        block = slice(start, start + _BLOCK)
        row, battle = _pair_rows(side_a[block], side_b[block], counts), codes[block]
        before = pair_of_battle[battle]
        pair_of_battle[battle] = row
        if np.any((before >= 0) & (before != row)) or not np.array_equal(pair_of_battle[battle], row):
            break  # some battle spans two pairs
    else:
        return codes, pair_of_battle, votes_per_battle
    row = _pair_rows(side_a, side_b, counts)
    codes = pd.factorize(codes * counts.n_pairs + row)[0].astype(np.int64)
    size = int(codes.max()) + 1
    votes_per_battle = np.bincount(codes, minlength=size)
    if not (votes_per_battle > 1).any():
        return None
    pair_of_battle = np.zeros(size, dtype=np.int64)
    pair_of_battle[codes] = row
    return codes, pair_of_battle, votes_per_battle


def _battle_sums(
    codes: np.ndarray, pair_of_battle: np.ndarray, votes_per_battle: np.ndarray, votes: _VoteSides, n_pairs: int
) -> BattleSums:
    size = len(votes_per_battle)
    battle_score, battle_weight = np.zeros(size), np.zeros(size)
    for block, outcome, weight in votes.blocks():
        battle_score += np.bincount(codes[block], weight * (2 - outcome) * 0.5, minlength=size)  # 1, 1/2, 0
        battle_weight += np.bincount(codes[block], weight, minlength=size)
    present = votes_per_battle > 0
    pairs, score_b, weight_b = pair_of_battle[present], battle_score[present], battle_weight[present]
    return BattleSums(
        score_sq=np.bincount(pairs, score_b * score_b, minlength=n_pairs),
        score_weight=np.bincount(pairs, score_b * weight_b, minlength=n_pairs),
        weight_sq=np.bincount(pairs, weight_b * weight_b, minlength=n_pairs),
        n_battles=int(present.sum()),
        shared=int((votes_per_battle > 1).sum()),
    )


def _battle_units(
    codes: np.ndarray, votes_per_battle: np.ndarray, votes: _VoteSides, counts: PairCounts
) -> BattleUnits | None:
    """Battles grouped by their votes' (column, weight) multiset; None beyond MAX_CELLS units. Vectorised: battles
    of one vote by np.unique of their entries, battles of k votes by np.unique of the rows of their sorted entries."""
    n_pairs = counts.n_pairs
    row = _pair_rows(votes.side_a, votes.side_b, counts)
    column = np.concatenate([outcome for _, outcome, _ in votes.blocks()]) * n_pairs + row
    level, level_weights, rounded = _weight_levels(votes.weights, len(column))
    n_levels = len(level_weights)
    entry = column * n_levels + level
    single = votes_per_battle[codes] == 1
    keys, count = np.unique(entry[single], return_counts=True)
    if len(keys) > MAX_CELLS:  # continuous weights: nearly every battle its own kind
        return None
    units: dict[tuple[int, ...], int] = {(int(key),): int(c) for key, c in zip(keys, count, strict=True)}
    shared = np.flatnonzero(~single)
    order = shared[np.lexsort((entry[shared], codes[shared]))]  # by battle, each battle's entries sorted
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    sizes = np.diff(np.r_[starts, len(order)])
    for size in np.unique(sizes):  # battles of `size` votes: a matrix of their entries, its distinct rows counted
        rows = starts[sizes == size][:, None] + np.arange(size)
        patterns, count = np.unique(entry[order][rows], axis=0, return_counts=True)
        units.update((tuple(int(key) for key in pattern), int(c)) for pattern, c in zip(patterns, count, strict=True))
        if len(units) > MAX_CELLS:
            return None
    patterns = sorted(units)
    sizes = np.fromiter((len(pattern) for pattern in patterns), dtype=np.int64, count=len(patterns))
    if sizes.sum() > MAX_CELLS:  # a block of rounds holds a value per entry: the same bound as the vote cells
        return None
    entries = np.fromiter((key for pattern in patterns for key in pattern), dtype=np.int64, count=int(sizes.sum()))
    return BattleUnits(
        count=np.fromiter((units[pattern] for pattern in patterns), dtype=np.int64, count=len(patterns)),
        unit=np.repeat(np.arange(len(patterns)), sizes),
        column=entries // n_levels,
        weight=level_weights[entries % n_levels],
        rounded=rounded,
    )


def _weight_levels(weights: np.ndarray | None, n_votes: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each vote's weight level, the levels' weights, and whether they are rounded: exact up to
    EXACT_WEIGHT_LEVELS distinct weights, else a logarithmic grid of WEIGHT_STEP (the bootstrap's cells)."""
    if weights is None:
        return np.zeros(n_votes, dtype=np.int64), np.ones(1), False
    levels = np.unique(weights)
    if len(levels) <= EXACT_WEIGHT_LEVELS:
        return np.searchsorted(levels, weights).astype(np.int64), levels, False
    grid = np.rint(np.log(weights) / np.log1p(WEIGHT_STEP)).astype(np.int64)
    lowest = int(grid.min())
    return grid - lowest, np.exp((np.arange(int(grid.max()) - lowest + 1) + lowest) * np.log1p(WEIGHT_STEP)), True


def _checked(weights: np.ndarray, n_votes: int) -> np.ndarray:
    values = np.asarray(weights, dtype=np.float64)
    if values.shape != (n_votes,):
        raise ValueError(f"expected one weight per vote ({n_votes}), got shape {values.shape}")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError("vote weights must be finite and positive (leave a vote out rather than weigh it 0)")
    return values


def _weighted_counts(
    side_a: np.ndarray, side_b: np.ndarray, sides: np.ndarray, names: tuple[str, ...], weights: np.ndarray, cells: bool
) -> PairCounts:
    """Sums of weights, of squared weights and plain counts per (pair, outcome), over the pairs that have votes."""
    n = len(names)
    outcome_keys = _outcome_keys(side_a, side_b, sides, n)
    keys, inverse = np.unique(outcome_keys // 3, return_inverse=True)
    slots = inverse * 3 + outcome_keys % 3
    size = len(keys) * 3
    plain = np.bincount(slots, minlength=size).reshape(len(keys), 3).astype(np.float64)
    sums = np.bincount(slots, weights, minlength=size).reshape(len(keys), 3)
    squares = np.bincount(slots, weights * weights, minlength=size).reshape(len(keys), 3)
    first, second = keys // n, keys % n
    observed = PairCounts(names, first, second, plain[:, 0], plain[:, 1], plain[:, 2])
    grouped = _cells(inverse + (outcome_keys % 3) * len(keys), weights) if cells else None
    return PairCounts(
        models=names,
        first=first,
        second=second,
        wins=sums[:, 0],
        ties=sums[:, 1],
        losses=sums[:, 2],
        wins_sq=squares[:, 0],
        ties_sq=squares[:, 1],
        losses_sq=squares[:, 2],
        observed=observed,
        cells=grouped,
    )


def _cells(columns: np.ndarray, weights: np.ndarray) -> WeightCells | None:
    """Votes grouped by (column, weight): exactly when there are few distinct weights, else by the weight rounded
    on a logarithmic grid (WEIGHT_STEP); None when more than MAX_CELLS cells remain."""
    codes, level_weights, rounded = _weight_levels(weights, len(weights))
    n_levels = len(level_weights)
    keys, count = np.unique(columns * n_levels + codes, return_counts=True)
    if len(keys) > MAX_CELLS:
        return None
    return WeightCells(
        column=keys // n_levels, weight=level_weights[keys % n_levels], count=count.astype(np.int64), rounded=rounded
    )
