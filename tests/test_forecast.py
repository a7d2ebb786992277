"""The forecasting task: what each model may see, forecasts past the end, the backtest's
origins, learning a seasonal series with a trend, the log transform, interval calibration
and ensembles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from rnnkit.data.series_transform import apply_transform, choose_transform, invert_transform
from rnnkit.data.timeseries import TimeSeries, step_times
from rnnkit.models.forecast_ensemble import ForecastEnsemble
from rnnkit.models.forecaster import Forecaster
from rnnkit.tasks import forecast as task
from rnnkit.tasks.forecast import ForecastConfig, backtest, cut, fit, forecast_after
from rnnkit.tasks.baselines import theta
from rnnkit.tasks.forecast_calibration import interval_scores, spread_factor, widen


def _seasonal(periods=120, missing=()):
    """Monthly: a trend of 0.5 a month plus a yearly wave."""
    t = np.arange(periods, dtype=np.float64)
    values = (100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12))[:, None]
    values[list(missing)] = np.nan
    times = step_times(np.datetime64("2000-01-01"), "M", t.astype(int))
    return TimeSeries("wave", times, values, ["y"], "MS", (12,))


SMALL = {"hidden": 16, "epochs": 3, "patience": None, "window": 24, "horizon": 6, "ensemble": 1}


def _multiplicative(periods=120):
    """Monthly: growing 1 % a month, with a yearly swing of 20 % of the level."""
    t = np.arange(periods, dtype=np.float64)
    values = (100 * 1.01**t * (1 + 0.2 * np.sin(2 * np.pi * t / 12)))[:, None]
    times = step_times(np.datetime64("2000-01-01"), "M", t.astype(int))
    return TimeSeries("growth", times, values, ["y"], "MS", (12,))


def test_the_scaler_and_training_never_see_the_validation_horizon(tmp_path):
    series = _seasonal()
    series.values[-6:] = 1e6  # the validation horizon: early stopping only
    scaler = fit(ForecastConfig(**SMALL), series, tmp_path).scaler
    assert scaler.mean[0] == pytest.approx(np.mean(series.values[:-6]))


def test_forecasts_follow_the_end_of_the_series(tmp_path):
    series = _seasonal(missing=(100, 101))
    config = ForecastConfig(**SMALL)
    forecast = forecast_after(fit(config, series, tmp_path), series, config.window, 0.8)
    assert forecast["times"][0] == np.datetime64("2010-01-01")
    assert forecast["central"].shape == (6, 1)
    assert (forecast["lower"] < forecast["central"]).all()
    assert (forecast["central"] < forecast["upper"]).all()


def test_each_backtest_fold_trains_and_calibrates_only_before_its_origin(monkeypatch, tmp_path):
    seen, calibrated = [], []
    real_fit, real_calibrate = task.fit, task.calibrate

    def spy(config, history, out, quiet=True):
        seen.append(len(history))
        return real_fit(config, history, out, quiet)

    def calibrate_spy(model, data, end_train, window, coverage):
        calibrated.append((len(data.values), end_train))
        return real_calibrate(model, data, end_train, window, coverage)

    monkeypatch.setattr(task, "fit", spy)
    monkeypatch.setattr(task, "calibrate", calibrate_spy)
    series = _seasonal()
    results = backtest(ForecastConfig(**SMALL), series, folds=3)
    assert seen == [102, 108, 114] and [r["origin"] for r in results] == seen
    assert calibrated == [(102, 96), (108, 102), (114, 108)]
    assert all(np.isfinite(r["mase"]) for r in results)


def test_a_trending_seasonal_series_is_learned_better_than_seasonal_naive(tmp_path):
    series = _seasonal(150)
    config = ForecastConfig(
        hidden=32, epochs=150, patience=None, horizon=12, window=36, lr=1e-2, ensemble=1
    )
    origin = len(series) - 12
    history = cut(series, origin)
    forecast = forecast_after(fit(config, history, tmp_path), history, 36, 0.8)
    actual = series.values[origin:]
    scores = task.score_forecast(forecast, actual, history.values, 12)
    naive = task.seasonal_naive_forecast(history, 12)  # off by a year of trend: 6
    assert np.abs(naive - actual).mean() == pytest.approx(6.0)
    assert scores["mase"] < 0.5 * task.mase(actual, naive, history.values, 12)


def test_auto_takes_the_log_of_positive_series_whose_swing_grows_with_the_level():
    growth, wave = _multiplicative(), _seasonal()
    assert choose_transform(growth.values, 12, "auto") == "log"
    assert choose_transform(wave.values, 12, "auto") == "none"  # a swing of constant size
    assert choose_transform(growth.values, 1, "auto") == "none"  # no season to judge by
    # Over four years the level rises only 27 %: too little for the log to matter.
    assert choose_transform(growth.values[:48], 12, "auto") == "none"
    t = np.arange(120)[:, None]
    additive = 100 * 1.01**t + 20 * np.sin(2 * np.pi * t / 12)  # growth, a swing of one size
    assert choose_transform(additive, 12, "auto") == "none"
    shifted = growth.values - 150  # some values below zero
    assert choose_transform(shifted, 12, "auto") == "none"
    with pytest.raises(ValueError, match="transform 'log' needs positive targets"):
        choose_transform(shifted, 12, "log")


def test_the_log_transform_round_trips_and_keeps_gaps():
    values = np.array([[1.0, 250.0], [np.nan, 0.5], [1e-3, 7.0]])
    logged = apply_transform(values, "log")
    assert logged[0, 1] == pytest.approx(np.log(250.0)) and np.isnan(logged[1, 0])
    np.testing.assert_allclose(invert_transform(logged, "log"), values)
    assert invert_transform(apply_transform(values, "none"), "none") is values


def test_a_log_scale_forecast_comes_back_positive_and_in_its_interval(tmp_path):
    series = _multiplicative()
    config = ForecastConfig(**SMALL)
    fitted = fit(config, series, tmp_path)
    assert fitted.transform == "log"
    assert fitted.scaler.mean[0] == pytest.approx(np.log(series.values[:-6]).mean())
    forecast = forecast_after(fitted, series, config.window, 0.8)
    assert (0 < forecast["lower"]).all() and (forecast["lower"] < forecast["central"]).all()
    assert (forecast["central"] < forecast["upper"]).all()
    # The interval is asymmetric: exp stretches its upper half more than its lower half.
    assert (forecast["upper"] - forecast["central"] > forecast["central"] - forecast["lower"]).all()


def test_interval_scores_measure_misses_in_half_widths_of_their_side():
    central, lower, upper = np.zeros(5), np.full(5, -1.0), np.full(5, 2.0)
    actual = np.array([1.0, 4.0, -0.5, -3.0, np.nan])
    np.testing.assert_allclose(interval_scores(actual, central, lower, upper), [0.5, 2, 0.5, 3])
    # ceil((4 + 1) * 0.5) = 3rd of [0.5, 0.5, 2, 3]; too few for 0.9: the largest.
    assert spread_factor(np.array([2.0, 0.5, 3.0, 0.5]), 0.5) == 2.0
    assert spread_factor(np.array([2.0, 0.5, 3.0, 0.5]), 0.9) == 3.0
    assert spread_factor(np.array([]), 0.8) == 1.0
    low, high = widen(central, lower, upper, np.array(2.0))
    np.testing.assert_allclose(low, -2.0)
    np.testing.assert_allclose(high, 4.0)


def test_calibration_widens_an_interval_that_under_covers_the_validation_horizon(tmp_path):
    series = _seasonal()
    noisy = _seasonal()
    noisy.values[-6:] += np.array([[30.0], [-30.0], [30.0], [-30.0], [30.0], [-30.0]])
    config = ForecastConfig(**SMALL)
    quiet, loud = fit(config, series, tmp_path / "a"), fit(config, noisy, tmp_path / "b")
    assert quiet.spread.shape == (1,) and (quiet.spread >= 1).all()  # widened, never narrowed
    assert loud.spread[0] > 2 * quiet.spread[0]
    plain = fit(ForecastConfig(**{**SMALL, "calibrate": False}), noisy, tmp_path / "c")
    assert plain.spread.tolist() == [1.0]
    wide = forecast_after(loud, noisy, config.window, 0.8)
    narrow = forecast_after(plain, noisy, config.window, 0.8)  # the same weights, unwidened
    np.testing.assert_allclose(wide["central"], narrow["central"])
    stretched = loud.spread[0] * (narrow["upper"] - narrow["central"])
    np.testing.assert_allclose(wide["upper"] - wide["central"], stretched, rtol=1e-6)


def test_an_ensemble_of_identical_members_forecasts_as_one():
    torch.manual_seed(0)
    member = Forecaster(1, 0, 2, horizon=4, hidden=8)
    twin = Forecaster(1, 0, 2, horizon=4, hidden=8)
    twin.load_state_dict(member.state_dict())
    ensemble = ForecastEnsemble([member, twin]).eval()
    inputs = (torch.randn(3, 10, 1), torch.ones(3, 10, 1), torch.zeros(3, 10, 0),
              torch.randn(3, 14, 2))  # fmt: skip
    with torch.no_grad():
        alone = member.eval().interval(member(*inputs), 0.8)
        together = ensemble.interval(ensemble(*inputs), 0.8)
    for a, b in zip(alone, together, strict=True):
        torch.testing.assert_close(a, b)


def test_a_gaussian_ensemble_interval_is_its_mixtures_and_widens_where_members_disagree():
    members = [Forecaster(1, horizon=1, hidden=4) for _ in range(2)]
    ensemble = ForecastEnsemble(members)
    # Members N(0, 1) and N(2, 1): the mixture has mean 1 and variance 1 + 1 = 2
    # (the members' variance plus the spread of their means).
    parameters = torch.tensor([[0.0, 1.0], [2.0, 1.0]]).view(2, 1, 1, 1, 2)
    central, lower, upper = ensemble.interval(parameters, 0.8)
    z = 1.2815515655446004  # the standard normal's 90th percentile
    torch.testing.assert_close(central, torch.tensor([[[1.0]]]))
    torch.testing.assert_close(upper - central, torch.tensor([[[z * 2**0.5]]]))
    torch.testing.assert_close(central - lower, torch.tensor([[[z * 2**0.5]]]))


def test_a_quantile_ensemble_averages_its_members_ends():
    members = [Forecaster(1, horizon=1, hidden=4, distribution="quantile") for _ in range(2)]
    parameters = torch.tensor([[-1.0, 0.0, 1.0], [0.0, 2.0, 5.0]]).view(2, 1, 1, 1, 3)
    central, lower, upper = ForecastEnsemble(members).interval(parameters, 0.8)
    assert (central.item(), lower.item(), upper.item()) == (1.0, -0.5, 3.0)


def test_ensemble_members_are_the_models_of_successive_seeds(tmp_path):
    series = _seasonal()
    two = fit(ForecastConfig(**{**SMALL, "ensemble": 2}), series, tmp_path / "two")
    assert isinstance(two.model, ForecastEnsemble) and len(two.model.members) == 2
    for seed, member in enumerate(two.model.members):
        alone = fit(ForecastConfig(**{**SMALL, "seed": seed}), series, tmp_path / f"{seed}").model
        for name, value in alone.state_dict().items():
            torch.testing.assert_close(member.state_dict()[name], value)
    first, second = (m.state_dict()["head.0.weight"] for m in two.model.members)
    assert not torch.equal(first, second)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"transform": "sqrt"}, "transform must be one of"),
        ({"ensemble": 0}, "ensemble must be a positive number"),
        ({"coverage": 1.0}, "coverage must be in (0, 1)"),
        ({"combine": ["ets", "arima"]}, "combine: distinct methods of"),
    ],
)
def test_bad_settings_name_the_setting(settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ForecastConfig(**settings)


def test_a_combined_forecast_is_the_mean_of_the_network_and_the_statistical_ones(tmp_path):
    series = _seasonal()
    fitted = fit(ForecastConfig(**SMALL, combine=["theta"]), series, tmp_path)
    combined = forecast_after(fitted, series, 24, 0.8)
    alone = forecast_after(replace(fitted, combine=()), series, 24, 0.8)
    history = series.values[:, 0]
    expected = (alone["central"][:, 0] + theta(history, 6, 12)) / 2
    np.testing.assert_allclose(combined["central"][:, 0], expected)
    width = alone["upper"] - alone["lower"]  # the network's interval, moved, not resized
    np.testing.assert_allclose(combined["upper"] - combined["lower"], width)
    assert np.all(combined["lower"] <= combined["central"])
