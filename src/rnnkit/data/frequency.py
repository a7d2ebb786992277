"""The frequency of a regular time series, named as pandas names it ("30min", "h", "D",
"B", "7D", "W-SUN", "MS", "3MS", "12MS", ...): the grid of periods it makes, how it is
recognised in a time column, the seasonal periods that go with it and the calendar
features it implies.

    frequency = infer_frequency(dates, "load.csv")            # "30min"
    seasonal_periods(frequency)                               # (48, 336): a day, a week
    times = step_times(dates[0], frequency, np.arange(96))    # two days of half-hours

A period is stored as the time it starts: a date (``datetime64[D]``) for daily and longer
periods, a time to the second (``datetime64[s]``) for shorter ones. Month-based
frequencies (monthly "MS", quarterly "3MS", yearly "12MS") step by calendar months, so 31
January is followed by 28 February, and any date within a period stands for it; every
other frequency needs its time stamps on the grid exactly. The one-letter names of runs
saved before pandas names were used ("D", "W", "M", "Q", "Y") still load.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

#: Earlier runs' frequency names -> pandas names (weekly: every 7 days from the first).
LEGACY = {"D": "D", "W": "7D", "M": "MS", "Q": "3MS", "Y": "12MS"}
_MONTHS = {"MonthBegin": 1, "MonthEnd": 1, "QuarterBegin": 3, "QuarterEnd": 3,
           "YearBegin": 12, "YearEnd": 12}  # fmt: skip
_DAY = pd.Timedelta(days=1)


def normalize(frequency: str) -> str:
    """The name rnnkit keeps for ``frequency``: month-based ones as a number of months
    ("QE" -> "3MS"), others as pandas writes them ("30T" -> "30min"). ValueError for a
    name pandas does not know."""
    frequency = LEGACY.get(frequency, frequency)
    try:
        offset = to_offset(frequency)
    except (ValueError, TypeError):
        raise ValueError(
            f"frequency {frequency!r} is not one pandas knows: e.g. 30min, h, D, B, W-SUN, "
            "MS, QS, YS"
        ) from None
    months = months_per_step(offset)
    if months is not None:
        return "MS" if months == 1 else f"{months}MS"
    return offset.freqstr


def _offset(frequency: str) -> pd.DateOffset:
    return to_offset(LEGACY.get(frequency, frequency))


def months_per_step(frequency: str | pd.DateOffset) -> int | None:
    """Calendar months per period for a month-based frequency, else None."""
    offset = _offset(frequency) if isinstance(frequency, str) else frequency
    months = _MONTHS.get(type(offset).__name__)
    return None if months is None else months * offset.n


def step(frequency: str) -> pd.Timedelta | None:
    """The fixed length of a period (None: month-based, business days, anchored weeks,
    whose periods are not all alike)."""
    offset = _offset(frequency)
    if isinstance(offset, pd.offsets.Tick):
        return pd.Timedelta(offset)
    if type(offset) is pd.offsets.Day:  # a calendar day since pandas 3, not a Tick
        return offset.n * _DAY
    return None


def _unit(frequency: str) -> str:
    length = step(frequency)
    return "s" if length is not None and length < _DAY else "D"


def step_times(start: np.datetime64, frequency: str, steps: np.ndarray) -> np.ndarray:
    """The start of period ``start + k`` for each k >= 0 in ``steps``."""
    steps = np.asarray(steps, dtype=np.int64)
    months = months_per_step(frequency)
    if months is not None:
        month = np.datetime64(start, "M") + steps * months
        return month.astype("datetime64[D]")
    length = step(frequency)
    unit = _unit(frequency)
    if length is not None:
        seconds = np.timedelta64(int(length.total_seconds()), "s")
        return (np.datetime64(start, "s") + steps * seconds).astype(f"datetime64[{unit}]")
    if len(steps) == 0:
        return np.array([], dtype=f"datetime64[{unit}]")
    grid = pd.date_range(pd.Timestamp(start), periods=int(steps.max()) + 1, freq=frequency)
    return grid.to_numpy().astype(f"datetime64[{unit}]")[steps]


def grid_index(dates: np.ndarray, start: np.datetime64, frequency: str, where: str) -> np.ndarray:
    """The period of the grid from ``start`` that each of ``dates`` (>= start) is: any date
    within it for month-based frequencies, its exact start for the others (else a
    ValueError naming the first date off the grid)."""
    months = months_per_step(frequency)
    if months is not None:
        elapsed = dates.astype("datetime64[M]") - np.datetime64(start, "M")
        return elapsed.astype(np.int64) // months
    stamps = dates.astype("datetime64[s]")  # a daily series' stamps are midnights, exactly
    length = step(frequency)
    if length is not None:
        offset = (stamps - np.datetime64(start, "s")).astype(np.int64)
        index, rest = np.divmod(offset, int(length.total_seconds()))
    else:
        last = pd.Timestamp(stamps.max())
        grid = pd.date_range(pd.Timestamp(start), last, freq=frequency).to_numpy()
        grid = grid.astype(stamps.dtype)
        index = np.searchsorted(grid, stamps)
        rest = (grid[np.minimum(index, len(grid) - 1)] != stamps).astype(np.int64)
    if np.any(rest != 0):
        off = dates[np.flatnonzero(rest != 0)[0]]
        raise ValueError(
            f"{where}: the time stamp {off} is not on the grid of {frequency} periods from "
            f"{start}: the time stamps are irregular, or --freq does not match the data"
        )
    return index


def infer_frequency(dates: np.ndarray, where: str) -> str:
    """The frequency of sorted, distinct ``dates``: month-based when the commonest gap is
    a month or more, business days when no date falls on a weekend and the gaps are 1 day
    (3 over a weekend), else the commonest gap itself. Every gap must be a whole number of
    periods (a missing period is a gap of two), else a ValueError: irregular time stamps."""
    gaps = np.diff(dates.astype("datetime64[s]")).astype(np.int64)
    common = _commonest(gaps)
    if common >= 27 * 86400:
        month = dates.astype("datetime64[M]").astype(np.int64)
        months = _commonest(np.diff(month))
        if months < 1 or np.any(np.diff(month) % months):
            raise ValueError(
                f"{where}: irregular time stamps: steps of {sorted(set(np.diff(month)))[:5]} "
                "months; give --freq if the series has a regular frequency"
            )
        return normalize(f"{months}MS")
    weekdays = (dates.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 0: Monday
    over_weekends = (gaps == 3 * 86400) & (weekdays[:-1] == 4)  # Friday to Monday
    if common == 86400 and np.all(weekdays < 5) and over_weekends.any():
        return "B"
    bad = np.flatnonzero(gaps % common)
    if len(bad):
        k = bad[0]
        raise ValueError(
            f"{where}: irregular time stamps: {dates[k]} to {dates[k + 1]} is not a whole "
            f"number of steps of {pd.Timedelta(seconds=common)} (the commonest step); give "
            "--freq if the series has a regular frequency"
        )
    if common % 86400 == 0:  # days (pandas would write 24h: days are not Ticks since 3.0)
        return normalize(f"{common // 86400}D")
    return normalize(to_offset(pd.Timedelta(seconds=common)).freqstr)


def check_frequency(dates: np.ndarray, frequency: str, where: str) -> None:
    """A frequency given for sorted ``dates`` must be theirs: on its grid, and most time
    stamps one period after the last (a frequency finer than the data would make most
    periods gaps)."""
    if len(dates) < 2:
        return
    apart = _commonest(np.diff(grid_index(dates, dates[0], frequency, where)))
    if apart != 1:
        raise ValueError(
            f"{where}: --freq {frequency} does not match the data: its time stamps are "
            f"mostly {apart} periods of {frequency} apart"
        )


def _commonest(gaps: np.ndarray) -> int:
    """The most frequent gap (the shortest of those tied)."""
    values, counts = np.unique(gaps, return_counts=True)
    return int(values[np.argmax(counts)])


def seasonal_periods(frequency: str) -> tuple[int, ...]:
    """The seasonal periods that go with a frequency, shortest first: a day and a week
    for sub-daily data (48 and 336 for half-hours), a week and a year for daily (7, 365),
    5 for business days, 52 for weekly, 12 for monthly, 4 for quarterly, none for yearly
    or where a day is not a whole number of periods."""
    months = months_per_step(frequency)
    if months is not None:
        return (12 // months,) if 12 % months == 0 and months < 12 else ()
    length = step(frequency)
    if length is None:  # business days, anchored weeks
        return {"B": (5,), "W": (52,)}.get(_offset(frequency).rule_code[:1], ())
    if length == _DAY:
        return (7, 365)
    if length == 7 * _DAY:
        return (52,)
    per_day = _DAY / length
    if length < _DAY and per_day == int(per_day):
        return (int(per_day), 7 * int(per_day))
    return ()


def format_time(time: np.datetime64) -> str:
    """A period's start as ISO 8601: the date alone at midnight, else to the minute (or
    the second, if it has seconds)."""
    seconds = int(np.datetime64(time, "s").astype(np.int64) % 86400)
    unit = "D" if seconds == 0 else "m" if seconds % 60 == 0 else "s"
    return str(np.datetime_as_string(np.datetime64(time, "s"), unit=unit))


def calendar_features(times: np.ndarray, frequency: str) -> np.ndarray:
    """(T, F) features of the time alone, so known for any future period, each as (sin,
    cos) of a position in a cycle: the month in the year (monthly, quarterly); the day in
    the year (weekly and shorter); the day of the week (daily and shorter); the time of day
    (shorter than daily). Yearly data has none (F = 0)."""
    months = months_per_step(frequency)
    cycles = []
    if months is not None:
        if months < 12:
            month = times.astype("datetime64[M]").astype(np.int64) % 12
            cycles.append(month / 12)
    else:
        days = times.astype("datetime64[D]")
        year_start = days.astype("datetime64[Y]").astype("datetime64[D]")
        cycles.append((days - year_start).astype(np.float64) / 365.25)
        length = step(frequency)
        if frequency == "B" or (length is not None and length <= _DAY):
            cycles.append(((days.astype(np.int64) + 3) % 7) / 7)  # 1970-01-01: Thursday
        if length is not None and length < _DAY:
            seconds = (times.astype("datetime64[s]") - days).astype(np.int64)
            cycles.append(seconds / 86400)
    if not cycles:
        return np.zeros((len(times), 0))
    angles = 2 * np.pi * np.stack(cycles, axis=1)
    return np.stack([np.sin(angles), np.cos(angles)], axis=2).reshape(len(times), -1)
