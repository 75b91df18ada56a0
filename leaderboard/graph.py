"""The comparison graph: which models can be rated against which, and whether finite ratings exist.

    connected_parts(n, first, second) -> labels    models linked by any vote share a label; 0 is the largest
    has_finite_mle(n, first, second, forward, backward) -> bool
    rounds_with_finite_mle(n, first, second, forward (R, P), backward (R, P)) -> bool per round

Ratings can only be compared within a connected part. Within a part the maximum-likelihood ratings are
finite exactly when the "scored against" graph is strongly connected (Zermelo 1929; Ford 1957): however the
models are split in two groups, some model of each group won or tied a vote against the other group. A model
that only won (or only lost) breaks this, and so does a group that beat every outsider it met.
`forward` holds, per pair, the votes in which the first model scored (wins + ties); `backward` the second's.
"""

from __future__ import annotations

import numpy as np


def connected_parts(n: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Part label per model (models without any pair get their own part); parts are numbered largest first."""
    labels = np.arange(n)
    while True:  # label propagation: every model takes the smallest label among its neighbours
        lowest = np.minimum(labels[first], labels[second])
        updated = labels.copy()
        np.minimum.at(updated, first, lowest)
        np.minimum.at(updated, second, lowest)
        updated = updated[updated]  # jump to the label's own label: far fewer rounds on long chains
        if np.array_equal(updated, labels):
            break
        labels = updated
    roots, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.lexsort((roots, -sizes))  # largest first; ties by lowest model index
    rank = np.empty(len(roots), dtype=np.int64)
    rank[order] = np.arange(len(roots))
    return rank[inverse]


def _reaches_everyone(n: int, source: np.ndarray, target: np.ndarray) -> bool:
    reached = np.zeros(n, dtype=bool)
    reached[0] = True
    frontier = reached.copy()
    while frontier.any():
        step = np.zeros(n, dtype=bool)
        step[target[frontier[source]]] = True
        frontier = step & ~reached
        reached |= frontier
    return bool(reached.all())


def has_finite_mle(n: int, first: np.ndarray, second: np.ndarray, forward: np.ndarray, backward: np.ndarray) -> bool:
    """Whether the Bradley-Terry likelihood of one connected part has a finite maximiser."""
    if n <= 1:
        return True
    scored_first, scored_second = forward > 0, backward > 0
    # edge u -> v: u scored against v; strongly connected <=> model 0 reaches all and all reach model 0
    source = np.concatenate([first[scored_first], second[scored_second]])
    target = np.concatenate([second[scored_first], first[scored_second]])
    return _reaches_everyone(n, source, target) and _reaches_everyone(n, target, source)


def rounds_with_finite_mle(
    n: int, first: np.ndarray, second: np.ndarray, forward: np.ndarray, backward: np.ndarray
) -> np.ndarray:
    """has_finite_mle for every row (bootstrap round) of forward/backward, in bulk when votes are plentiful."""
    rounds = len(forward)
    if n <= 1:
        return np.ones(rounds, dtype=bool)
    # pairs that went both ways in every round already make every round strongly connected if they link the part
    always = ((forward > 0) & (backward > 0)).all(axis=0)
    if len(np.unique(connected_parts(n, first[always], second[always]))) == 1:
        return np.ones(rounds, dtype=bool)
    return np.array([has_finite_mle(n, first, second, forward[row], backward[row]) for row in range(rounds)])
