"""Regular time series for forecasting: values on a grid of equal periods at any
frequency pandas can name (``rnnkit.data.frequency``), gaps as NaN, past covariates, and
the calendar features that are known in advance.

    series = read_series_csv("load.csv", time_column="time", targets=["load"],
                             covariates=["temperature"])
    series.frequency, series.seasonalities    # "30min", (48, 336): inferred
    series.values            # (T, K) targets, NaN where a period has no observation
    calendar_features(series.times, series.frequency)   # (T, F), known for future periods too
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.data.files import need_columns, read_rows
from rnnkit.data.finite import describe, first_non_finite, in_all
from rnnkit.data.frequency import (
    calendar_features,
    check_frequency,
    format_time,
    grid_index,
    infer_frequency,
    normalize,
    seasonal_periods,
    step_times,
)

__all__ = ["SeriesRows", "TimeSeries", "calendar_features", "check_target", "extend",
           "fill_gaps", "future_times", "on_grid", "parse_times", "read_series_csv",
           "read_series_rows", "step_times"]  # fmt: skip


@dataclass
class TimeSeries:
    """Targets (T, K) and past covariates (T, P) on a regular grid of T periods.

    ``seasonalities`` are the seasonal periods, shortest first (48 and 336 for half-hourly
    data); ``season``, the shortest (1 where there is none), is MASE's scale. Covariates
    are *past* covariates: known up to the forecast origin only. Calendar features, known
    for every future period, come from ``calendar_features``.
    """

    name: str
    times: np.ndarray  # (T,) the start of each period: datetime64[D], or [s] below a day
    values: np.ndarray  # (T, K) float64, NaN where missing
    targets: list[str]
    frequency: str  # a pandas name, as rnnkit.data.frequency.normalize gives it
    seasonalities: tuple[int, ...] = ()
    covariates: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (T, P)
    covariate_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.frequency = normalize(self.frequency)
        self.seasonalities = tuple(sorted(int(p) for p in self.seasonalities))
        if self.covariates.size == 0:
            self.covariates = np.zeros((len(self.values), 0))

    @property
    def season(self) -> int:
        return self.seasonalities[0] if self.seasonalities else 1

    def longest_season_within(self, length: int) -> int:
        """The longest seasonal period seen at least twice in ``length`` periods (1: none):
        the seasonal naive forecast's."""
        fitting = [p for p in self.seasonalities if 2 * p <= length]
        return fitting[-1] if fitting else 1

    def __len__(self) -> int:
        return len(self.values)

    @property
    def missing(self) -> int:
        """Periods where some target is unobserved."""
        return int(np.isnan(self.values).any(1).sum())


def future_times(series: TimeSeries, horizon: int) -> np.ndarray:
    """The ``horizon`` periods after the last one."""
    return step_times(series.times[0], series.frequency, np.arange(horizon) + len(series))


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


_SHORT = re.compile(r"^(\d{4})(?:-(\d{1,2})|[-\s]?[Qq]([1-4]))?$")


def parse_times(texts: list[str]) -> tuple[np.ndarray, str | None, int | None]:
    """Time stamps -> (datetime64[s] (N,), the frequency their form implies, the index of
    the first one that is not a time, or None). ``YYYY``, ``YYYY-MM`` and ``YYYY-Qn`` /
    ``YYYYQn`` mean yearly, monthly and quarterly periods; anything else is read as ISO
    8601 (``2024-01-31``, ``2024-01-31 13:30``, ``2024-01-31T13:30:00``), a time zone
    converted to UTC."""
    texts = [t.strip() for t in texts]
    matches = [_SHORT.match(t) for t in texts]
    if all(matches):
        forms = {("Q" if m[3] else "M" if m[2] else "Y") for m in matches}
        starts = [f"{m[1]}-{3 * int(m[3]) - 2 if m[3] else int(m[2] or 1):02d}-01" for m in matches]
        implied = forms.pop() if len(forms) == 1 else None
        return np.array(starts, dtype="datetime64[s]"), implied, None
    parsed = pd.to_datetime(pd.Series(texts), format="ISO8601", errors="coerce", utc=True)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        return np.array([], dtype="datetime64[s]"), None, int(bad[0])
    return parsed.dt.tz_localize(None).to_numpy().astype("datetime64[s]"), None, None


def on_grid(
    dates: np.ndarray, rows: np.ndarray, frequency: str, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (N, C) at sorted ``dates`` onto the regular grid from the first date ->
    (times (T,), values (T, C) with NaN for the periods no row falls in)."""
    start = dates[0]
    index = grid_index(dates, start, frequency, where)
    repeated = index[1:][np.diff(index) == 0]
    if len(repeated):
        first = step_times(start, frequency, repeated[:1])[0]
        raise ValueError(f"{where}: two rows fall in the period starting {format_time(first)}")
    values = np.full((index[-1] + 1, rows.shape[1]), np.nan)
    values[index] = rows
    return step_times(start, frequency, np.arange(len(values))), values


def read_series_csv(
    path: str | Path,
    time_column: str = "date",
    targets: list[str] | None = None,
    covariates: list[str] | None = None,
    frequency: str | None = None,
    seasonalities: list[int] | None = None,
) -> TimeSeries:
    """A CSV (or TSV) with a time column, one or more target columns and optional
    past-covariate columns. Rows may come in any order; missing periods and empty cells
    become NaN (gaps); a NaN or infinity written in a cell is a ValueError naming its time
    stamp and column. ``targets`` defaults to every other column. ``frequency`` (a pandas
    name) is inferred unless given, and ``seasonalities`` follow from it unless given."""
    path = Path(path)
    rows = read_series_rows(path, time_column, targets, covariates)
    if len(rows.dates) < 2:
        raise ValueError(f"{path} has one row: a series needs at least two")
    where = str(path)
    if frequency is not None:
        frequency = normalize(frequency)
        check_frequency(rows.dates, frequency, where)
    frequency = frequency or normalize(rows.implied or infer_frequency(rows.dates, where))
    times, values = on_grid(rows.dates, rows.numbers, frequency, where)
    k = len(rows.targets)
    for j, column in enumerate(rows.targets):
        check_target(values[:, j], f"{path}: target {column!r}")
    return TimeSeries(
        path.stem, times, values[:, :k], rows.targets, frequency,
        seasonal_periods(frequency) if seasonalities is None else tuple(seasonalities),
        values[:, k:], rows.covariates,
    )  # fmt: skip


@dataclass
class SeriesRows:
    """A series file's rows, sorted by time, before they are put on a grid."""

    dates: np.ndarray  # (N,) datetime64[s], distinct within a series
    numbers: np.ndarray  # (N, K + P): targets, then covariates; NaN for an empty cell
    targets: list[str]
    covariates: list[str]
    implied: str | None  # the frequency the time stamps' form implies (2024-Q1: quarterly)
    ids: np.ndarray | None = None  # (N,) str: the series of each row, in a long-format file


def read_series_rows(
    path: Path,
    time_column: str,
    targets: list[str] | None,
    covariates: list[str] | None,
    id_column: str | None = None,
) -> SeriesRows:
    """The rows of a series file, checked (columns, times, numbers) and sorted by time
    (by series, then time, in a long-format file with an ``id_column``)."""
    header, rows = read_rows(path)
    return series_rows(header, rows, str(path), time_column, targets, covariates, id_column)


def records_rows(records: list[dict], time_column: str, targets: list[str],
                 covariates: list[str], where: str = "observations") -> SeriesRows:  # fmt: skip
    """Observations given as records (``[{"date": "2024-05-01", "load": 3.2}, ...]``, as a
    server session receives them) -> their rows, checked as a file's are; a missing or
    null value is a gap."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{where}: a list of objects, one per period, was expected")
    header = [time_column, *targets, *covariates]
    unknown = sorted({key for record in records for key in record} - set(header))
    if unknown:
        raise ValueError(f"{where}: unknown fields {unknown}; the fields are {header}")
    text = lambda value: "" if value is None else str(value)  # noqa: E731
    rows = [{column: text(record.get(column)) for column in header} for record in records]
    return series_rows(header, rows, where, time_column, targets, covariates,
                       row_name=lambda r: f"{where}[{r}]")  # fmt: skip


def series_rows(
    header: list[str],
    rows: list[dict[str, str]],
    path: str,
    time_column: str,
    targets: list[str] | None,
    covariates: list[str] | None,
    id_column: str | None = None,
    row_name: Callable[[int], str] | None = None,
) -> SeriesRows:
    """``rows`` (text cells under ``header``) read from ``path`` -> checked and sorted;
    errors name row r by ``row_name(r)`` (default: its line in a file with a header)."""
    where = row_name or (lambda r: f"{path}, line {r + 2}")
    covariates = covariates or []
    others = {time_column, id_column, *covariates}
    targets = targets or [c for c in header if c not in others]
    if not targets:
        raise ValueError(f"{path} has no target column besides the time column {time_column!r}")
    named = [time_column, *targets, *covariates] + ([id_column] if id_column else [])
    need_columns(path, header, *named)
    ids = None
    if id_column is not None:
        ids = np.array([(row[id_column] or "").strip() for row in rows], dtype=object)
        blank = np.flatnonzero(ids == "")
        if len(blank):
            raise ValueError(f"{where(blank[0])}: the series id {id_column!r} is empty")
    stamps = [(row[time_column] or "").strip() for row in rows]
    dates, implied, bad = parse_times(stamps)
    if bad is not None:
        raise ValueError(
            f"{where(bad)}, column {time_column!r}: not a date: {stamps[bad]!r}"
        )
    columns = [*targets, *covariates]
    numbers = np.full((len(rows), len(columns)), np.nan)
    given = np.zeros(numbers.shape, dtype=bool)  # False: an empty cell, a gap
    for r, row in enumerate(rows):
        for k, column in enumerate(columns):
            text = (row[column] or "").strip()
            if text:
                try:
                    numbers[r, k] = float(text)
                except ValueError:
                    raise ValueError(
                        f"{where(r)}, column {column!r}: {text!r} is not a number"
                    ) from None
                given[r, k] = True
    _check_finite(where, numbers, given, stamps, columns, len(targets))
    keys = np.zeros(len(dates), dtype=np.int64)
    if ids is not None:
        keys = np.unique(ids, return_inverse=True)[1]
    order = np.lexsort((dates, keys))  # stable: by series, then time
    dates, numbers, keys = dates[order], numbers[order], keys[order]
    ids = None if ids is None else ids[order]
    twice = np.flatnonzero((np.diff(dates) == np.timedelta64(0, "s")) & (np.diff(keys) == 0))
    if len(twice):
        which = "" if ids is None else f"series {ids[twice[0]]!r}: "
        raise ValueError(f"{path}: {which}two rows fall in the period starting "
                         f"{format_time(dates[twice[0]])}")  # fmt: skip
    return SeriesRows(dates, numbers, targets, covariates, implied, ids)


def extend(series: TimeSeries, rows: SeriesRows, where: str) -> TimeSeries:
    """``series`` with the periods of ``rows`` (the same targets and covariates, on its
    grid, after its last period; the periods between become gaps) appended."""
    if (rows.targets, rows.covariates) != (series.targets, series.covariate_names):
        raise ValueError(
            f"{where} has targets {rows.targets} and covariates {rows.covariates}; the "
            f"series has {series.targets} and {series.covariate_names}"
        )
    if len(rows.dates) == 0:
        return series
    index = grid_index(rows.dates, series.times[0], series.frequency, where)
    if index[0] < len(series):
        raise ValueError(
            f"{where}: {format_time(rows.dates[0])} is not after the series' last period, "
            f"{format_time(series.times[-1])}: an update brings new periods only"
        )
    length = int(index[-1]) + 1
    both = np.full((length, rows.numbers.shape[1]), np.nan)
    both[: len(series)] = np.concatenate((series.values, series.covariates), axis=1)
    both[index] = rows.numbers
    k = len(series.targets)
    times = step_times(series.times[0], series.frequency, np.arange(length))
    return replace(series, times=times, values=both[:, :k], covariates=both[:, k:])


def _check_finite(
    where: Callable[[int], str],
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
            f"{where(r)}: {role} {columns[k]!r} is {describe(value)} at "
            f"{stamps[r]} ({why}{in_all(count)})"
        )


def check_target(column: np.ndarray, what: str) -> None:
    """A target needs at least two distinct observed values to be forecast at all."""
    seen = column[~np.isnan(column)]
    if len(seen) == 0:
        raise ValueError(f"{what} is empty: it has no observed value")
    if np.all(seen == seen[0]):
        raise ValueError(f"{what} is constant ({seen[0]:g}): there is nothing to forecast")
