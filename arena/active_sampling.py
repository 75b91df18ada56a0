"""Active pair sampling (issue 20): which pair the next anonymous battle should show, given the leaderboard.

    pair_probabilities(names, standings, *, floor, rule="ours", pair_votes=None) -> {pair: prob}

Pure and deterministic: a probability for every unordered pair (key: the sorted tuple) of sorted(set(names)),
summing to 1, each at least floor / number_of_pairs, since a uniform floor is mixed in:

    P = floor * uniform + (1 - floor) * P_rule

`standings` maps a model to (counted votes, lower, upper), its 95% interval in Elo points from the newest
leaderboard snapshot. The rating is (lower + upper) / 2 (the sandwich interval is symmetric); a model missing
from the standings, or with a NaN bound, is maximally uncertain: it gets the standard deviation of the L2 prior
the fit falls back on (about 550 Elo) and rating the mean of the known ones, and its pairs are favoured.
The standard deviation of a model, in natural units, is sd = (upper - lower) / (2 * 1.96) / ELO_PER_NAT,
capped at that prior's.

rule="paper" — Chatbot Arena (Chiang et al. 2024, arXiv 2403.04132, Eq. 9): pair a is drawn with probability
proportional to sqrt(S_a / n_a) - sqrt(S_a / (n_a + 1)), the reduction of the pair's win-rate interval from one
more vote; n_a the pair's votes (`pair_votes`, required; a missing pair has 0). The paper takes S_a from the
covariance of its inverse-propensity win-rate estimates, and its code was not released; here S_a is the
variance of one vote's outcome under the current ratings, p_a (1 - p_a) with p_a = win probability from the
ratings' difference (a binomial vote; ties lower it a little for every pair alike). Pairs with no vote yet have
an infinite reduction: the rule then draws among them only, proportionally to sqrt(S_a) (the limit).

rule="ours" — designed for the goal "every model's 95% interval narrower than a target" under the ratings production
reports: inverse-propensity weighted (facts/propensity.py: weight = uniform / drawn pair probability). For a
vote drawn with probabilities q, weighted by u / q_a (u the uniform pair probability), the weighted fit's Hessian
gains u * I_a x_a x_a^T in expectation WHATEVER the policy (I_a = p_a (1 - p_a), x_a = e_i - e_j): sampling
cannot add information to the weighted estimate. It only changes the sandwich's meat, which gains
u^2 * sum_a (m_a / q_a) x_a x_a^T (m_a ~ I_a the variance of one vote's score). The variance of model k is
[H^-1 B H^-1]_kk, so the weighted sum of variances sum_k w_k Var_k grows per vote by u^2 sum_a I_a g_a / q_a,
g_a = sum_k w_k (H^-1 x_a)_k^2, which is smallest (sum_a q_a = 1) for Neyman's allocation

    q_a  proportional to  sqrt(I_a * g_a),    H = sum_a I_a x_a x_a^T (every pair once; the gauge fixed by J/n)

H is computed from the ratings alone (no policy in it), so the rule does not feed on its own past. The focus
w_k = (sd_k / max sd)^(2 * FOCUS) turns "the sum of variances" into a soft maximum (the gradient of
sum_k Var_k^(FOCUS + 1)): the goal is met when the WIDEST interval is narrow enough, so the widest models count
most, and no model is dropped (under inverse-propensity weights a model whose pairs are starved can widen again
as high-weight votes accumulate, so a hard "only the models above the target" focus backfires). FOCUS = 2 was
the best of 0, 1, 2, 4, 8 in benchmarks/active_sampling.py; once every model has an interval it keeps every
pair within about 0.8-1.4x its uniform probability (weights of at most 2.2 in the benchmark, from the first
refreshes), so weights stay near 1. An unknown model (sd of the prior) dominates the focus: its pairs
take the non-floor share until the snapshot knows it.
Why not the greedy rule (q ~ the expected variance reduction, sum_k var_k^2 I_a over the pair's two models, what
an unweighted fit would suggest)? It moves far from uniform, and every vote drawn on a neglected pair weighs up to
1 / floor in the weighted fit, whose variance grows with the squared weights: a first version of this rule (the
square root of that greedy gain, with the snapshot's variances in place of H^-1 and only the models above a
target) needed 2-3x the votes of uniform sampling in the benchmark's quick mode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np

from leaderboard.bradley_terry import laplacian
from leaderboard.intervals import Z95
from leaderboard.scale import ELO_PER_NAT

RULES = ("ours", "paper")
FOCUS = 2  # the focus on the widest models (see the module docstring)
PRIOR_SD = 1.0 / math.sqrt(0.1)  # natural units: the L2 prior of leaderboard.bradley_terry (precision 0.1)
Standing = tuple[int, float, float]


def _model_state(models: list[str], standings: Mapping[str, Standing]) -> tuple[np.ndarray, np.ndarray]:
    """(strength, sd) per model in natural units; unknown models: the known ones' mean and the prior's sd."""
    n = len(models)
    strength, sd = np.full(n, np.nan), np.full(n, PRIOR_SD)
    for k, name in enumerate(models):
        standing = standings.get(name)
        if standing is None:
            continue
        lower, upper = float(standing[1]), float(standing[2])
        if not (math.isfinite(lower) and math.isfinite(upper)) or upper < lower:
            continue
        strength[k] = (lower + upper) / 2.0 / ELO_PER_NAT
        sd[k] = min(max((upper - lower) / (2.0 * Z95) / ELO_PER_NAT, 0.0), PRIOR_SD)
    known = np.isfinite(strength)
    strength[~known] = strength[known].mean() if known.any() else 0.0
    return strength, sd


def _normalised(scores: np.ndarray) -> np.ndarray:
    """scores / sum, uniform when nothing is positive (or finite)."""
    scores = np.where(np.isfinite(scores) & (scores > 0), scores, 0.0)
    total = scores.sum()
    return scores / total if total > 0 else np.full(len(scores), 1.0 / len(scores))


def _paper(pairs: list[tuple[str, str]], information: np.ndarray, pair_votes: Mapping) -> np.ndarray:
    votes = np.array([max(float(pair_votes.get(pair, pair_votes.get(pair[::-1], 0)) or 0), 0.0) for pair in pairs])
    root = np.sqrt(information)
    unseen = votes == 0
    if unseen.any():  # the limit n_a -> 0: only the unseen pairs, in proportion to sqrt(S_a)
        return _normalised(np.where(unseen, root, 0.0))
    return _normalised(root * (1.0 / np.sqrt(votes) - 1.0 / np.sqrt(votes + 1.0)))


def _ours(first: np.ndarray, second: np.ndarray, information: np.ndarray, sd: np.ndarray) -> np.ndarray:
    n = len(sd)
    hessian = laplacian(n, first, second, information) + 1.0 / n  # the J/n fixes the gauge; x_a is orthogonal to it
    inverse = np.linalg.inv(hessian)
    lever = inverse[first] - inverse[second]  # (pairs, models): H^-1 x_a
    focus = (sd / sd.max()) ** (2 * FOCUS)
    gain = information * (lever**2 @ focus)
    return _normalised(np.sqrt(gain))


def pair_probabilities(
    names: Sequence[str],
    standings: Mapping[str, Standing],
    *,
    floor: float,
    rule: str = "ours",
    pair_votes: Mapping[tuple[str, str], int] | None = None,
) -> dict[tuple[str, str], float]:
    """Probability of every unordered pair of sorted(set(names)) (see the module docstring)."""
    models = sorted({str(name) for name in names})
    if len(models) < 2:
        raise ValueError(f"pair sampling needs at least 2 models, got {len(models)}")
    floor = float(floor)
    if not 0.0 <= floor <= 1.0:  # also rejects NaN
        raise ValueError(f"floor must be in [0, 1], not {floor!r}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, not {rule!r}")
    if rule == "paper" and pair_votes is None:
        raise ValueError('rule="paper" needs pair_votes (the votes each pair has had)')
    pairs = list(combinations(models, 2))
    index = {name: k for k, name in enumerate(models)}
    first = np.array([index[a] for a, _ in pairs])
    second = np.array([index[b] for _, b in pairs])
    strength, sd = _model_state(models, standings)
    p = 1.0 / (1.0 + np.exp(np.clip(strength[second] - strength[first], -50.0, 50.0)))
    information = p * (1.0 - p)
    if floor >= 1.0:
        rule_p = np.zeros(len(pairs))
    elif rule == "paper":
        rule_p = _paper(pairs, information, pair_votes or {})
    else:
        rule_p = _ours(first, second, information, sd)
    probabilities = floor / len(pairs) + (1.0 - floor) * rule_p
    probabilities = probabilities / probabilities.sum()
    return {pair: float(q) for pair, q in zip(pairs, probabilities, strict=True)}
