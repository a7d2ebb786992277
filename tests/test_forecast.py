"""The forecasting task: what each model may see, forecasts past the end, the backtest's
origins, and learning a seasonal series with a trend."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.timeseries import TimeSeries, step_times
from rnnkit.tasks import forecast as task
from rnnkit.tasks.forecast import ForecastConfig, backtest, cut, fit, forecast_after


def _seasonal(periods=120, missing=()):
    """Monthly: a trend of 0.5 a month plus a yearly wave."""
    t = np.arange(periods, dtype=np.float64)
    values = (100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12))[:, None]
    values[list(missing)] = np.nan
    times = step_times(np.datetime64("2000-01-01"), "M", t.astype(int))
    return TimeSeries("wave", times, values, ["y"], "M", 12)


SMALL = {"hidden": 16, "epochs": 3, "patience": None, "window": 24, "horizon": 6}


def test_the_scaler_and_training_never_see_the_validation_horizon(tmp_path):
    series = _seasonal()
    series.values[-6:] = 1e6  # the validation horizon: early stopping only
    _, scaler, _ = fit(ForecastConfig(**SMALL), series, tmp_path)
    assert scaler.mean[0] == pytest.approx(np.mean(series.values[:-6]))


def test_forecasts_follow_the_end_of_the_series(tmp_path):
    series = _seasonal(missing=(100, 101))
    config = ForecastConfig(**SMALL)
    model, scaler, _ = fit(config, series, tmp_path)
    forecast = forecast_after(model, scaler, series, config.window, 0.8)
    assert forecast["times"][0] == np.datetime64("2010-01-01")
    assert forecast["central"].shape == (6, 1)
    assert (forecast["lower"] < forecast["central"]).all()
    assert (forecast["central"] < forecast["upper"]).all()


def test_each_backtest_fold_trains_only_before_its_origin(monkeypatch, tmp_path):
    seen = []
    real_fit = task.fit

    def spy(config, history, out, quiet=True):
        seen.append(len(history))
        return real_fit(config, history, out, quiet)

    monkeypatch.setattr(task, "fit", spy)
    series = _seasonal()
    results = backtest(ForecastConfig(**SMALL), series, folds=3)
    assert seen == [102, 108, 114] and [r["origin"] for r in results] == seen
    assert all(np.isfinite(r["mase"]) for r in results)


def test_a_trending_seasonal_series_is_learned_better_than_seasonal_naive(tmp_path):
    series = _seasonal(150)
    config = ForecastConfig(hidden=32, epochs=150, patience=None, horizon=12, window=36, lr=1e-2)
    origin = len(series) - 12
    history = cut(series, origin)
    model, scaler, _ = fit(config, history, tmp_path)
    forecast = forecast_after(model, scaler, history, 36, 0.8)
    actual = series.values[origin:]
    scores = task.score_forecast(forecast, actual, history.values, 12)
    naive = task.seasonal_naive_forecast(history, 12)  # off by a year of trend: 6
    assert np.abs(naive - actual).mean() == pytest.approx(6.0)
    assert scores["mase"] < 0.5 * task.mase(actual, naive, history.values, 12)
