"""How much each counted vote weighs in a fit: inverse sampling propensity, and a source's weight in a composite.

    WEIGHTINGS = ("auto", "propensity", "none")
    vote_weights(votes, weighting="auto", source_weights=None) -> VoteWeights(weights or None, scheme, note)
    propensity_weights(votes) -> one weight per vote (facts.propensity; 1 where nothing is stored)

Why: when pairs are drawn non-uniformly (active sampling, burn-in), the arena sees some pairs far more often than
others. Under a Bradley-Terry model that holds exactly this changes nothing (every pair's votes estimate the same
strengths), but real preferences are never exactly Bradley-Terry (they are not perfectly transitive, and people
differ), and then the fit is the Bradley-Terry projection *weighted by how often each pair was shown*: the ratings
would depend on the sampling policy. Weighting each vote by the inverse of its pair's sampling propensity
(uniform probability / pair probability, computed in one place: facts.propensity.inverse_propensity_weights)
restores the target everyone knows, the ratings a uniform arena would converge to.

weighting:
    "auto" (default)   inverse-propensity weights when some vote's weight is not 1 (facts.propensity.is_uniform);
                       otherwise no weights at all, so the fit is exactly the unweighted one
    "propensity"       the same (named for callers that want to say so); a note is given either way
    "none"             plain counts, whatever the sampling
source_weights: {source: weight} for a composite rating (leaderboard.composite), multiplied into each vote's
weight; votes of a source weighted 0 are left out by the caller before this is asked.

The weights are fixed when a vote is cast (the probability its pair had): the fit is a weighted maximum likelihood
whose sandwich intervals (A^-1 B A^-1, A = sum w p (1-p) x x^T, B = sum w^2 (y-p)^2 x x^T) account for them, at the
cost of a smaller effective sample (sum w)^2 / sum w^2, reported in the note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from facts.propensity import inverse_propensity_weights, is_uniform

AUTO, PROPENSITY, NONE = "auto", "propensity", "none"
WEIGHTINGS = (AUTO, PROPENSITY, NONE)
PROPENSITY_COLUMNS = ("pair_probability", "pool_size")


@dataclass(frozen=True, eq=False)
class VoteWeights:
    weights: np.ndarray | None  # one per vote; None: plain counts (every vote weighs 1)
    scheme: str  # "none", "propensity" (inverse-propensity weights applied), "composite" (source x propensity)
    note: str  # what was done, for the page and the command line ("" when nothing needs saying)


def propensity_weights(votes: pd.DataFrame) -> np.ndarray:
    """Inverse-propensity weight of every vote; 1 where the battle stored no propensity (or the columns are absent)."""
    if not all(column in votes.columns for column in PROPENSITY_COLUMNS):
        return np.ones(len(votes))
    return inverse_propensity_weights(
        pd.to_numeric(votes["pair_probability"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan),
        pd.to_numeric(votes["pool_size"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan),
    )


def _spread(weights: np.ndarray) -> str:
    effective = weights.sum() ** 2 / (weights * weights).sum()
    unequal = int(np.count_nonzero(np.abs(weights - 1.0) > 1e-9))
    return (
        f"{unequal:,} of {len(weights):,} votes weigh other than 1 (from {weights.min():.3g} to {weights.max():.3g}); "
        f"effective sample size {effective:,.0f} votes"
    )


def vote_weights(
    votes: pd.DataFrame, weighting: str = AUTO, source_weights: Mapping[str, float] | None = None
) -> VoteWeights:
    """The weights a fit of `votes` uses (module docstring); None when every vote weighs 1."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, not {weighting!r}")
    propensity = np.ones(len(votes)) if weighting == NONE else propensity_weights(votes)
    sampled = not is_uniform(propensity)
    ipw_note = (
        "Pairs were not drawn uniformly (active sampling): each vote is weighted by the inverse of its pair's "
        "sampling propensity, so the ratings are those a uniform arena would converge to; " + _spread(propensity) + "."
        if sampled
        else ""
    )
    if source_weights is not None:
        per_source = votes["source"].astype(str).map(lambda s: float(source_weights.get(s, 0.0)))
        weights = propensity * per_source.to_numpy(dtype=np.float64)
        if is_uniform(weights):
            return VoteWeights(None, "composite", ipw_note)
        return VoteWeights(weights, "composite", ipw_note)
    if not sampled:
        note = (
            "Every vote weighs 1 (its pair was drawn uniformly, or no propensity was stored)."
            if (weighting == PROPENSITY)
            else ""
        )
        return VoteWeights(None, NONE, note)
    return VoteWeights(propensity, PROPENSITY, ipw_note)


def unweighted_note(votes: pd.DataFrame) -> str:
    """For weighting="none": a warning when the sampling was not uniform (the plain ratings depend on it)."""
    weights = propensity_weights(votes)
    if is_uniform(weights):
        return ""
    return (
        "Pairs were not drawn uniformly, and these ratings are NOT weighted for it (weighting none): they are the "
        "Bradley-Terry fit of the pairs as shown, which depends on the sampling policy; " + _spread(weights) + "."
    )
