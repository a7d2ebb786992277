"""The network's forecast averaged with statistical ones fitted to the same history.

Equal-weight combinations of forecasts from different methods are, across the M
competitions, more accurate than the methods they combine, and more reliably so than
weights chosen on a short validation period (Makridakis et al. 2020, the M4 findings;
Claeskens et al. 2016 on the "forecast combination puzzle"). The network and the
statistical models err differently, which is what a combination needs: on the backtest's
short quarterly series (``benchmarks/forecasting.py``) the network alone loses to SARIMA,
the mean of the three wins.

For each target k, with the network's central forecast c (H,) and the statistical
forecasts s_1..s_n (H,):

    combined = (c + s_1 + ... + s_n) / (n + 1)

and the network's interval is moved with its centre (``lower + combined - c``), keeping its
width: the statistical models' own intervals are not used.
"""

from __future__ import annotations

import numpy as np

from rnnkit.tasks.baselines import ets, sarima, theta

#: What ``--combine`` accepts.
STATISTICAL = {"ets": ets, "sarima": sarima, "theta": theta}


def check_methods(methods: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    unknown = [m for m in methods if m not in STATISTICAL]
    if unknown or len(set(methods)) != len(methods):
        raise ValueError(f"combine: distinct methods of {sorted(STATISTICAL)} were expected, "
                         f"got {list(methods)}")  # fmt: skip
    return tuple(methods)


def statistical(history: np.ndarray, horizon: int, season: int,
                methods: tuple[str, ...]) -> list[np.ndarray]:  # fmt: skip
    """Each of ``methods``' forecasts (H, K) of the ``horizon`` periods after ``history``
    (T, K)."""
    return [
        np.stack([STATISTICAL[m](history[:, k], horizon, season) for k in range(history.shape[1])],
                 axis=1)
        for m in methods
    ]  # fmt: skip


def combine(forecast: dict[str, np.ndarray], others: list[np.ndarray]) -> dict[str, np.ndarray]:
    """``forecast`` ("central", "lower", "upper": (H, K) in the series' units) -> the same
    with the central forecast averaged with ``others`` (each (H, K), e.g. ``statistical``)
    and the interval moved with it."""
    if not others:
        return forecast
    central = forecast["central"]
    shift = (central + sum(others)) / (len(others) + 1) - central
    return {"central": central + shift, "lower": forecast["lower"] + shift,
            "upper": forecast["upper"] + shift}  # fmt: skip
