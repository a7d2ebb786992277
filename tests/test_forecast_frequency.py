"""Forecasting at any frequency pandas can name: half-hourly data end to end (inferred
frequency, a day and a week as seasons, time-of-day features, time stamps out), business
days, the baselines for several seasonalities, and the errors for irregular data."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.data.frequency import (
    calendar_features,
    format_time,
    infer_frequency,
    normalize,
    seasonal_periods,
    step_times,
)
from rnnkit.data.timeseries import read_series_csv
from rnnkit.tasks.baselines import mstl, seasonal_naive

SMALL = ["--hidden", "8", "--epochs", "2", "--horizon", "48", "--window", "96", "--ensemble",
         "1", "--quiet"]  # fmt: skip


def load(periods: int, noise: float = 0.3, seed: int = 0) -> np.ndarray:
    """Half-hourly "electricity": a daily cycle, weekdays above weekends, and noise."""
    t = np.arange(periods)
    day = 10 * np.sin(2 * np.pi * t / 48)
    weekend = np.where((t // 48) % 7 >= 5, -8.0, 0.0)
    return 100 + day + weekend + noise * np.random.default_rng(seed).normal(size=periods)


def write(path, times, values, header=("time", "load")):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([t, f"{v:.4f}"] for t, v in zip(times, values, strict=True))
    return path


def half_hours(periods: int, start: str = "2024-01-01T00:00") -> list[str]:
    times = step_times(np.datetime64(start), "30min", np.arange(periods))
    return [str(t).replace("T", " ")[:16] for t in times]  # "2024-01-01 00:30"


@pytest.mark.parametrize(
    ("name", "expected", "seasons"),
    [("30min", "30min", (48, 336)), ("h", "h", (24, 168)), ("15min", "15min", (96, 672)),
     ("D", "D", (7, 365)), ("B", "B", (5,)), ("W-SUN", "W-SUN", (52,)), ("7D", "7D", (52,)),
     ("ME", "MS", (12,)), ("QS", "3MS", (4,)), ("YE", "12MS", ()), ("M", "MS", (12,))],
)  # fmt: skip
def test_pandas_names_and_their_seasons(name, expected, seasons):
    assert normalize(name) == expected and seasonal_periods(expected) == seasons


def test_unknown_frequency_is_refused_by_name():
    with pytest.raises(ValueError, match="'fortnightly' is not one pandas knows"):
        normalize("fortnightly")


def test_time_of_day_and_weekday_features_for_sub_daily_data():
    times = step_times(np.datetime64("2024-01-01T00:00"), "30min", np.arange(96))  # a Monday
    features = calendar_features(times, "30min")
    assert features.shape == (96, 6)  # day of year, day of week, time of day: (sin, cos)
    np.testing.assert_allclose(features[:, 4], np.sin(2 * np.pi * (np.arange(96) % 48) / 48),
                               atol=1e-12)  # fmt: skip
    monday, tuesday = features[0, 2:4], features[48, 2:4]
    np.testing.assert_allclose(monday, [0.0, 1.0], atol=1e-12)  # Monday: day 0 of the week
    np.testing.assert_allclose(tuesday, [np.sin(2 * np.pi / 7), np.cos(2 * np.pi / 7)])


def test_business_days_are_recognised_across_a_weekend():
    days = np.busday_offset("2024-01-05", np.arange(12), roll="forward").astype("datetime64[D]")
    assert infer_frequency(days, "x") == "B"
    np.testing.assert_array_equal(step_times(days[0], "B", np.arange(12)), days)


def test_times_are_written_to_the_minute_below_a_day():
    assert format_time(np.datetime64("2024-01-01T13:30:00")) == "2024-01-01T13:30"
    assert format_time(np.datetime64("2024-01-01")) == "2024-01-01"


def test_mstl_uses_both_seasons_where_seasonal_naive_has_one():
    y = load(48 * 7 * 6, noise=0.0)
    history, truth = y[:-96], y[-96:]
    daily = np.abs(seasonal_naive(history, 96, 48) - truth).mean()  # misses the weekend
    both = np.abs(mstl(history, 96, (48, 336)) - truth).mean()
    assert both < 0.25 * daily


def test_half_hourly_data_trains_and_forecasts_end_to_end(tmp_path, capsys):
    periods = 48 * 7 * 5
    data = write(tmp_path / "load.csv", half_hours(periods), load(periods))
    series = read_series_csv(data, "time", ["load"])
    assert series.frequency == "30min" and series.seasonalities == (48, 336)
    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy warning reaches the user
        status = main(["train", "forecast", "--data", str(data), "--time-column", "time",
                       "--out", str(out), *SMALL])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "MASE" in captured.out and "Warning" not in captured.err
    assert main(["forecast", str(out), "--output", str(tmp_path / "ahead.csv")]) == 0
    rows = list(csv.reader(open(tmp_path / "ahead.csv", encoding="utf-8")))
    last = np.datetime64(half_hours(periods)[-1].replace(" ", "T"))
    expected = [format_time(last + np.timedelta64(30 * (k + 1), "m")) for k in range(48)]
    assert [row[0] for row in rows[1:]] == expected


def test_given_frequency_and_seasons_override(tmp_path):
    periods = 48 * 7 * 3
    data = write(tmp_path / "load.csv", half_hours(periods), load(periods))
    series = read_series_csv(data, "time", ["load"], frequency="30min", seasonalities=[48])
    assert series.seasonalities == (48,) and series.season == 48
    assert series.longest_season_within(len(series)) == 48


@pytest.mark.parametrize(
    ("times", "freq", "message"),
    [
        (["2024-01-01 00:00", "2024-01-01 00:30", "2024-01-01 00:50", "2024-01-01 01:30"], None,
         "irregular time stamps"),
        (["2024-01-01 00:00", "2024-01-01 00:30", "2024-01-01 00:30", "2024-01-01 01:00"], None,
         "two rows fall in the period starting 2024-01-01T00:30"),
        (["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], "h",
         "--freq h does not match the data: its time stamps are mostly 24 periods"),
        (["2024-01-01 00:00", "2024-01-01 00:30", "2024-01-01 01:00", "2024-01-01 01:45"],
         "30min", "2024-01-01T01:45:00 is not on the grid of 30min periods"),
    ],
)  # fmt: skip
def test_bad_time_stamps_are_one_line_errors_and_nothing_is_written(tmp_path, capsys, times,
                                                                    freq, message):  # fmt: skip
    data = write(tmp_path / "bad.csv", times, np.arange(len(times), dtype=float))
    argv = ["train", "forecast", "--data", str(data), "--time-column", "time", "--out",
            str(tmp_path / "run"), *SMALL] + (["--freq", freq] if freq else [])  # fmt: skip
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
