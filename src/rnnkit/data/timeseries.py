"""Regular time series for forecasting: values on a grid of equal periods (daily, weekly,
monthly, quarterly or yearly), gaps as NaN, past covariates, and the calendar features
that are known in advance.

    series = read_series_csv("sales.csv", time_column="date", targets=["units"],
                             covariates=["price"])
    series.values            # (T, K) targets, NaN where a period has no observation
    calendar_features(series.times, series.frequency)   # (T, F), known for future periods too

Periods are stored as the date they start on (``datetime64[D]``); a monthly series steps
by calendar months, so 31 January is followed by 28 February, not 3 March.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.data.files import need_columns, read_rows
from rnnkit.data.finite import describe, first_non_finite, in_all

#: Frequencies, their nominal length in days (to recognise them) and default season.
FREQUENCIES = {"D": (1, 7), "W": (7, 52), "M": (30.4, 12), "Q": (91.3, 4), "Y": (365.25, 1)}
_MONTHS_PER_STEP = {"M": 1, "Q": 3, "Y": 12}
_DAYS_PER_STEP = {"D": 1, "W": 7}


@dataclass
class TimeSeries:
    """Targets (T, K) and past covariates (T, P) on a regular grid of T periods.

    ``season`` is the period of the seasonal naive forecast and of MASE's scale (12 for
    monthly data, 1 where there is none). Covariates are *past* covariates: known up to the
    forecast origin only. Calendar features, known for every future period, come from
    ``calendar_features``.
    """

    name: str
    times: np.ndarray  # (T,) datetime64[D]: the first day of each period
    values: np.ndarray  # (T, K) float64, NaN where missing
    targets: list[str]
    frequency: str  # one of FREQUENCIES
    season: int
    covariates: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (T, P)
    covariate_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.covariates.size == 0:
            self.covariates = np.zeros((len(self.values), 0))

    def __len__(self) -> int:
        return len(self.values)

    @property
    def missing(self) -> int:
        """Periods where some target is unobserved."""
        return int(np.isnan(self.values).any(1).sum())


def step_times(start: np.datetime64, frequency: str, steps: np.ndarray) -> np.ndarray:
    """The start of period ``start + k`` for each k in ``steps`` -> datetime64[D]."""
    steps = np.asarray(steps, dtype=np.int64)
    if frequency in _DAYS_PER_STEP:
        return np.datetime64(start, "D") + steps * _DAYS_PER_STEP[frequency]
    month = np.datetime64(start, "M") + steps * _MONTHS_PER_STEP[frequency]
    return month.astype("datetime64[D]")


def future_times(series: TimeSeries, horizon: int) -> np.ndarray:
    """The ``horizon`` periods after the last one."""
    return step_times(series.times[0], series.frequency, np.arange(horizon) + len(series))


def period_index(times: np.ndarray, start: np.datetime64, frequency: str) -> np.ndarray:
    """The period of the grid from ``start`` that each date falls in (weekly and daily:
    the nearest one, for dates off the grid)."""
    if frequency in _DAYS_PER_STEP:
        days = (times.astype("datetime64[D]") - np.datetime64(start, "D")).astype(np.int64)
        return np.rint(days / _DAYS_PER_STEP[frequency]).astype(np.int64)
    months = times.astype("datetime64[M]") - np.datetime64(start, "M")
    return months.astype(np.int64) // _MONTHS_PER_STEP[frequency]


def calendar_features(times: np.ndarray, frequency: str) -> np.ndarray:
    """(T, F) features of the date alone, so known for any future period: the position in
    the year as (sin, cos) -- month for monthly data, quarter for quarterly, day of the year
    for weekly and daily (daily adds the day of the week). Yearly data has none (F = 0)."""
    days = times.astype("datetime64[D]")
    if frequency == "Y":
        return np.zeros((len(times), 0))
    if frequency in ("M", "Q"):
        month = (days.astype("datetime64[M]").astype(np.int64) % 12).astype(np.float64)
        angle = 2 * np.pi * month / 12  # quarters land on months 0, 3, 6, 9
    else:
        year_start = days.astype("datetime64[Y]").astype("datetime64[D]")
        angle = 2 * np.pi * (days - year_start).astype(np.float64) / 365.25
    features = [np.sin(angle), np.cos(angle)]
    if frequency == "D":
        weekday = 2 * np.pi * ((days.astype(np.int64) + 3) % 7) / 7  # 1970-01-01: Thursday
        features += [np.sin(weekday), np.cos(weekday)]
    return np.stack(features, axis=1)


def fill_gaps(values: np.ndarray) -> np.ndarray:
    """Each column's NaNs by linear interpolation between the observed neighbours (the
    nearest observed value before the first or after the last). Used for a model's
    *inputs*; the loss and the scores skip the periods that were missing."""
    filled = np.array(values, dtype=np.float64)
    steps = np.arange(len(filled))
    for column in filled.T:
        seen = ~np.isnan(column)
        if not seen.any():
            raise ValueError("a column has no observed value at all")
        column[~seen] = np.interp(steps[~seen], steps[seen], column[seen])
    return filled


_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?|[-\s]?[Qq]([1-4]))?(?:[T\s].*)?$")


def parse_date(text: str) -> tuple[np.datetime64, str | None]:
    """``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` (a time of day after it is ignored) or
    ``YYYY-Qn``/``YYYYQn`` -> (the date, the frequency the form implies, if any)."""
    match = _DATE.match(text.strip())
    if not match:
        raise ValueError(f"not a date: {text!r}")
    year, month, day, quarter = match.groups()
    if quarter:
        return np.datetime64(f"{year}-{3 * int(quarter) - 2:02d}-01", "D"), "Q"
    if day:
        return np.datetime64(f"{year}-{int(month):02d}-{int(day):02d}", "D"), None
    if month:
        return np.datetime64(f"{year}-{int(month):02d}-01", "D"), "M"
    return np.datetime64(f"{year}-01-01", "D"), "Y"


def infer_frequency(dates: np.ndarray, where: str) -> str:
    """The frequency whose period length is nearest the median gap between dates."""
    gaps = np.diff(np.sort(dates)).astype(np.float64)
    median = float(np.median(gaps))
    name, (days, _) = min(FREQUENCIES.items(), key=lambda f: abs(np.log(median / f[1][0])))
    if abs(np.log(median / days)) > 0.15:
        raise ValueError(
            f"{where}: the time column's median step is {median:g} days, which is not "
            "daily, weekly, monthly, quarterly or yearly"
        )
    return name


def on_grid(
    dates: np.ndarray, rows: np.ndarray, frequency: str, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (N, C) at sorted ``dates`` onto the regular grid from the first date ->
    (times (T,), values (T, C) with NaN for the periods no row falls in)."""
    start = dates[0]
    index = period_index(dates, start, frequency)
    repeated = index[1:][np.diff(index) == 0]
    if len(repeated):
        first = step_times(start, frequency, repeated[:1])[0]
        raise ValueError(f"{where}: two rows fall in the period starting {first}")
    values = np.full((index[-1] + 1, rows.shape[1]), np.nan)
    values[index] = rows
    return step_times(start, frequency, np.arange(len(values))), values


def read_series_csv(
    path: str | Path,
    time_column: str = "date",
    targets: list[str] | None = None,
    covariates: list[str] | None = None,
    season: int | None = None,
) -> TimeSeries:
    """A CSV (or TSV) with a time column, one or more target columns and optional
    past-covariate columns. Rows may come in any order; missing periods and empty cells
    become NaN (gaps); a NaN or infinity written in a cell is a ValueError naming its time
    stamp and column. ``targets`` defaults to every other column."""
    path = Path(path)
    header, rows = read_rows(path)
    targets = targets or [c for c in header if c != time_column and c not in (covariates or [])]
    covariates = covariates or []
    if not targets:
        raise ValueError(f"{path} has no target column besides the time column {time_column!r}")
    need_columns(path, header, time_column, *targets, *covariates)
    dates, implied = [], set()
    for line, row in enumerate(rows, start=2):
        try:
            date, frequency = parse_date(row[time_column] or "")
        except ValueError as error:
            raise ValueError(f"{path}, line {line}, column {time_column!r}: {error}") from None
        dates.append(date)
        implied.add(frequency)
    columns = [*targets, *covariates]
    numbers = np.full((len(rows), len(columns)), np.nan)
    given = np.zeros(numbers.shape, dtype=bool)  # False: an empty cell, a gap
    for line, row in enumerate(rows, start=2):
        for k, column in enumerate(columns):
            text = (row[column] or "").strip()
            if text:
                try:
                    numbers[line - 2, k] = float(text)
                except ValueError:
                    raise ValueError(
                        f"{path}, line {line}, column {column!r}: {text!r} is not a number"
                    ) from None
                given[line - 2, k] = True
    stamps = [row[time_column].strip() for row in rows]
    _check_finite(path, numbers, given, stamps, columns, len(targets))
    dates = np.array(dates)
    order = np.argsort(dates, kind="stable")
    dates, numbers = dates[order], numbers[order]
    if len(dates) < 2:
        raise ValueError(f"{path} has one row: a series needs at least two")
    frequency = implied.pop() if len(implied) == 1 and None not in implied else None
    frequency = frequency or infer_frequency(dates, str(path))
    times, values = on_grid(dates, numbers, frequency, str(path))
    for k, column in enumerate(targets):
        check_target(values[:, k], f"{path}: target {column!r}")
    return TimeSeries(
        path.stem, times, values[:, : len(targets)], targets, frequency,
        season or FREQUENCIES[frequency][1], values[:, len(targets) :], covariates,
    )  # fmt: skip


def _check_finite(
    path: Path,
    numbers: np.ndarray,
    given: np.ndarray,
    stamps: list[str],
    columns: list[str],
    targets: int,
) -> None:
    """The values written in a series CSV (``numbers`` (R, C) where ``given``; R rows with
    time stamps ``stamps``, the first ``targets`` columns the targets) must be finite: a
    missing value is an empty cell, not the text "nan"."""
    found = first_non_finite(numbers, given)
    if found:
        (r, k), count = found
        value = numbers[r, k]
        missing = "leave the cell empty to mark a missing value"
        why = missing if np.isnan(value) else "values must be finite"
        role = "target" if k < targets else "covariate"
        raise ValueError(
            f"{path}, line {r + 2}: {role} {columns[k]!r} is {describe(value)} at "
            f"{stamps[r]} ({why}{in_all(count)})"
        )


def check_target(column: np.ndarray, what: str) -> None:
    """A target needs at least two distinct observed values to be forecast at all."""
    seen = column[~np.isnan(column)]
    if len(seen) == 0:
        raise ValueError(f"{what} is empty: it has no observed value")
    if np.all(seen == seen[0]):
        raise ValueError(f"{what} is constant ({seen[0]:g}): there is nothing to forecast")
