"""Ratings from arena votes: the public API (everything here is re-exported from the modules that do the work).

    compute_leaderboard(battles, *, source="human", category=None, style_control=False, ci="sandwich",
                        rounds=1000, seed=0, anchor=None, min_votes=0) -> Leaderboard          (table.py)
    compute_category_leaderboards(battles, *, categories=None, **options) -> {category: Leaderboard}
    validate(battles, *, source="human", category=None, train_fraction=0.8, anchor=None, min_votes=0)
        -> ValidationReport                                                                   (validation.py)
    Leaderboard.to_frame() / .to_dict() / .matrices() -> PairMatrices                         (matrices.py)
    online_elo(battles) -> OnlineElo                                                          (elo.py)
    Anchor(model, rating); anchor may also be a (model, rating) pair                          (scale.py)

What the numbers are
  Bradley-Terry maximum likelihood, a tie (either label) half a win each way, on the Elo scale: 400 points
  = 10:1 odds, fixed by the anchor model's rating or, with no anchor, mean 1000. Only anonymous, unflagged
  votes of one source count (source=None pools all sources on purpose). Fits run on counts per pair of
  models, never on raw rows, so their cost does not grow with the number of votes (outcomes.py,
  bradley_terry.py: Newton's method, exact to 1e-8 Elo).
  95% intervals (intervals.py): ci="sandwich" (robust Huber-White standard errors, default), "bootstrap"
  (multinomial resampling of the votes, `rounds` rounds seeded by `seed`), "none". Rank (UB) = 1 + models
  whose lower bound is above this model's upper bound.
  Degenerate data (fit.py): no votes -> an empty Leaderboard with a message; a model that only won or only
  lost, or any group without a finite maximum -> the group is fitted with a small L2 prior (sd about 550 Elo),
  flagged and explained in warnings; several disconnected groups -> each rated on its own, centred at 1000
  (the anchor's group at the anchor), flagged "group k", warned.
  Style control (style_control.py): length, headers, lists and bold as (a - b) / (a + b + 1), z-normalised,
  fitted jointly with the ratings; coefficients in log-odds per standard deviation.
  Online Elo (elo.py): K = 4 in tstamp order, a diagnostic column.
  Predictive validity (validation.py): train on earlier votes, score later ones (log-loss, tie = half;
  accuracy on decisive votes) against a coin flip, with a verdict sentence.

The rating core is pure numpy/pandas: no UI, database or torch imports.
"""

from facts.schema import BattlesError
from leaderboard.elo import OnlineElo, online_elo
from leaderboard.matrices import PairMatrices
from leaderboard.scale import Anchor
from leaderboard.style_control import StyleCoefficient, StyleFeaturesMissing
from leaderboard.table import Leaderboard, LeaderboardRow, compute_category_leaderboards, compute_leaderboard
from leaderboard.validation import MethodScore, ValidationReport, validate

__all__ = [
    "Anchor",
    "BattlesError",
    "Leaderboard",
    "LeaderboardRow",
    "MethodScore",
    "OnlineElo",
    "PairMatrices",
    "StyleCoefficient",
    "StyleFeaturesMissing",
    "ValidationReport",
    "compute_category_leaderboards",
    "compute_leaderboard",
    "online_elo",
    "validate",
]
