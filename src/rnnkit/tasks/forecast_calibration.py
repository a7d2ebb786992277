"""Calibrating prediction intervals on held-out periods (split conformal prediction, after
Vovk et al. 2005 and Romano et al.'s conformalized quantile regression, 2019).

A model's interval is only as honest as its spread: a network that fits its training
windows closely under-states its errors on new periods, one that early-stops on a noisy
series may over-state them. Calibration measures how far outside its interval each
held-out value falls, in units of the interval's own half-width on that side,

    s = (y - central) / (upper - central)   if y >= central
    s = (central - y) / (central - lower)   otherwise          (s <= 1: inside)

and takes the factor ``f`` that puts the wanted share of those scores inside (their
``ceil((n + 1) * coverage) / n`` empirical quantile, the finite-sample conformal rank).
Every later interval is then stretched (f > 1) or shrunk (f < 1) about its centre:

    lower' = central - f * (central - lower),   upper' = central + f * (upper - central)

Asymmetric intervals (quantile heads, or a log scale) keep their shape. Scores are
invariant to any increasing affine map (the scaler), so they can be computed in the model's
units.
"""

from __future__ import annotations

import math

import numpy as np


def interval_scores(
    actual: np.ndarray, central: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """(N,) scores of the observed values of ``actual`` (same shape as the others, NaN where
    unobserved or not held out): at most 1 inside the interval, above 1 outside."""
    seen = ~np.isnan(actual)
    y, c, lo, hi = actual[seen], central[seen], lower[seen], upper[seen]
    tiny = np.finfo(np.float64).tiny  # a zero half-width: any miss is infinitely far
    with np.errstate(over="ignore"):  # that infinity is meant, not a warning for the user
        above = (y - c) / np.maximum(hi - c, tiny)
        below = (c - y) / np.maximum(c - lo, tiny)
    return np.where(y >= c, above, below)


def spread_factor(scores: np.ndarray, coverage: float) -> float:
    """The factor that makes the interval cover ``coverage`` of ``scores``: their
    conformal quantile (the largest score when there are too few for the wanted rank);
    1 without any score."""
    if len(scores) == 0:
        return 1.0
    rank = min(math.ceil((len(scores) + 1) * coverage), len(scores))
    return float(np.sort(scores)[rank - 1])


def widen(
    central: np.ndarray, lower: np.ndarray, upper: np.ndarray, factor: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """-> (lower', upper'): the interval stretched by ``factor`` about ``central``
    (``factor`` broadcasts against them, e.g. (K,) for one per target)."""
    return central - factor * (central - lower), central + factor * (upper - central)
