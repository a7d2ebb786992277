"""Forecast scores against hand computations, and the classical baselines."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.tasks.baselines import ets, naive, sarima, seasonal_naive
from rnnkit.tasks.forecast_scores import coverage, mase, smape


def test_scores_by_hand():
    history = np.array([1.0, 3.0, 2.0, 4.0, np.nan, 6.0])  # lag-2 changes: 1, 1, (gap), 2
    actual, forecast = np.array([5.0, np.nan, 7.0]), np.array([4.0, 0.0, 9.0])
    assert mase(actual, forecast, history, season=2) == pytest.approx(1.5 / (4 / 3))
    assert smape(actual, forecast) == pytest.approx(100 * (1 / 9 + 2 / 16))
    lower, upper = np.array([4.5, 0, 7.5]), np.array([5.5, 0, 8])
    assert coverage(actual, lower, upper) == 0.5


def test_naive_forecasts_repeat_the_last_value_or_season():
    history = np.array([1.0, 2.0, 3.0, 4.0, np.nan, 6.0, 7.0])
    np.testing.assert_array_equal(naive(history, 3), [7, 7, 7])
    np.testing.assert_array_equal(seasonal_naive(history, 5, season=3), [5, 6, 7, 5, 6])
    np.testing.assert_array_equal(seasonal_naive(history, 2, season=1), [7, 7])


def _seasonal(periods):
    t = np.arange(periods, dtype=np.float64)
    return 50 + 0.3 * t + 5 * np.sin(2 * np.pi * t / 12)


@pytest.mark.parametrize("method", [ets, sarima])
def test_statistical_baselines_follow_trend_and_season(method):
    truth = _seasonal(96)
    history = truth[:84].copy()
    history[40] = np.nan  # a gap
    forecast = method(history, 12, 12)
    assert np.abs(forecast - truth[84:]).mean() < 0.1 * np.abs(seasonal_naive(history, 12, 12)
                                                              - truth[84:]).mean()  # fmt: skip


def test_theta_follows_a_trend_and_a_clear_season():
    from rnnkit.tasks.baselines import theta

    t = np.arange(96, dtype=np.float64)
    truth = 100 + 0.5 * t + 20 * np.sin(2 * np.pi * t / 12)  # a season the test finds
    history = truth[:84]
    error = np.abs(theta(history, 12, 12) - truth[84:]).mean()
    assert error < 0.5 * np.abs(naive(history, 12) - truth[84:]).mean()
    assert error < np.abs(seasonal_naive(history, 12, 12) - truth[84:]).mean()  # the trend
