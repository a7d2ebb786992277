"""Forecast scores, each over the observed values only (NaN = missing is skipped).

* MASE (Hyndman & Koehler 2006): the forecast's mean absolute error over that of the
  seasonal naive forecast *in sample* (y_t against y_{t-m} on the training part), so 1
  means "as good as repeating last season, judged on the past"; below 1 is better.
* sMAPE (as in the M4 competition): 200 * mean |y - f| / (|y| + |f|), in percent.
* coverage: the share of outcomes inside their prediction interval.
"""

from __future__ import annotations

import numpy as np


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int) -> float:
    """``actual``, ``forecast`` (H, ...) against the scale of ``history`` (T, ...)."""
    lag = season if len(history) > season else 1
    scale = np.nanmean(np.abs(history[lag:] - history[:-lag]))
    return float(np.nanmean(np.abs(actual - forecast)) / scale)


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.abs(actual - forecast) / (np.abs(actual) + np.abs(forecast))
    return float(200 * np.nanmean(ratio))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    seen = ~np.isnan(actual)
    inside = (lower[seen] <= actual[seen]) & (actual[seen] <= upper[seen])
    return float(inside.mean())
