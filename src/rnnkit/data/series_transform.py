"""A transform of a series' targets before scaling: the logarithm, for positive series whose
seasonal swing grows with their level (multiplicative seasonality, as in airline passengers).

On the log scale such a series has a constant swing and a linear trend, which a model
learns from a few seasons; forecasts come back through ``exp``. A Gaussian on the log scale
is a log-normal on the original one, whose median is ``exp(mean)``: the back-transformed
central forecast is that median (the best point forecast for absolute errors), and an
interval's ends map one to one, so its coverage is unchanged.

    name = choose_transform(values[:origin], season, "auto")   # "log" or "none"
    model_space = apply_transform(values, name)
    forecast = invert_transform(model_space_forecast, name)
"""

from __future__ import annotations

import numpy as np

TRANSFORMS = ("auto", "log", "none")

#: "auto" takes the log when the seasonal swing grows with the level -- the slope of
#: log(swing) on log(level) is 0 for a swing of constant size (additive), 1 for one that
#: grows in proportion (multiplicative) -- and the level itself varies enough for the
#: difference to matter: over a narrow range (CO2's 316-370 ppm) the log only bends the
#: trend, which costs more than it brings.
MULTIPLICATIVE_SLOPE, LEVEL_RATIO = 0.5, 1.5


def choose_transform(values: np.ndarray, season: int, requested: str) -> str:
    """The transform to use for ``values`` (T, K) (NaN where missing): ``requested`` if it
    is "log" or "none"; for "auto", "log" when every target is positive and multiplicative,
    "none" otherwise. "log" asks for positive values."""
    if requested not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {requested!r}")
    positive = bool(np.all(values[~np.isnan(values)] > 0))
    if requested == "log" and not positive:
        raise ValueError("transform 'log' needs positive targets; this series has values <= 0")
    if requested != "auto":
        return requested
    if positive and all(multiplicative(values[:, k], season) for k in range(values.shape[1])):
        return "log"
    return "none"


def multiplicative(column: np.ndarray, season: int) -> bool:
    """Whether the seasonal swing of ``column`` (T,) grows with its level: over its complete
    seasons, the least-squares slope of log(swing) on log(level) exceeds
    ``MULTIPLICATIVE_SLOPE`` and the highest level is ``LEVEL_RATIO`` times the lowest.
    A season's level is its mean, its swing the standard deviation of its values about a
    centred moving average over one season (the trend). False for series without a season
    (``season`` < 2), with fewer than three seasons, or with values <= 0."""
    seen = ~np.isnan(column)
    if season < 2 or seen.sum() < 2:
        return False
    steps = np.arange(len(column))
    filled = np.interp(steps, steps[seen], column[seen])
    # A centred average over one season (2 x m for even m, so that it stays centred).
    kernel = np.ones(season + 1 - season % 2)
    if season % 2 == 0:
        kernel[[0, -1]] = 0.5
    trend = np.convolve(filled, kernel / kernel.sum(), mode="valid")
    trim = (len(kernel) - 1) // 2
    values = filled[trim : trim + len(trend)]
    cycles = len(trend) // season
    if cycles < 3 or np.any(values <= 0):
        return False
    level = values[: cycles * season].reshape(cycles, season).mean(1)
    swing = (values - trend)[: cycles * season].reshape(cycles, season).std(1)
    if np.any(swing <= 0):
        return False
    slope = np.polyfit(np.log(level), np.log(swing), 1)[0]
    return bool(slope > MULTIPLICATIVE_SLOPE and level.max() >= LEVEL_RATIO * level.min())


def apply_transform(values: np.ndarray, name: str) -> np.ndarray:
    """Original units -> the model's (NaN stays NaN)."""
    if name == "log":
        if np.any(values[~np.isnan(values)] <= 0):
            raise ValueError("transform 'log' needs positive targets; this series has values <= 0")
        return np.log(values)
    return values


def invert_transform(values: np.ndarray, name: str) -> np.ndarray:
    """The model's units -> original ones (quantiles map to quantiles)."""
    return np.exp(values) if name == "log" else values
