"""The Elo scale and its anchor: how natural-scale Bradley-Terry strengths become ratings people read.

A strength difference d (natural log-odds) is a rating difference d * ELO_PER_NAT, so that a 400-point lead
means 10:1 odds (SCALE 400, BASE 10), as in Chatbot Arena. Ratings are only defined up to a shift (the gauge);
the anchor fixes it: either one model pinned to a rating (Anchor("gpt-4", 1200.0)), or, with no anchor, the
mean rating of the models fixed at INITIAL (1000).

    Anchor(model, rating)                  the explicit anchor
    as_anchor(value) -> Anchor | None      accepts an Anchor, a (model, rating) pair or None
    gauge(models, anchor) -> Gauge         the weights c and target t of the constraint  c . rating = t
    to_elo(theta, gauge) -> ratings        natural-scale strengths (any leading batch axes) to Elo ratings
    win_probability(r_i, r_j) -> P(i beats j) for Elo ratings
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCALE = 400.0
BASE = 10.0
INITIAL = 1000.0
ELO_PER_NAT = SCALE / math.log(BASE)


@dataclass(frozen=True)
class Anchor:
    """Pin `model` at `rating`; the other ratings follow from the votes."""

    model: str
    rating: float


@dataclass(frozen=True, eq=False)
class Gauge:
    """The ratings satisfy weights . ratings = target (weights sum to 1)."""

    weights: np.ndarray
    target: float
    anchored: bool  # True when one model is pinned, False for the mean gauge


def as_anchor(value: Anchor | tuple[str, float] | None) -> Anchor | None:
    if value is None or isinstance(value, Anchor):
        return value
    model, rating = value
    return Anchor(str(model), float(rating))


def gauge(models: tuple[str, ...] | list[str], anchor: Anchor | None) -> Gauge:
    """The anchor's constraint when the anchor model is among `models`, else mean rating = INITIAL."""
    n = len(models)
    if anchor is not None and anchor.model in models:
        weights = np.zeros(n)
        weights[list(models).index(anchor.model)] = 1.0
        return Gauge(weights, anchor.rating, True)
    return Gauge(np.full(n, 1.0 / n) if n else np.zeros(0), INITIAL, False)


def to_elo(theta: np.ndarray, where: Gauge) -> np.ndarray:
    """Strengths (..., n) on the natural scale to ratings (..., n) meeting the gauge constraint."""
    ratings = np.asarray(theta, dtype=float) * ELO_PER_NAT
    offset = where.target - (ratings * where.weights).sum(axis=-1)  # not `@`: no BLAS threads in the bootstrap
    return ratings + np.asarray(offset)[..., None]


def win_probability(rating_i: np.ndarray | float, rating_j: np.ndarray | float) -> np.ndarray:
    """P(i beats j) under Bradley-Terry, a tie counting half."""
    return 1.0 / (1.0 + np.power(BASE, (np.asarray(rating_j) - np.asarray(rating_i)) / SCALE))
