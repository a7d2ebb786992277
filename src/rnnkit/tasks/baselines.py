"""Classical forecasts to measure a network against, each (history (T,), horizon) ->
(H,) for one target column; gaps (NaN) in the history are allowed.

* ``naive``: the last observed value, repeated.
* ``seasonal_naive``: the last observed season, repeated (``naive`` when season is 1).
* ``ets``: exponential smoothing state-space models (Hyndman et al. 2008) from statsmodels,
  chosen by AICc among additive errors with no, linear or damped trend, and no, additive or
  (for positive data) multiplicative seasonality -- the family R's ``ets()`` searches.
* ``sarima``: seasonal ARIMA from statsmodels, chosen by AIC on a small grid of orders
  around the airline model (0,1,1)(0,1,1)_m of Box & Jenkins.
* ``theta``: the Theta method (Assimakopoulos & Nikolopoulos 2000), statsmodels' ThetaModel:
  simple exponential smoothing with half the linear trend, on the seasonally adjusted
  series (multiplicative decomposition) where there is a season.
* ``mstl``: for several seasonal periods (a day and a week in half-hourly data): MSTL
  (Bandara et al. 2021, statsmodels) takes out each seasonal component, ETS without
  seasonality forecasts what is left, and each component's last period is added back --
  the way R's ``stlf``/``mstl`` forecasts go.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from rnnkit.data.timeseries import fill_gaps


def naive(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    seen = history[~np.isnan(history)]
    return np.full(horizon, seen[-1])


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    if season <= 1 or len(history) < season:
        return naive(history, horizon)
    last = fill_gaps(history[:, None])[-season:, 0]  # a gap takes its neighbours' value
    return np.resize(last, horizon)


def _statsmodels():
    try:
        import statsmodels.api as sm
    except ImportError:
        raise ImportError(
            "the ETS, SARIMA and MSTL baselines need statsmodels: pip install 'rnnkit[baselines]'"
        ) from None
    return sm


def _best_forecast(models, criterion: str, what: str, horizon: int) -> np.ndarray:
    """Fit each statsmodels model (those that fail to fit are skipped) and forecast with
    the one of lowest information ``criterion`` ("aic" or "aicc")."""
    best, best_score = None, np.inf
    for model in models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = model.fit(disp=False)
            except (ValueError, np.linalg.LinAlgError):
                continue
        score = getattr(fit, criterion)
        if np.isfinite(score) and score < best_score:
            best, best_score = fit, score
    if best is None:
        raise ValueError(f"no {what} model could be fitted to this history")
    return np.asarray(best.forecast(horizon))


def ets(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    tsa = _statsmodels().tsa
    y = fill_gaps(history[:, None])[:, 0]
    seasonal = [None]
    if season > 1 and len(y) >= 2 * season:
        seasonal += ["add"] + (["mul"] if (y > 0).all() else [])
    trends = [(None, False), ("add", False), ("add", True)]
    models = (
        tsa.ETSModel(
            y,
            error="add",
            trend=trend,
            damped_trend=damped,
            seasonal=kind,
            seasonal_periods=season if kind else None,
        )
        for (trend, damped), kind in itertools.product(trends, seasonal)
    )
    return _best_forecast(models, "aicc", "ETS", horizon)


def sarima(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    tsa = _statsmodels().tsa
    seasonal_orders = [(0, 0, 0, 0)]
    if season > 1 and len(history) >= 3 * season:
        seasonal_orders = [(0, 1, 1, season), (1, 0, 0, season)]
    models = (
        tsa.SARIMAX(
            history,
            order=(p, d, q),
            seasonal_order=seasonal,
            trend="c" if d + seasonal[1] == 0 else None,  # a constant only when undifferenced
        )
        for p, d, q in itertools.product((0, 1, 2), (0, 1), (0, 1))
        for seasonal in seasonal_orders
    )
    return _best_forecast(models, "aic", "SARIMA", horizon)


def theta(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    _statsmodels()
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y = fill_gaps(history[:, None])[:, 0]
    seasonal = season > 1 and len(y) >= 2 * season
    method = "multiplicative" if seasonal and (y > 0).all() else "additive"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ThetaModel(y, period=season if seasonal else 1, deseasonalize=seasonal,
                           method=method)  # fmt: skip
        return np.asarray(model.fit().forecast(horizon))


def mstl(history: np.ndarray, horizon: int, seasonalities: tuple[int, ...]) -> np.ndarray:
    """MSTL + ETS over the periods seen at least twice in ``history`` (ETS alone if none)."""
    periods = sorted(p for p in seasonalities if 1 < p and 2 * p <= len(history))
    if not periods:
        return ets(history, horizon, 1)
    y = fill_gaps(history[:, None])[:, 0]
    _statsmodels()  # installed, or the error that says how to install it
    from statsmodels.tsa.seasonal import MSTL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = MSTL(y, periods=periods).fit()
    seasonal = np.asarray(fitted.seasonal).reshape(len(y), len(periods))
    ahead = ets(y - seasonal.sum(1), horizon, 1)
    for component, period in zip(seasonal.T, periods, strict=True):
        ahead = ahead + np.resize(component[-period:], horizon)
    return ahead


BASELINES = {"naive": naive, "seasonal naive": seasonal_naive, "ETS": ets, "SARIMA": sarima}
