"""Time series: reading CSVs onto a regular grid, calendar features, gaps, scaling,
windows and the named series."""

from __future__ import annotations

import csv
import datetime

import numpy as np
import pytest

from rnnkit.data.named_series import NAMED_SERIES
from rnnkit.data.packages import package_file
from rnnkit.data.timeseries import (
    calendar_features,
    fill_gaps,
    future_times,
    read_series_csv,
    step_times,
)
from rnnkit.data.windows import Scaler, sliding_windows


def _write(path, header, rows, delimiter=","):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _days(*dates):
    return np.array(dates, dtype="datetime64[D]")


def test_a_shuffled_monthly_csv_with_gaps_lands_on_its_grid(tmp_path):
    rows = [["2020-03", "3", "30"], ["2020-01", "1", "10"], ["2020-05", "", "50"],
            ["2020-02", "2", ""], ["2020-07", "7", "70"]]  # fmt: skip
    path = _write(tmp_path / "s.csv", ["month", "sales", "price"], rows)
    series = read_series_csv(path, "month", ["sales"], ["price"])
    assert series.frequency == "MS" and series.season == 12 and series.targets == ["sales"]
    np.testing.assert_array_equal(series.times, step_times(np.datetime64("2020-01-01"), "M",
                                                           np.arange(7)))  # fmt: skip
    np.testing.assert_array_equal(series.values[:, 0], [1, 2, 3, np.nan, np.nan, np.nan, 7])
    np.testing.assert_array_equal(series.covariates[:, 0], [10, np.nan, 30, np.nan, 50, np.nan, 70])
    assert series.missing == 3


@pytest.mark.parametrize(
    ("dates", "frequency"),
    [
        (["1959Q1", "1959Q2", "1959-Q3"], "3MS"),
        (["1700", "1701", "1702"], "12MS"),
        (["2021-01-04", "2021-01-11", "2021-01-18"], "7D"),
        (["2021-01-04", "2021-01-05", "2021-01-06"], "D"),
        (["2021-01-01 00:00:00", "2021-02-01 00:00:00", "2021-03-01 00:00:00"], "MS"),
    ],
)
def test_the_frequency_comes_from_the_dates(tmp_path, dates, frequency):
    path = _write(tmp_path / "s.tsv", ["t", "y"], [[d, k] for k, d in enumerate(dates)], "\t")
    series = read_series_csv(path, "t")
    assert series.frequency == frequency and len(series) == 3 and series.targets == ["y"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["2020-01", "1"], ["last year", "2"]], "line 3, column 't': not a date: 'last year'"),
        ([["2020-01", "1"], ["2020-02", "many"]], "line 3, column 'y': 'many' is not a number"),
        ([["2020-01", "4"], ["2020-02", "4"]], "target 'y' is constant (4)"),
        ([["2020-01", ""], ["2020-02", ""]], "target 'y' is empty"),
        ([["2020-01", "1"], ["2020-01", "2"]], "two rows fall in the period starting 2020-01-01"),
        ([["2020-01-01", "1"], ["2020-01-04", "2"], ["2020-01-06", "3"]], "irregular time"),
        ([["2020-01", "1"]], "one row"),
    ],
)
def test_bad_series_files_say_what_is_wrong(tmp_path, rows, message):
    path = _write(tmp_path / "s.csv", ["t", "y"], rows)
    with pytest.raises(ValueError, match="s.csv") as error:
        read_series_csv(path, "t", ["y"])
    assert message in str(error.value)


def test_a_missing_column_is_named(tmp_path):
    path = _write(tmp_path / "s.csv", ["t", "y"], [["2020", "1"], ["2021", "2"]])
    with pytest.raises(ValueError, match="no column 'sales'"):
        read_series_csv(path, "t", ["sales"])


def test_periods_step_by_calendar_units():
    start = np.datetime64("2020-01-01")
    np.testing.assert_array_equal(
        step_times(start, "M", [0, 1, 13]), _days("2020-01-01", "2020-02-01", "2021-02-01")
    )
    np.testing.assert_array_equal(
        step_times(start, "Q", [0, 1, 4]), _days("2020-01-01", "2020-04-01", "2021-01-01")
    )
    np.testing.assert_array_equal(step_times(start, "W", [2]), _days("2020-01-15"))
    np.testing.assert_array_equal(step_times(start, "Y", [3]), _days("2023-01-01"))


def test_future_periods_follow_the_last():
    series = NAMED_SERIES["airpassengers"]()
    np.testing.assert_array_equal(future_times(series, 2), _days("1961-01-01", "1961-02-01"))


def test_calendar_features_give_the_position_in_the_year():
    months = step_times(np.datetime64("2019-01-01"), "M", np.arange(24))
    monthly = calendar_features(months, "M")
    np.testing.assert_allclose(monthly[:12], monthly[12:], atol=1e-12)
    angle = 2 * np.pi * np.arange(12) / 12
    np.testing.assert_allclose(monthly[:12], np.stack([np.sin(angle), np.cos(angle)], 1))
    assert calendar_features(months, "Y").shape == (24, 0)
    days = step_times(np.datetime64("2024-03-01"), "D", np.arange(10))
    weekday = [datetime.date(2024, 3, 1 + k).weekday() for k in range(10)]  # Monday = 0
    expected = 2 * np.pi * np.array(weekday) / 7
    np.testing.assert_allclose(calendar_features(days, "D")[:, 2], np.sin(expected), atol=1e-12)


def test_gaps_are_filled_linearly_inside_and_flat_at_the_ends():
    values = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [8.0, 4.0], [np.nan, 5]])
    np.testing.assert_array_equal(fill_gaps(values), [[2, 1], [2, 2], [5, 3], [8, 4], [8, 5]])
    with pytest.raises(ValueError, match="no observed value"):
        fill_gaps(np.full((3, 1), np.nan))


def test_the_scaler_ignores_missing_values_and_round_trips():
    values = np.array([[1.0, 5.0], [np.nan, 5.0], [3.0, 5.0]])
    scaler = Scaler.fit(values)
    np.testing.assert_array_equal(scaler.mean, [2, 5])
    np.testing.assert_array_equal(scaler.std, [1, 1])  # the constant column keeps std 1
    scaled = scaler.transform(values)
    np.testing.assert_array_equal(scaled[[0, 2]], [[-1, 0], [1, 0]])
    np.testing.assert_allclose(scaler.inverse(scaled), values)
    np.testing.assert_allclose(scaler.inverse(scaled[:, 1:], slice(1, 2)), values[:, 1:])
    again = Scaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(values), scaled)


def test_sliding_windows_cover_the_series_to_its_end():
    values = np.arange(20.0).reshape(10, 2)
    past, future = sliding_windows(values, window=4, horizon=3, stride=2)
    assert past.shape == (2, 4, 2) and future.shape == (2, 3, 2)
    np.testing.assert_array_equal(future[-1], values[-3:])
    np.testing.assert_array_equal(past[-1], values[-7:-3])
    np.testing.assert_array_equal(past[0], values[1:5])
    with pytest.raises(ValueError, match="10 periods, fewer than window \\+ horizon = 8 \\+ 3"):
        sliding_windows(values, window=8, horizon=3)


def test_co2_is_the_monthly_mean_of_its_weeks():
    series = NAMED_SERIES["co2"]()
    assert series.frequency == "MS" and series.season == 12
    assert series.times[0] == np.datetime64("1958-03-01")
    assert series.times[-1] == np.datetime64("2001-12-01")
    with open(package_file("statsmodels", "datasets/co2/co2.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    june_1990 = [float(r["co2"]) for r in rows if r["date"].startswith("199006") and r["co2"]]
    index = list(series.times).index(np.datetime64("1990-06-01"))
    assert series.values[index, 0] == pytest.approx(sum(june_1990) / len(june_1990))
    empty_months = {r["date"][:6] for r in rows} - {r["date"][:6] for r in rows if r["co2"]}
    assert 0 < series.missing <= len(empty_months) + 12  # (+ months with no row at all)
    assert np.nanmin(series.values) > 300 and np.nanmax(series.values) < 380


def test_the_other_named_series():
    passengers = NAMED_SERIES["airpassengers"]()  # Box & Jenkins' series G
    assert len(passengers) == 144 and passengers.values[[0, -1], 0].tolist() == [112, 432]
    sunspots = NAMED_SERIES["sunspots"]()
    assert len(sunspots) == 309 and sunspots.frequency == "12MS" and sunspots.season == 11
    assert sunspots.times[0] == np.datetime64("1700-01-01") and sunspots.missing == 0
    macro = NAMED_SERIES["macrodata"]()
    assert macro.values.shape == (203, 3) and macro.covariates.shape == (203, 8)
    assert macro.frequency == "3MS" and macro.times[-1] == np.datetime64("2009-07-01")
    # Victoria's half-hourly demand in 2014 (fpp2): 365 days of 48 periods, 3.9 GW at first
    demand = NAMED_SERIES["elecdemand"]()
    assert demand.values.shape == (17_520, 1) and demand.frequency == "30min"
    assert demand.seasonalities == (48, 336)
    assert demand.covariate_names == ["temperature", "workday"]
    assert demand.times[-1] == np.datetime64("2014-12-31T23:30")
    assert demand.values[0, 0] == pytest.approx(3.914647) and demand.covariates[0, 0] == 18.2
