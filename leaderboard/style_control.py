"""Style control (Chatbot Arena, August 2024): ratings with the answers' length and markdown held fixed.

For each of schema.STYLE_FEATURES (answer tokens, markdown headers, list items, bold spans) a vote gets the
covariate (a - b) / (a + b + 1) from the two answers' counts, z-normalised over the votes used (population
standard deviation; weighted mean and deviation when the votes are weighted). The log-odds that model_a wins become

    theta_a - theta_b + sum_k beta_k * z_k,

fitted jointly by maximum likelihood, a tie counting half as in bradley_terry. theta gives the style-controlled
ratings (same scale, parts and anchor rules as fit.py); beta_k is the change in log-odds of winning per
standard deviation of covariate k: a positive length coefficient means longer answers win more often than
their model's strength explains. A feature that is the same for every vote cannot be fitted: it is left out
with a warning. Every vote is its own row here (covariates differ per vote), so a Newton step costs O(votes)
and the bootstrap refits every round on all rows: prefer the sandwich intervals on large tables. As in the plain
fit, the votes of one battle (leaderboard.outcomes.battle_codes) are one unit: the sandwich's meat sums each
battle's score vector before squaring, and the bootstrap resamples battles.

    style_covariates(battles, weights=None) -> StyleCovariates   (StyleFeaturesMissing names the first row lacking one)
    fit_style_control(battles, models, parts, *, anchor=None, ci="sandwich", rounds=1000, seed=0, start=None,
                      weights=None) -> StyleFit
    style_logits(fit, battles) -> log-odds that model_a wins each vote of `battles` (for predictions)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from facts.schema import STYLE_COLUMNS, STYLE_FEATURES
from leaderboard.bradley_terry import MAX_ITERATIONS, PRIOR_PRECISION, TOLERANCE, ConvergenceError, rounding_only
from leaderboard.elo import vote_scores
from leaderboard.graph import has_finite_mle
from leaderboard.intervals import Z95, percentile_bounds, rank_upper_bound, rating_covariance
from leaderboard.multinomial import map_multinomial_rounds
from leaderboard.outcomes import battle_codes
from leaderboard.scale import ELO_PER_NAT, Anchor, as_anchor, gauge, to_elo

_BOOTSTRAP_CELLS = 5_000_000  # rounds x votes per block of bootstrap weights (memory bound)
_BLOCK = 1 << 20  # votes per block of per-vote temporaries
_DENSE_PAIRS = 50_000_000  # up to this many possible ordered pairs, pairs are found through a table


class StyleFeaturesMissing(ValueError):
    """Style control was asked for, but some votes lack the style features."""


@dataclass(frozen=True, eq=False)
class StyleCovariates:
    features: tuple[str, ...]  # the fitted features
    values: np.ndarray  # (votes, features), z-normalised, a contiguous column per feature
    mean: np.ndarray  # of the raw covariates, to normalise new votes the same way
    sd: np.ndarray
    constant: tuple[str, ...]  # features left out: the same for every vote
    redundant: tuple[tuple[str, str], ...] = ()  # (feature left out, the kept features it is a combination of)


@dataclass(frozen=True)
class StyleCoefficient:
    """Change in log-odds of winning per standard deviation of the feature's covariate, with its 95% interval."""

    feature: str
    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True, eq=False)
class StyleFit:
    models: tuple[str, ...]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank_ub: np.ndarray
    coefficients: tuple[StyleCoefficient, ...]
    covariates: StyleCovariates
    strengths: np.ndarray  # natural scale, mean zero within each part
    warnings: tuple[str, ...]


def _raw_covariates(battles: pd.DataFrame) -> np.ndarray:
    """(votes, features), one contiguous column per feature."""
    raw = np.empty((len(battles), len(STYLE_FEATURES)), order="F")
    for j, feature in enumerate(STYLE_FEATURES):
        a, b = _counts(battles[f"{feature}_a"]), _counts(battles[f"{feature}_b"])  # widened in the arithmetic
        np.subtract(a, b, out=raw[:, j], dtype=float)
        denominator = np.add(a, b, dtype=float)
        denominator += 1.0
        raw[:, j] /= denominator
    return raw


def _counts(column: pd.Series) -> np.ndarray:
    """A style count column as numbers: float32 or integers as stored (the store's are float32), anything else
    converted to float64 (missing as NaN)."""
    values = column.to_numpy()
    return values if values.dtype.kind in "fiu" else column.to_numpy(dtype=float)


def style_covariates(battles: pd.DataFrame, weights: np.ndarray | None = None) -> StyleCovariates:
    """The z-normalised covariates of every vote; with `weights` (one per vote), normalised by the weighted mean and
    standard deviation, as if each vote were repeated its weight in times."""
    absent = [c for c in STYLE_COLUMNS if c not in battles.columns]
    if absent:
        raise StyleFeaturesMissing(f"style control needs the columns {', '.join(absent)}")
    raw = _raw_covariates(battles)  # NaN exactly where a vote lacks a count on either side
    lacking = np.isnan(raw).any(axis=1)
    if lacking.any():
        missing = battles[list(STYLE_COLUMNS)].isna()
        first = int(np.flatnonzero(lacking)[0])
        row = battles.iloc[first]
        columns = ", ".join(c for c in STYLE_COLUMNS if missing.iloc[first][c])
        raise StyleFeaturesMissing(
            f"style control needs style features on every vote: row {battles.index[first]} "
            f"({row['model_a']!r} vs {row['model_b']!r}) lacks {columns}; {int(lacking.sum())} of {len(battles)} "
            "votes lack some. Compute them from the answers (facts.style) or turn style control off."
        )
    # A column at a time: numpy's std over the matrix would hold a second matrix of deviations.
    if weights is None:
        mean = np.array([raw[:, j].mean() for j in range(raw.shape[1])])
        sd = np.array([raw[:, j].std() for j in range(raw.shape[1])])
    else:
        mean = np.array([np.average(raw[:, j], weights=weights) for j in range(raw.shape[1])])
        sd = np.sqrt([np.average((raw[:, j] - mean[j]) ** 2, weights=weights) for j in range(raw.shape[1])])
    varies = sd > 1e-12
    raw -= mean
    raw /= np.where(varies, sd, 1.0)
    z = raw
    # every least-squares question below is answered from this k x k matrix (weighted: a column at a time, no second
    # matrix of votes)
    gram = z.T @ z if weights is None else np.column_stack([z.T @ (weights * z[:, j]) for j in range(z.shape[1])])
    kept: list[int] = []
    redundant: list[tuple[str, str]] = []
    for index in np.flatnonzero(varies):
        # A covariate that is a linear combination of the kept ones (bold counts equal to header counts in every
        # vote, say) makes the joint fit singular and its coefficient meaningless: leave it out, and say so.
        if kept and _residual_share(gram, kept, int(index)) < 1e-9:
            redundant.append((STYLE_FEATURES[index], ", ".join(STYLE_FEATURES[k] for k in kept)))
            continue
        kept.append(int(index))
    return StyleCovariates(
        features=tuple(STYLE_FEATURES[k] for k in kept),
        values=np.asfortranarray(z[:, kept]) if len(kept) < z.shape[1] else z,
        mean=mean[kept],
        sd=sd[kept],
        constant=tuple(f for f, v in zip(STYLE_FEATURES, varies, strict=True) if not v),
        redundant=tuple(redundant),
    )


def _residual_share(gram: np.ndarray, basis: list[int], column: int) -> float:
    """Share of the column's squared norm left after projecting it on the basis columns (from their Gram matrix)."""
    inner = gram[np.ix_(basis, basis)]
    cross = gram[basis, column]
    coefficients, *_ = np.linalg.lstsq(inner, cross, rcond=None)
    residual = gram[column, column] - 2.0 * coefficients @ cross + coefficients @ inner @ coefficients
    return max(float(residual), 0.0) / max(float(gram[column, column]), 1e-300)


@dataclass(frozen=True, eq=False)
class _Votes:
    """The votes in their own order, each tagged with its ordered pair (model_a, model_b): every sum over a pair
    is one np.bincount over the rows, and per-model sums run over pairs, not votes. Nothing is sorted or
    gathered, so the covariates stay where they were made."""

    n: int  # models
    pair_a: np.ndarray  # per pair: model_a's index
    pair_b: np.ndarray
    row_pair: np.ndarray  # per row: its pair
    z: np.ndarray  # (rows, features)
    outcome: np.ndarray  # score of model_a

    @classmethod
    def tagged(cls, n: int, side_a: np.ndarray, side_b: np.ndarray, z: np.ndarray, outcome: np.ndarray) -> _Votes:
        key = side_a.astype(np.int64) * n + side_b
        if n * n <= _DENSE_PAIRS:  # a table over every possible pair: no sort of the votes
            present = np.zeros(n * n, dtype=bool)
            present[key] = True
            pairs = np.flatnonzero(present)
            index = np.cumsum(present, dtype=np.int64) - 1
            row_pair = index[key]
        else:
            pairs, row_pair = np.unique(key, return_inverse=True)
        code = np.int32 if len(pairs) < 2**31 else np.int64
        return cls(n, pairs // n, pairs % n, row_pair.astype(code), z, outcome)

    def pair_sums(self, values: np.ndarray) -> np.ndarray:
        """Sums over each pair's rows of a per-row array."""
        return np.bincount(self.row_pair, values, len(self.pair_a))

    def model_sums(self, per_pair: np.ndarray) -> np.ndarray:
        """Per model: the pair sums where it is model_a minus those where it is model_b."""
        return np.bincount(self.pair_a, per_pair, self.n) - np.bincount(self.pair_b, per_pair, self.n)

    def logits(self, params: np.ndarray) -> np.ndarray:
        logits = self.z @ params[self.n :]
        logits += (params[self.pair_a] - params[self.pair_b])[self.row_pair]
        return logits


def _outer_sum(votes: _Votes, weights: np.ndarray) -> np.ndarray:
    """sum over votes of weight * x x^T, x = (e_a - e_b, z). A feature at a time: one temporary of a vector per
    vote, not a matrix."""
    n, k = votes.n, votes.z.shape[1]
    per_pair = votes.pair_sums(weights)
    pair = np.bincount(votes.pair_a * n + votes.pair_b, per_pair, n * n).reshape(n, n)
    pair += pair.T
    matrix = np.zeros((n + k, n + k))
    matrix[:n, :n] = np.diag(pair.sum(axis=1)) - pair
    weighted = np.empty(len(weights))
    for j in range(k):
        np.multiply(weights, votes.z[:, j], out=weighted)
        matrix[:n, n + j] = votes.model_sums(votes.pair_sums(weighted))
        matrix[n + j, n:] = weighted @ votes.z
    matrix[n:, :n] = matrix[:n, n:].T
    return matrix


def _shared_battles(battles: pd.DataFrame, side_a: np.ndarray, side_b: np.ndarray, n: int) -> np.ndarray | None:
    """Each vote's battle, numbered 0..battles-1 over these votes, when some battle holds more than one of them, else
    None. A battle id reused across pairs (a malformed import) is split by pair, as leaderboard.outcomes does. Dense:
    the bootstrap draws one unit per number."""
    codes = battle_codes(battles)
    if codes is None or len(codes) == 0 or np.bincount(codes).max() < 2:
        return None
    pair = np.minimum(side_a, side_b).astype(np.int64) * n + np.maximum(side_a, side_b)
    codes = pd.factorize(codes * (n * n) + pair)[0].astype(np.int64)
    return codes if np.bincount(codes).max() > 1 else None


def _within_battle_terms(votes: _Votes, codes: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """Sum over battles of sum over pairs of distinct votes v != w of r_v r_w x_v x_w^T: what the cluster-robust
    meat (sum over battles of g g^T, g = sum of r x over the battle's votes) adds to the per-vote meat. A battle's
    votes share one pair {i, j}, so g = (s (e_i - e_j), h) with s the residuals summed with the sign of each vote's
    orientation and h the residual-weighted sum of its covariates: the strength block is a Laplacian over pairs and
    the rest bincounts, O(votes k + battles k^2), whatever the number of models."""
    n, k = votes.n, votes.z.shape[1]
    multi = np.flatnonzero(np.bincount(codes)[codes] > 1)
    model_a, model_b = votes.pair_a[votes.row_pair[multi]], votes.pair_b[votes.row_pair[multi]]
    low, high = np.minimum(model_a, model_b), np.maximum(model_a, model_b)
    battle = pd.factorize(codes[multi])[0]
    m = int(battle.max()) + 1
    r = residual[multi]
    strength = np.bincount(battle, np.where(model_a == low, r, -r), m)  # s: oriented from low to high
    battle_low, battle_high = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
    battle_low[battle], battle_high[battle] = low, high
    covariates = np.empty((m, k))
    for j in range(k):
        covariates[:, j] = np.bincount(battle, r * votes.z[multi, j], m)
    matrix = np.zeros((n + k, n + k))
    pair = np.bincount(battle_low * n + battle_high, strength * strength, n * n).reshape(n, n)
    pair += pair.T
    matrix[:n, :n] = np.diag(pair.sum(axis=1)) - pair
    for j in range(k):
        cross = strength * covariates[:, j]
        matrix[:n, n + j] = np.bincount(battle_low, cross, n) - np.bincount(battle_high, cross, n)
    matrix[n:, :n] = matrix[:n, n:].T
    matrix[n:, n:] = covariates.T @ covariates
    own = np.zeros(len(residual))
    own[multi] = r * r
    return matrix - _outer_sum(votes, own)  # the votes' own terms (v = w) are the per-vote meat's


def _probabilities(logits: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        p = np.negative(logits)
        np.exp(p, out=p)
        p += 1.0
        return np.reciprocal(p, out=p)


def _objective(
    logits: np.ndarray, params: np.ndarray, votes: _Votes, weights: np.ndarray | None, prior: np.ndarray
) -> float:
    # y ln(1 + e^-x) + (1 - y) ln(1 + e^x) = ln(1 + e^-x) + (1 - y) x: one logaddexp per vote, not two. In blocks:
    # the temporaries stay a block's size.
    total = 0.0
    for start in range(0, len(logits), _BLOCK):
        block = slice(start, start + _BLOCK)
        x = logits[block]
        log_loss = np.logaddexp(0.0, -x)
        log_loss += (1.0 - votes.outcome[block]) * x
        total += float(log_loss.sum() if weights is None else weights[block] @ log_loss)
    return -total - 0.5 * float((prior * params**2).sum())


def _gauge_terms(n: int, k: int, parts: list[np.ndarray], prior: np.ndarray) -> np.ndarray:
    """J_p / n_p for each part without a prior: fixes each part's mean strength at zero (see bradley_terry)."""
    matrix = np.diag(prior)
    for members in parts:
        if prior[members[0]] == 0.0:
            matrix[np.ix_(members, members)] += 1.0 / len(members)
    return matrix


def _fit(
    votes: _Votes, weights: np.ndarray | None, parts: list[np.ndarray], prior: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """`weights`: per vote (a bootstrap round's counts), None for one each (no vector of ones per vote)."""
    params = start.copy()
    extra = _gauge_terms(votes.n, votes.z.shape[1], parts, prior)
    logits = votes.logits(params)
    value = _objective(logits, params, votes, weights, prior)
    for _ in range(MAX_ITERATIONS):
        # In place where the arithmetic stays the same: a few vectors per vote alive at once, not a dozen.
        p = _probabilities(logits)
        residual = votes.outcome - p
        if weights is not None:
            residual *= weights
        gradient = np.concatenate([votes.model_sums(votes.pair_sums(residual)), votes.z.T @ residual]) - prior * params
        del residual
        curvature = p.copy() if weights is None else weights * p
        np.subtract(1.0, p, out=p)
        curvature *= p
        del p
        step = np.linalg.solve(_outer_sum(votes, curvature) + extra, gradient)
        del curvature
        length = 1.0
        while True:
            candidate = params + length * step
            candidate_logits = votes.logits(candidate)
            candidate_value = _objective(candidate_logits, candidate, votes, weights, prior)
            small = length * np.abs(step).max() < TOLERANCE
            if (
                candidate_value >= value + 1e-4 * length * (gradient @ step)
                or small
                or rounding_only(candidate_value, value)
            ):
                break
            length /= 2.0
        params, value, logits = candidate, candidate_value, candidate_logits
        if length * np.abs(step).max() < TOLERANCE:
            return params
    raise ConvergenceError("style-control fit did not converge")


def _part_priors(votes: _Votes, weights: np.ndarray | None, parts: list[np.ndarray]) -> np.ndarray:
    """PRIOR_PRECISION on the strengths of parts whose plain Bradley-Terry maximum is not finite."""
    n = votes.n
    prior = np.zeros(n + votes.z.shape[1])
    scored_a = votes.pair_sums((votes.outcome > 0) if weights is None else weights * (votes.outcome > 0))
    scored_b = votes.pair_sums((votes.outcome < 1) if weights is None else weights * (votes.outcome < 1))
    forward = np.bincount(votes.pair_a * n + votes.pair_b, scored_a, n * n).reshape(n, n)
    forward += np.bincount(votes.pair_b * n + votes.pair_a, scored_b, n * n).reshape(n, n)
    # forward[i, j]: how often i scored (won or tied) against j
    for members in parts:
        block = forward[np.ix_(members, members)]
        first, second = np.nonzero(np.triu(block + block.T) > 0)
        if not has_finite_mle(len(members), first, second, block[first, second], block[second, first]):
            prior[members] = PRIOR_PRECISION
    return prior


def _ratings(
    strengths: np.ndarray, models: tuple[str, ...], parts: list[np.ndarray], anchor: Anchor | None
) -> np.ndarray:
    ratings = np.zeros(strengths.shape)
    for members in parts:
        ratings[..., members] = to_elo(strengths[..., members], gauge([models[i] for i in members], anchor))
    return ratings


def fit_style_control(
    battles: pd.DataFrame,
    models: tuple[str, ...],
    parts: np.ndarray,
    *,
    anchor: Anchor | tuple[str, float] | None = None,
    ci: str = "sandwich",
    rounds: int = 1000,
    seed: int = 0,
    start: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> StyleFit:
    """Style-controlled ratings for `models` (parts: the part label of each, from fit.fit_ratings). `start`: the
    plain fit's strengths (natural scale), where Newton starts: fewer steps to the same maximum. `weights`: one per
    vote (inverse sampling propensity, source weight; leaderboard.weights), None for one each: the weighted maximum
    likelihood with the weighted sandwich, and a bootstrap whose rounds keep each vote's weight."""
    anchor = as_anchor(anchor)
    categories = pd.CategoricalDtype(list(models))
    side_a = battles["model_a"].astype(categories).cat.codes.to_numpy()
    side_b = battles["model_b"].astype(categories).cat.codes.to_numpy()
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(battles),) or not np.all(np.isfinite(weights) & (weights > 0)):
            raise ValueError("style control needs one finite, positive weight per vote")
    covariates = style_covariates(battles, weights)
    votes = _Votes.tagged(len(models), side_a, side_b, covariates.values, vote_scores(battles["winner"]))
    shared = _shared_battles(battles, side_a, side_b, len(models)) if ci != "none" else None
    del side_a, side_b
    n, k = votes.n, len(covariates.features)
    groups = [np.flatnonzero(parts == label) for label in range(int(parts.max()) + 1)] if n else []
    warnings = [
        f"Style control leaves out {feature}: it is the same for every vote." for feature in covariates.constant
    ] + [
        f"Style control leaves out {feature}: in these votes it is a linear combination of {kept}."
        for feature, kept in covariates.redundant
    ]
    prior = _part_priors(votes, weights, groups)
    initial = np.zeros(n + k)
    if start is not None and np.isfinite(start).all():
        initial[:n] = start
    try:
        params = _fit(votes, weights, groups, prior, initial)
    except (ConvergenceError, np.linalg.LinAlgError):  # singular: the curvature vanished along a separating direction
        prior = np.full(n + k, PRIOR_PRECISION)
        params = _fit(votes, weights, groups, prior, np.zeros(n + k))
        warnings.append(
            "The style-controlled fit has no finite maximum (the style features alone separate winners from "
            "losers); it uses an L2 prior on all its parameters."
        )
    if prior[:n].any() and not prior[n:].any():
        warnings.append("Some style-controlled ratings use the L2 prior: their part has no finite maximum.")
    strengths = params[:n].copy()
    for members in groups:
        strengths[members] -= strengths[members].mean()
    rating = _ratings(strengths, models, groups, anchor)
    lower, upper = np.full(n, np.nan), np.full(n, np.nan)
    beta_lower, beta_upper = np.full(k, np.nan), np.full(k, np.nan)
    if ci == "sandwich":
        p = _probabilities(votes.logits(params))
        curvature = p * (1.0 - p) if weights is None else weights * p * (1.0 - p)
        inverse = np.linalg.inv(_outer_sum(votes, curvature) + _gauge_terms(n, k, groups, prior))
        residual = votes.outcome - p if weights is None else weights * (votes.outcome - p)
        meat = _outer_sum(votes, residual**2)
        if shared is not None:
            meat += _within_battle_terms(votes, shared, residual)
        covariance = inverse @ meat @ inverse
        for members in groups:
            where = gauge([models[i] for i in members], anchor)
            variance = np.diag(rating_covariance(covariance[np.ix_(members, members)], where))
            spread = Z95 * np.sqrt(np.maximum(variance, 0.0))
            lower[members], upper[members] = rating[members] - spread, rating[members] + spread
        beta_spread = Z95 * np.sqrt(np.maximum(np.diag(covariance)[n:], 0.0))
        beta_lower, beta_upper = params[n:] - beta_spread, params[n:] + beta_spread
    elif ci == "bootstrap":
        samples = _bootstrap(votes, groups, params, prior, rounds, seed, shared, weights)
        lower, upper = percentile_bounds(_ratings(samples[:, :n], models, groups, anchor))
        beta_lower, beta_upper = percentile_bounds(samples[:, n:])
    rank_ub = np.ones(n, dtype=np.int64)
    for members in groups:
        if ci == "none":
            rank_ub[members] = 1 + (rating[members][None, :] > rating[members][:, None]).sum(axis=1)
        else:
            rank_ub[members] = rank_upper_bound(lower[members], upper[members])
    coefficients = tuple(
        StyleCoefficient(feature, float(params[n + j]), float(beta_lower[j]), float(beta_upper[j]))
        for j, feature in enumerate(covariates.features)
    )
    return StyleFit(models, rating, lower, upper, rank_ub, coefficients, covariates, strengths, tuple(warnings))


def _bootstrap(
    votes: _Votes,
    groups: list[np.ndarray],
    params: np.ndarray,
    prior: np.ndarray,
    rounds: int,
    seed: int,
    battles: np.ndarray | None = None,
    vote_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Parameters (rounds, n + k) refitted on votes resampled with replacement; with `battles` (each vote's battle
    code), on battles resampled with replacement, every drawn battle bringing all its votes. A resampled vote keeps
    its weight (`vote_weights`)."""

    def block(draws: np.ndarray) -> np.ndarray:
        fitted = np.empty((len(draws), len(params)))
        per_vote = draws if battles is None else draws[:, battles]  # a vote weighs its battle's draws
        for row, weights in enumerate(per_vote.astype(float)):  # in the votes' order
            if vote_weights is not None:
                weights *= vote_weights
            round_prior = np.maximum(prior, _part_priors(votes, weights, groups))
            try:
                fitted[row] = _fit(votes, weights, groups, round_prior, params)
            except (ConvergenceError, np.linalg.LinAlgError):  # the resampled style features separate the outcomes
                fitted[row] = _fit(votes, weights, groups, np.full(len(params), PRIOR_PRECISION), params)
        return fitted

    per_block = max(1, min(125, _BOOTSTRAP_CELLS // max(1, len(votes.outcome))))
    units = np.ones(len(votes.outcome)) if battles is None else np.ones(int(battles.max()) + 1)
    return np.concatenate(map_multinomial_rounds(units, rounds, seed, block, per_block))


def style_logits(fit: StyleFit, battles: pd.DataFrame) -> np.ndarray:
    """Log-odds that model_a wins each vote, from the style-controlled fit (battles need the style features)."""
    index = {model: i for i, model in enumerate(fit.models)}
    side_a, side_b = battles["model_a"].map(index), battles["model_b"].map(index)
    if side_a.isna().any() or side_b.isna().any():
        raise ValueError("style_logits: a vote names a model the style-controlled fit has not rated")
    side_a, side_b = side_a.to_numpy(dtype=np.int64), side_b.to_numpy(dtype=np.int64)
    raw = _raw_covariates(battles)
    kept = [STYLE_FEATURES.index(f) for f in fit.covariates.features]
    z = (raw[:, kept] - fit.covariates.mean) / fit.covariates.sd
    beta = np.array([c.estimate for c in fit.coefficients])
    return (fit.rating[side_a] - fit.rating[side_b]) / ELO_PER_NAT + z @ beta
