"""Bootstrap resampling of vote counts: exact multinomial draws, fast enough for 1,000 rounds of 1M votes.

    multinomial_rounds(counts, rounds, seed) -> (rounds, K) int64
    map_multinomial_rounds(counts, rounds, seed, work) -> [work(block) for each block of rounds]
        each row ~ Multinomial(N, counts / N) with N = counts.sum(): resampling the N votes with replacement,
        seen through the K cells they fall in (the same law whether the cells are raw votes or their counts).

numpy's Generator.multinomial draws one binomial per cell and round (about 120 ns each: 1.8 s for 1,000
rounds over the 14,850 cells of 1M Arena-like votes). Drawn here instead, with the same law:
  1. X_k ~ Poisson(q * counts_k) independently, q = 1 - 3 / sqrt(N). Given their total T, X is exactly
     Multinomial(T, counts / N) (Poisson splitting), whatever q is.
  2. Rounds with T > N are drawn again (a 0.1 % event), which leaves that conditional law unchanged.
  3. The N - T missing votes (about 3 sqrt(N)) are drawn one by one from the N votes and added: a multinomial
     plus an independent multinomial with the same probabilities is Multinomial(N, counts / N).
Weighted votes are resampled the same way over their (pair, outcome, weight) cells (outcomes.WeightCells: integer
vote counts), each round's draws then summed with the cells' weights (intervals.weighted_draws).
Rounds are drawn in fixed blocks, each from its own child of SeedSequence(seed), two blocks at a time on two
threads (numpy releases the GIL while drawing): the result depends on (counts, rounds, seed) only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

T = TypeVar("T")

BLOCK = 125  # rounds per independently seeded block; fixed so results do not depend on the thread count
_MARGIN = 3.0  # standard deviations of T kept below N
_LOOKUP_LIMIT = 20_000_000  # up to this many votes, a vote -> cell table (4 bytes a vote) beats a binary search


def _draw_block(counts: np.ndarray, total: int, rounds: int, generator: np.random.Generator) -> np.ndarray:
    if total == 0:
        return np.zeros((rounds, len(counts)), dtype=np.int64)
    share = max(0.0, 1.0 - _MARGIN / math.sqrt(total))
    draws = generator.poisson(share * counts, size=(rounds, len(counts)))
    while True:
        over = np.flatnonzero(draws.sum(axis=1) > total)
        if len(over) == 0:
            break
        draws[over] = generator.poisson(share * counts, size=(len(over), len(counts)))
    missing = total - draws.sum(axis=1)
    picks = generator.integers(0, total, size=int(missing.sum()))  # which of the N original votes
    if total <= _LOOKUP_LIMIT:
        cells = np.repeat(np.arange(len(counts), dtype=np.int32), counts)[picks]
    else:
        cells = np.searchsorted(np.cumsum(counts), picks, side="right")
    ends = np.cumsum(missing)
    for row, (begin, end) in enumerate(zip(ends - missing, ends, strict=True)):
        draws[row] += np.bincount(cells[begin:end], minlength=len(counts))  # per row: stays in cache
    return draws


def map_multinomial_rounds(
    counts: np.ndarray, rounds: int, seed: int, work: Callable[[np.ndarray], T], block_rounds: int = BLOCK
) -> list[T]:
    """Apply `work` to each block of draws (block_rounds, K), two blocks at a time; results in block order.

    Working block by block keeps the arrays in cache and overlaps one block's drawing with another's work.
    """
    counts = np.asarray(counts)
    if np.any(counts < 0) or not np.allclose(counts, np.round(counts)):
        raise ValueError("multinomial resampling needs non-negative integer counts")
    counts = np.round(counts).astype(np.int64)
    total = int(counts.sum())
    blocks = [min(block_rounds, rounds - begin) for begin in range(0, rounds, block_rounds)]
    generators = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(len(blocks))]

    def one_block(size: int, generator: np.random.Generator) -> T:
        return work(_draw_block(counts, total, size, generator))

    workers = min(2, os.cpu_count() or 1, max(1, len(blocks)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one_block, blocks, generators))


def multinomial_rounds(counts: np.ndarray, rounds: int, seed: int) -> np.ndarray:
    """`rounds` independent Multinomial(N, counts / N) draws, N = counts.sum() (non-negative integers)."""
    drawn = map_multinomial_rounds(counts, rounds, seed, lambda block: block)
    return np.concatenate(drawn) if drawn else np.zeros((0, len(np.asarray(counts))), dtype=np.int64)
