"""Predictive validity (FastChat issue #3065): does the leaderboard predict votes it has not seen?

    validate(battles, *, source="human", category=None, train_fraction=0.8, anchor=None, min_votes=0)
        -> ValidationReport

The selected votes (selection.select_votes) are ordered by tstamp, ties in tstamp kept in table order; the
first train_fraction of them train, the rest test. Each method is fitted on the training votes only and gives
p = P(model_a wins) for every test vote:
  "coin flip"                       p = 1/2
  "bradley-terry"                   the ratings of fit.fit_ratings
  "online elo"                      K=4 Elo replayed over the training votes, then frozen
  "style-controlled bradley-terry"  the style-controlled fit, with the test vote's own style covariates
                                    (normalised as the training votes were); only when every vote has them
A test vote naming a model without training votes, or two models in different training groups, has no
prediction from the ratings: it is left out for every method (n_skipped), so all methods score the same votes.

Scoring, with y = 1, 1/2, 0 when model_a wins, ties (either label) or loses:
  log_loss  mean of -(y ln p + (1 - y) ln(1 - p)): a tie scores as half a win and half a loss, as in the fit.
            A coin scores ln 2 = 0.693 on every vote; no method can beat ln 2 on a tie.
  accuracy  share of decisive test votes (ties left out) whose winner had p > 1/2; p = 1/2 counts half.
Verdict: improvement = mean over test votes of (ln 2 - Bradley-Terry loss), with its standard error; the
leaderboard "predicts better than a coin flip" when improvement > 1.96 standard errors, otherwise the verdict
says it predicts no better than a coin.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from facts.schema import STYLE_COLUMNS
from leaderboard.elo import online_elo, vote_scores
from leaderboard.fit import fit_ratings
from leaderboard.intervals import Z95
from leaderboard.outcomes import count_outcomes
from leaderboard.scale import ELO_PER_NAT, Anchor
from leaderboard.selection import select_votes
from leaderboard.style_control import fit_style_control, style_logits

COIN = "coin flip"
BRADLEY_TERRY = "bradley-terry"
ONLINE_ELO = "online elo"
STYLE_CONTROLLED = "style-controlled bradley-terry"


@dataclass(frozen=True)
class MethodScore:
    method: str
    log_loss: float
    accuracy: float  # on decisive votes only
    n_votes: int
    n_decisive: int


@dataclass(frozen=True)
class ValidationReport:
    n_train: int
    n_test: int  # scored test votes
    n_skipped: int  # test votes no rating could predict
    split_tstamp: float | None  # tstamp of the first test vote
    train_fraction: float
    scores: tuple[MethodScore, ...]
    improvement: float  # mean (ln 2 - Bradley-Terry log-loss) per test vote
    standard_error: float
    better_than_coin: bool
    verdict: str
    notes: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(score) for score in self.scores])


def _losses(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-15, 1.0 - 1e-15)
    return -(y * np.log(p) + (1.0 - y) * np.log1p(-p))


def _score(method: str, p: np.ndarray, y: np.ndarray) -> MethodScore:
    decisive = y != 0.5
    hits = np.where(p[decisive] == 0.5, 0.5, ((p[decisive] > 0.5) == (y[decisive] == 1.0)).astype(float))
    accuracy = float(hits.mean()) if decisive.any() else math.nan
    return MethodScore(method, float(_losses(p, y).mean()), accuracy, len(y), int(decisive.sum()))


def _not_enough(n_train: int, n_test: int, fraction: float, why: str, notes: tuple[str, ...]) -> ValidationReport:
    return ValidationReport(n_train, 0, n_test, None, fraction, (), math.nan, math.nan, False, why, notes)


def validate(
    battles: pd.DataFrame,
    *,
    source: str | None = "human",
    category: str | None = None,
    train_fraction: float = 0.8,
    anchor: Anchor | tuple[str, float] | None = None,
    min_votes: int = 0,
    normalized: bool = False,
) -> ValidationReport:
    """`normalized`: `battles` already went through facts.schema.normalize_battles."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError("train_fraction must be strictly between 0 and 1")
    selection = select_votes(battles, source=source, category=category, min_votes=min_votes, normalized=normalized)
    votes = selection.votes
    tstamp = votes["tstamp"].to_numpy()
    if (tstamp[1:] < tstamp[:-1]).any():  # the store's votes come in time order already: no copy then
        votes = votes.iloc[np.argsort(tstamp, kind="stable")]
    notes = list(selection.notes)
    if len(votes) and tstamp.min() == tstamp.max():  # one distinct time (no hashing of millions of values)
        notes.append("The votes carry no distinct timestamps: the split follows the table's row order.")
    n_train = math.floor(train_fraction * len(votes))
    train, test = votes.iloc[:n_train], votes.iloc[n_train:]
    split = float(test["tstamp"].iloc[0]) if len(test) else None
    if n_train == 0 or len(test) == 0:
        why = f"Not enough votes to validate: {len(votes)} counted, {n_train} to train on, {len(test)} to test."
        return _not_enough(n_train, len(test), train_fraction, why, tuple(notes))
    counts = count_outcomes(train, by_battle=False)  # no interval: the battle sums would go unread
    fit = fit_ratings(counts, anchor=anchor, ci="none")
    index = {model: i for i, model in enumerate(counts.models)}
    side_a = test["model_a"].map(index).to_numpy(dtype=float)
    side_b = test["model_b"].map(index).to_numpy(dtype=float)
    known = ~np.isnan(side_a) & ~np.isnan(side_b)
    a, b = np.where(known, side_a, 0).astype(np.int64), np.where(known, side_b, 0).astype(np.int64)
    usable = known & (fit.part[a] == fit.part[b])
    if not usable.all():  # usually all are: no copy of the test votes then
        test, a, b = test[usable], a[usable], b[usable]
    n_skipped = int((~usable).sum())
    if n_skipped:
        notes.append(f"{n_skipped} test votes involve a model unseen in training, or two separate groups: left out.")
    if len(test) == 0:
        why = "No test vote can be predicted from the training votes."
        return _not_enough(n_train, n_skipped, train_fraction, why, tuple(notes))
    y = vote_scores(test["winner"])
    bt = 1.0 / (1.0 + np.exp(-(fit.rating[a] - fit.rating[b]) / ELO_PER_NAT))
    elo = online_elo(train, models=counts.models).ratings
    scores = [
        _score(COIN, np.full(len(y), 0.5), y),
        _score(BRADLEY_TERRY, bt, y),
        _score(ONLINE_ELO, 1.0 / (1.0 + np.exp(-(elo[a] - elo[b]) / ELO_PER_NAT)), y),
    ]
    if not votes[list(STYLE_COLUMNS)].isna().any().any():
        style = fit_style_control(train, counts.models, fit.part, anchor=anchor, ci="none")
        scores.append(_score(STYLE_CONTROLLED, 1.0 / (1.0 + np.exp(-style_logits(style, test))), y))
    else:
        notes.append("Style-controlled Bradley-Terry not scored: some votes lack style features.")
    gains = math.log(2.0) - _losses(bt, y)
    improvement = float(gains.mean())
    standard_error = float(gains.std(ddof=1) / math.sqrt(len(gains))) if len(gains) > 1 else math.inf
    better = improvement > Z95 * standard_error
    bt_score = scores[1]
    if better:
        verdict = (
            f"The leaderboard predicts better than a coin flip: fitted on the {n_train} earlier votes, Bradley-Terry "
            f"has log-loss {bt_score.log_loss:.4f} on the {len(y)} later ones against {math.log(2):.4f} for a coin "
            f"(improvement {improvement:.4f} ± {Z95 * standard_error:.4f}), accuracy {bt_score.accuracy:.1%} on "
            "decisive votes."
        )
    else:
        verdict = (
            f"The leaderboard predicts no better than a coin flip: on the {len(y)} latest votes, Bradley-Terry fitted "
            f"on the {n_train} earlier ones has log-loss {bt_score.log_loss:.4f} against {math.log(2):.4f} for a "
            f"coin (improvement {improvement:+.4f} ± {Z95 * standard_error:.4f}). Its order may reflect noise more "
            "than real differences; more votes per model would tell."
        )
    return ValidationReport(
        n_train=n_train,
        n_test=len(y),
        n_skipped=n_skipped,
        split_tstamp=split,
        train_fraction=train_fraction,
        scores=tuple(scores),
        improvement=improvement,
        standard_error=standard_error,
        better_than_coin=better,
        verdict=verdict,
        notes=tuple(notes),
    )
