"""The global forecaster on a small synthetic collection: forecasts for every series,
scale-equivariant (a series times 1000 gets its forecast times 1000), short series padded,
and scores the competitions' way."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rnnkit.data.collections import SeriesCollection
from rnnkit.data.frequency import step_times
from rnnkit.data.timeseries import TimeSeries
from rnnkit.tasks.forecast import cut
from rnnkit.tasks.global_forecast import (
    LEVELS,
    GlobalConfig,
    fit_global,
    forecast_global,
    make_panel,
    score_global,
    seasonal_lags,
    standardised,
    window_batch,
)

HORIZON = 6


def collection(factor: float = 1.0, count: int = 24) -> SeriesCollection:
    """Monthly series: levels from 10 to 1000, a trend, a yearly wave; the last
    ``HORIZON`` periods of each held out."""
    rng = np.random.default_rng(0)
    series, test = [], []
    for i in range(count):
        length = int(rng.integers(20, 60))  # some shorter than the window
        t = np.arange(length + HORIZON)
        level = 10 ** rng.uniform(1, 3)
        y = level * (1 + 0.03 * t + 0.2 * np.sin(2 * np.pi * (t + i) / 12))
        y = factor * y * (1 + 0.02 * rng.normal(size=len(t)))
        times = step_times(np.datetime64("2000-01-01"), "MS", np.arange(length))
        series.append(TimeSeries(f"s{i}", times, y[:length, None], ["y"], "MS", (12,)))
        test.append(y[length:])
    return SeriesCollection("synthetic", series, "MS", (12,), HORIZON, test, dated=False)


SMALL = GlobalConfig(hidden=16, layers=1, epochs=10, batches_per_epoch=20, batch_size=32,
                     patience=None, lr=3e-3, likelihood="gaussian")  # fmt: skip


@pytest.fixture(scope="module")
def fitted():
    return fit_global(collection(), SMALL)


def test_every_series_gets_a_finite_forecast_with_ordered_quantiles(fitted):
    predicted = forecast_global(fitted, collection())
    assert predicted["quantiles"].shape == (24, HORIZON, len(LEVELS))
    assert np.isfinite(predicted["quantiles"]).all()
    assert (np.diff(predicted["quantiles"], axis=-1) >= 0).all()


def test_forecasts_scale_with_the_series(fitted):
    small, large = forecast_global(fitted, collection()), forecast_global(fitted, collection(1e3))
    np.testing.assert_allclose(large["mean"], 1e3 * small["mean"], rtol=1e-4)
    np.testing.assert_allclose(large["quantiles"], 1e3 * small["quantiles"], rtol=1e-4)


def test_the_scores_and_the_baseline_in_the_same_run(fitted):
    scores = score_global(fitted, collection())
    assert set(scores) == {"mase", "smape", "coverage", "naive_mase", "wql"}
    # A trend seasonal naive cannot follow: the network, even briefly trained, does better.
    assert scores["mase"] < scores["naive_mase"]
    assert 0 <= scores["coverage"] <= 1 and scores["wql"] > 0


@pytest.mark.parametrize("likelihood", ["student-t", "quantile", "negative-binomial"])
def test_every_likelihood_trains_and_forecasts(likelihood):
    counts = collection()
    counts.series = [replace(s, values=np.round(s.values)) for s in counts.series]
    fitted = fit_global(counts, replace(SMALL, epochs=2, likelihood=likelihood))
    assert np.isfinite(forecast_global(fitted, counts)["quantiles"]).all()


def test_a_collection_without_horizon_needs_one():
    bare = replace(collection(), horizon=None)
    with pytest.raises(ValueError, match="--horizon"):
        fit_global(bare, SMALL)


def test_a_long_csv_trains_a_global_run_that_loads_and_forecasts(tmp_path, capsys):
    import csv

    import rnnkit
    from rnnkit.cli import main

    path = tmp_path / "stores.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["store", "month", "sales"])
        for s, tail in zip(collection().series, collection().test, strict=True):
            values = np.concatenate((s.values[:, 0], tail))
            times = step_times(s.times[0], "MS", np.arange(len(values)))
            writer.writerows([s.name, str(t)[:7], f"{v:.3f}"] for t, v in zip(times, values))
    out = tmp_path / "run"
    argv = ["train", "forecast", "--data", str(path), "--id-column", "store", "--time-column",
            "month", "--target", "sales", "--horizon", "6", "--hidden", "8", "--epochs", "2",
            "--quiet", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    report = capsys.readouterr().out
    assert "24 series of stores" in report and "mean MASE" in report
    assert "seasonal naive" in report
    with open(out / "scores.csv", encoding="utf-8") as f:
        scores = list(csv.DictReader(f))
    assert [row["id"] for row in scores] == rnnkit.load(out).forecast().ids
    mean = np.mean([float(row["mase"]) for row in scores])
    assert f"mean MASE {mean:.3f}" in report  # the report is the mean of the series' scores
    predicted = rnnkit.load(out).forecast(horizon=3)
    assert predicted.ids[0] == "s0" and predicted.central.shape == (24, 3)
    after = len(collection().series[0]) + 6  # the first period after the whole series
    assert predicted.times[0][0] == str(step_times(np.datetime64("2000-01-01"), "MS", [after])[0])
    assert main(["forecast", str(out), "--horizon", "2"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0] == "id,period,central,lower,upper" and len(rows) == 1 + 24 * 2
    # chosen series, and sample paths
    chosen = rnnkit.load(out).forecast(series=["s3", "s1"], samples=500)
    assert chosen.ids == ["s3", "s1"] and chosen.samples.shape == (2, 500, 6)
    every = rnnkit.load(out).forecast()
    rows = [every.ids.index(key) for key in ("s3", "s1")]
    np.testing.assert_allclose(chosen.central, every.central[rows])
    middle = np.median(chosen.samples, axis=1)  # the draws' median is the forecast's, roughly
    width = chosen.upper - chosen.lower
    assert np.all(np.abs(middle - chosen.central) < 0.2 * width)
    assert main(["forecast", str(out), "--series", "s2", "--horizon", "1"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1].startswith("s2,")
    assert main(["forecast", str(out), "--series", "nope"]) == 2
    assert "no series 'nope'" in capsys.readouterr().err


def test_covariates_are_standardised_per_series_and_keep_their_gaps():
    columns = np.array([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0], [5.0, np.nan]])
    out = standardised(columns)
    np.testing.assert_allclose(out[[0, 1, 3], 0], np.array([-2.0, 0.0, 2.0]) / np.sqrt(8 / 3))
    np.testing.assert_array_equal(out[:3, 1], [0.0, 0.0, 0.0])  # constant: centred, not divided
    assert np.isnan(out[2, 0]) and np.isnan(out[3, 1])


def test_a_covariate_with_gaps_reaches_the_model_masked():
    """Series whose target follows a covariate, a tenth of whose values are missing: the
    model reads 0 and a 0 flag there, and every forecast is finite."""
    rng = np.random.default_rng(1)
    series = []
    for s in collection(count=8).series:
        driver = rng.normal(size=len(s))
        driver[rng.random(len(s)) < 0.1] = np.nan
        series.append(replace(s, covariates=driver[:, None], covariate_names=["price"]))
    covaried = replace(collection(count=8), series=series)
    fitted = fit_global(covaried, replace(SMALL, epochs=2))
    # y, observed, age; the lags 12, 24 and 36; the covariate and its flag
    assert fitted.model.encoder.layers[0].cell.input_size == 3 + 3 + 2
    batch = window_batch(make_panel(covaried, 48, HORIZON), np.arange(8), np.full(8, 20), 24,
                         HORIZON, (12,))  # fmt: skip
    missing = batch["covariates_observed"] == 0
    assert missing.any() and (batch["covariates"][missing] == 0).all()
    assert np.isfinite(forecast_global(fitted, covaried)["median"]).all()


def test_the_refit_learns_from_the_validation_periods_for_the_best_epoch_count(monkeypatch):
    """Phase 1 never trains on a series' last horizon (it validates there); the refit does,
    for as many epochs as phase 1's best."""
    import rnnkit.tasks.global_forecast as module

    small = collection(count=6)
    lengths = np.array([len(s) for s in small.series])
    reached = []  # per batch: the furthest period a training window's future reaches
    original = module.window_batch

    def spy(panel, series, ends, window, horizon, lags):
        if len(series) == 8:  # the training batches (validation reads all 6 series)
            reached.append(int(np.max(ends + horizon - lengths[series])))
        return original(panel, series, ends, window, horizon, lags)

    monkeypatch.setattr(module, "window_batch", spy)
    config = replace(SMALL, epochs=4, batches_per_epoch=5, batch_size=8, patience=None,
                     refit=True)  # fmt: skip
    fitted = fit_global(small, config)
    first, second = reached[:20], reached[20:]
    assert max(first) <= -HORIZON and max(second) == 0  # periods held out, then every one
    assert fitted.steps == 20 + len(second) and len(second) % 5 == 0 and 0 < len(second) <= 20
    assert "on every period" in fitted.stopped
    alone = fit_global(small, replace(config, refit=False))
    assert alone.steps == 20 and "every period" not in alone.stopped


def test_the_interval_is_calibrated_to_hold_its_coverage_of_the_validation_values(fitted):
    """The factor is the conformal one: the stretched interval holds 80 % of the values of
    each series' last horizon (forecast from before it), and a slightly smaller one not."""
    whole = collection()
    before = replace(whole, series=[cut(s, len(s) - HORIZON) for s in whole.series])
    actual = np.stack([s.values[-HORIZON:, 0] for s in whole.series])
    assert fitted.spread != 1.0

    def covered(spread):
        p = forecast_global(replace(fitted, spread=spread), before)
        return np.mean((actual >= p["lower"]) & (actual <= p["upper"]))

    assert covered(fitted.spread) >= 0.8 > covered(0.97 * fitted.spread)


def test_the_default_lags_are_one_two_and_three_seasons_under_four_windows():
    assert seasonal_lags((12,), 48) == (12, 24, 36)
    assert seasonal_lags((12,), 6) == (12,)  # 24 is 4 windows back
    assert seasonal_lags((48, 336), 1008) == (48, 96, 144, 336, 672, 1008)
    assert seasonal_lags((), 10) == ()
