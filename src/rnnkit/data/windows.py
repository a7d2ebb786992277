"""From a time series to training examples: a scaler fitted on the training part only,
and sliding windows of ``window`` past periods followed by ``horizon`` future ones.

    scaler = Scaler.fit(series.values[:origin])      # never sees the periods it forecasts
    windows = sliding_windows(scaler.transform(series.values[:origin]), window=36, horizon=12)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Scaler:
    """Per column: (x - mean) / std, with mean and std of the observed training values."""

    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        """``values`` (T, C) with NaN where missing; a column that never varies gets
        std 1, so it passes through centred."""
        with np.errstate(invalid="ignore"):
            mean, std = np.nanmean(values, 0), np.nanstd(values, 0)
        if np.isnan(mean).any():
            raise ValueError("a column has no observed value in the training part")
        return cls(mean, np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, scaled: np.ndarray, columns: slice = slice(None)) -> np.ndarray:
        """Back to the original units; ``columns`` picks the scaler's columns that the last
        axis of ``scaled`` holds."""
        return scaled * self.std[columns] + self.mean[columns]

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Scaler:
        return cls(np.array(data["mean"], np.float64), np.array(data["std"], np.float64))


def window_starts(length: int, window: int, horizon: int, stride: int = 1) -> np.ndarray:
    """The first periods of every window of ``window + horizon`` periods inside
    ``length``; the last one ends at the last period."""
    span = window + horizon
    if length < span:
        raise ValueError(
            f"the series has {length} periods, fewer than window + horizon = {window} + "
            f"{horizon}: use a shorter --window or --horizon"
        )
    return np.arange(length - span, -1, -stride)[::-1]


def sliding_windows(
    values: np.ndarray, window: int, horizon: int, stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (T, C) -> (past (N, window, C), future (N, horizon, C)), one pair per
    start of ``window_starts``."""
    starts = window_starts(len(values), window, horizon, stride)
    index = starts[:, None] + np.arange(window + horizon)  # (N, window + horizon)
    both = values[index]
    return both[:, :window], both[:, window:]
