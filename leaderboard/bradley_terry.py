"""Bradley-Terry maximum likelihood on pair counts: one fit, or many at once (bootstrap rounds).

Natural scale: P(i beats j) = 1 / (1 + exp(theta_j - theta_i)). A tie counts half a win each way, so a pair
(i, j) with n votes of which i scored s (wins + ties / 2) adds s log p + (n - s) log(1 - p) to the
log-likelihood. Inputs are index arrays `first`, `second` (one entry per pair) with `totals` n and `scores` s.

    fit_strengths(n, first, second, totals, scores, *, prior=0.0, start=None) -> theta, mean zero
    strengths_from_pairs([(winner, loser), ...]) -> {name: theta}, with the prior (a small sample's baseline)
    fit_strengths_batch(n, first, second, totals, scores, *, start, start_inverse, prior=0.0) -> (rounds, n)
    chord_inverse(n, first, second, totals, theta, prior) -> the start_inverse for a fit theta
    normal_matrix(n, first, second, weights, prior) -> the matrix Newton solves with
    laplacian(n, first, second, weights) -> sum_pairs w (e_i - e_j)(e_i - e_j)^T

The likelihood does not change when every strength moves by the same amount (the gauge). Newton steps solve
(L + J / n) step = gradient, L the negative Hessian (a weighted graph Laplacian) and J the all-ones matrix:
the gradient sums to zero, so the step is the minimum-norm one and the strengths stay at mean zero with no
reference model pinned. This needs the part to be connected with a finite maximum (see graph.py).

When no finite maximum exists the callers pass prior = PRIOR_PRECISION: the fit then maximises the
log-likelihood minus prior / 2 * |theta|^2, a Gaussian prior with standard deviation 1 / sqrt(0.1) = 3.16 on
the natural scale (about 550 Elo) around the mean. It keeps ratings of models that only won or only lost
finite, and moves well-measured models by a fraction of about prior / (votes / 4): negligible beyond a few
dozen votes. The default (prior 0) is the exact maximum-likelihood estimate.

Many rounds at once: the bootstrap refits on resampled counts of the same pairs. Starting from the full
fit, chord iterations (Newton steps that reuse the inverse of the full fit's matrix) converge by a factor of
about 50 per step on Arena-sized data and cost one gather and one bincount over (rounds x pairs) each; a round
stops once its estimated remaining error is below BATCH_TOLERANCE. Rounds where the chord stalls (little data,
a round far from the full fit) finish with batched per-round Newton steps with a line search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIOR_PRECISION = 0.1
TOLERANCE = 1e-10  # largest strength change at convergence, natural scale (1.7e-8 Elo)
BATCH_TOLERANCE = 1e-6  # bootstrap rounds: 1.7e-4 Elo, far below the bootstrap's own Monte Carlo error
MAX_ITERATIONS = 200
_CHORD_ITERATIONS = 12
_CHORD_CONTRACTION = 0.5  # a chord step must at least halve the previous one, else that round goes to Newton
_NEWTON_CHUNK = 20_000_000  # rounds x models^2 per batched Newton solve (memory bound)


class ConvergenceError(ArithmeticError):
    """Newton's method did not converge (should not happen on a part with a finite maximum)."""


def _probabilities(differences: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp overflow gives probability 0, as it should
        return 1.0 / (1.0 + np.exp(-differences))


def rounding_only(value: np.ndarray | float, previous: np.ndarray | float) -> np.ndarray | bool:
    """The objective moved by no more than rounding: near the optimum the sufficient-increase test is noise."""
    return np.abs(np.asarray(value) - previous) <= 1e-12 * (1.0 + np.abs(previous))


def laplacian(n: int, first: np.ndarray, second: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum over pairs of w (e_i - e_j)(e_i - e_j)^T; pairs must be unique."""
    matrix = np.zeros((n, n))
    matrix[first, second] = -weights
    matrix[second, first] = -weights
    matrix[np.arange(n), np.arange(n)] = np.bincount(first, weights, n) + np.bincount(second, weights, n)
    return matrix


def normal_matrix(n: int, first: np.ndarray, second: np.ndarray, weights: np.ndarray, prior: float) -> np.ndarray:
    """The negative Hessian of the objective, plus J / n when there is no prior to fix the gauge."""
    matrix = laplacian(n, first, second, weights)
    matrix[np.diag_indices(n)] += prior
    if prior == 0.0:
        matrix += 1.0 / n
    return matrix


def log_likelihood(
    theta: np.ndarray, first: np.ndarray, second: np.ndarray, totals: np.ndarray, scores: np.ndarray
) -> np.ndarray:
    """Log-likelihood of strengths theta (..., n); batched over leading axes."""
    differences = theta[..., first] - theta[..., second]
    return -(scores * np.logaddexp(0.0, -differences) + (totals - scores) * np.logaddexp(0.0, differences)).sum(-1)


def fit_strengths(
    n: int,
    first: np.ndarray,
    second: np.ndarray,
    totals: np.ndarray,
    scores: np.ndarray,
    *,
    prior: float = 0.0,
    start: np.ndarray | None = None,
    tolerance: float = TOLERANCE,
) -> np.ndarray:
    """Strengths maximising the (penalised when prior > 0) log-likelihood of one connected part; mean zero."""
    if n <= 1:
        return np.zeros(n)
    theta = np.zeros(n) if start is None else np.array(start, dtype=float) - np.mean(start)
    objective = log_likelihood(theta, first, second, totals, scores) - 0.5 * prior * theta @ theta
    for _ in range(MAX_ITERATIONS):
        probabilities = _probabilities(theta[first] - theta[second])
        residuals = scores - totals * probabilities
        gradient = np.bincount(first, residuals, n) - np.bincount(second, residuals, n) - prior * theta
        weights = totals * probabilities * (1.0 - probabilities)
        step = np.linalg.solve(normal_matrix(n, first, second, weights, prior), gradient)
        length = 1.0
        while True:  # backtracking: Newton may overshoot far from the optimum of a logistic likelihood
            candidate = theta + length * step
            value = log_likelihood(candidate, first, second, totals, scores) - 0.5 * prior * candidate @ candidate
            small = length * np.abs(step).max() < tolerance
            if value >= objective + 1e-4 * length * (gradient @ step) or small or rounding_only(value, objective):
                break
            length /= 2.0
        theta, objective = candidate, value
        if length * np.abs(step).max() < tolerance:
            return theta - theta.mean()
    raise ConvergenceError(f"Bradley-Terry fit did not converge in {MAX_ITERATIONS} Newton steps")


def strengths_from_pairs(winners_losers: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> dict[str, float]:
    """Strengths by name (natural scale, mean zero) from decisive (winner, loser) votes; {} without any. The
    prior (PRIOR_PRECISION) keeps a model that won or lost every vote finite: a small sample's baseline, not a
    leaderboard."""
    if not winners_losers:
        return {}
    names = sorted({name for pair in winners_losers for name in pair})
    index = {name: i for i, name in enumerate(names)}
    counts: dict[tuple[int, int], list[float]] = {}  # the fit takes each pair of models once: (votes, wins)
    for winner, loser in winners_losers:
        w, lo = index[winner], index[loser]
        key = (min(w, lo), max(w, lo))
        tally = counts.setdefault(key, [0.0, 0.0])
        tally[0] += 1.0
        tally[1] += 1.0 if w == key[0] else 0.0
    first, second = (np.array(side) for side in zip(*counts, strict=True))
    totals, scores = (np.array(column) for column in zip(*counts.values(), strict=True))
    strengths = fit_strengths(len(names), first, second, totals, scores, prior=PRIOR_PRECISION)
    return {name: float(strengths[i]) for name, i in index.items()}


@dataclass(frozen=True, eq=False)
class _PairOperator:
    """Strength differences per pair, and per-pair values summed into models, for many rounds at once.

    Gathers and bincounts rather than products with the pair/model incidence matrix: as fast on one core, and
    free of BLAS threads, which would compete with the bootstrap's own two threads.
    """

    n: int
    first: np.ndarray
    second: np.ndarray

    def differences(self, theta: np.ndarray) -> np.ndarray:
        return np.take(theta, self.first, axis=1) - np.take(theta, self.second, axis=1)

    def gather(self, values: np.ndarray, sign: float = -1.0) -> np.ndarray:
        """sum over pairs of values into `first` plus sign times values into `second`."""
        rounds = len(values)
        offsets = np.arange(rounds)[:, None] * self.n
        flat = values.ravel()
        size = rounds * self.n
        into_first = np.bincount((offsets + self.first).ravel(), flat, size)
        into_second = np.bincount((offsets + self.second).ravel(), flat, size)
        return (into_first + sign * into_second).reshape(rounds, self.n)


def chord_inverse(
    n: int, first: np.ndarray, second: np.ndarray, totals: np.ndarray, theta: np.ndarray, prior: float
) -> np.ndarray:
    """Inverse of normal_matrix at theta for these counts: what fit_strengths_batch's chord steps reuse."""
    p = _probabilities(theta[first] - theta[second])
    return np.linalg.inv(normal_matrix(n, first, second, totals * p * (1.0 - p), prior))


def fit_strengths_batch(
    n: int,
    first: np.ndarray,
    second: np.ndarray,
    totals: np.ndarray,
    scores: np.ndarray,
    *,
    start: np.ndarray,
    start_inverse: np.ndarray,
    prior: float = 0.0,
    tolerance: float = BATCH_TOLERANCE,
) -> np.ndarray:
    """Strengths (rounds, n) for each row of totals/scores (rounds, pairs), warm-started at `start`.

    start_inverse: chord_inverse at `start` for the counts `start` was fitted on, reused by every chord step.
    Every round must have a finite maximum when prior is 0.
    """
    rounds = len(totals)
    theta = np.tile(np.asarray(start, dtype=float), (rounds, 1))
    if n <= 1 or rounds == 0:
        return theta
    pairs = _PairOperator(n, first, second)
    active = np.arange(rounds)
    previous = np.zeros(rounds)
    stalled: list[np.ndarray] = []
    start_probabilities = _probabilities(theta[0, first] - theta[0, second])
    for iteration in range(_CHORD_ITERATIONS):
        everyone = len(active) == rounds  # plain views instead of copies while no round has finished
        current = theta if everyone else theta[active]
        round_totals = totals if everyone else totals[active]
        round_scores = scores if everyone else scores[active]
        probabilities = start_probabilities if iteration == 0 else _probabilities(pairs.differences(current))
        gradient = pairs.gather(round_scores - round_totals * probabilities) - prior * current
        step = np.einsum("rn,nm->rm", gradient, start_inverse)  # einsum's own loop: no BLAS threads
        size = np.abs(step).max(axis=1)
        if iteration == 0:
            converged = size < tolerance
            progressing = np.ones(len(active), dtype=bool)
        else:
            ratio = size / previous[active]
            progressing = ratio <= _CHORD_CONTRACTION
            # linear convergence at rate `ratio` leaves about size * ratio / (1 - ratio) still to go
            converged = (size < tolerance) | (progressing & (size * ratio < tolerance * (1.0 - ratio)))
        keep = progressing | (size < tolerance)
        theta[active[keep]] += step[keep]
        stalled.append(active[~keep])
        previous[active] = size
        active = active[keep & ~converged]
        if len(active) == 0:
            break
    remaining = np.concatenate([*stalled, active])
    if len(remaining):
        chunk = max(1, _NEWTON_CHUNK // (n * n))
        for begin in range(0, len(remaining), chunk):
            rows = remaining[begin : begin + chunk]
            theta[rows] = _newton_batch(pairs, theta[rows], totals[rows], scores[rows], prior, tolerance)
    return theta - theta.mean(axis=1, keepdims=True)


def _newton_batch(
    pairs: _PairOperator, theta: np.ndarray, totals: np.ndarray, scores: np.ndarray, prior: float, tolerance: float
) -> np.ndarray:
    """Damped Newton for several rounds at once; each round stops on its own."""
    n, first, second = pairs.n, pairs.first, pairs.second
    theta = theta.copy()

    def objective(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return log_likelihood(values, first, second, totals[rows], scores[rows]) - 0.5 * prior * (values**2).sum(1)

    active = np.arange(len(theta))
    values = objective(theta, active)
    gauge = 0.0 if prior > 0 else 1.0 / n
    for _ in range(MAX_ITERATIONS):
        current = theta[active]
        probabilities = _probabilities(pairs.differences(current))
        gradient = pairs.gather(scores[active] - totals[active] * probabilities) - prior * current
        weights = totals[active] * probabilities * (1.0 - probabilities)
        matrices = np.zeros((len(active), n, n))
        matrices[:, first, second] = -weights
        matrices[:, second, first] = -weights
        matrices[:, np.arange(n), np.arange(n)] = pairs.gather(weights, sign=1.0) + prior
        matrices += gauge
        step = np.linalg.solve(matrices, gradient[..., None])[..., 0]
        length = np.ones(len(active))
        pending = np.arange(len(active))
        accepted = current.copy()
        new_values = values[active].copy()
        while len(pending):
            candidate = current[pending] + length[pending, None] * step[pending]
            value = objective(candidate, active[pending])
            gain = 1e-4 * length[pending] * (gradient[pending] * step[pending]).sum(1)
            small = length[pending] * np.abs(step[pending]).max(1) < tolerance
            ok = (value >= values[active[pending]] + gain) | small | rounding_only(value, values[active[pending]])
            accepted[pending[ok]] = candidate[ok]
            new_values[pending[ok]] = value[ok]
            length[pending[~ok]] /= 2.0
            pending = pending[~ok]
        theta[active] = accepted
        values[active] = new_values
        done = length * np.abs(step).max(1) < tolerance
        active = active[~done]
        if len(active) == 0:
            return theta
    raise ConvergenceError(f"Bradley-Terry bootstrap fits did not converge in {MAX_ITERATIONS} Newton steps")
