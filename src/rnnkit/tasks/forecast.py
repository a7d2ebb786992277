"""The forecasting task: train a ``Forecaster`` on a series, score it on the periods it
never saw, forecast past the end, and backtest it from rolling origins.

A model is fitted on the periods before an origin: the last ``horizon`` of those are its
validation part (early stopping, and calibrating the prediction intervals), and the choice
of transform, the scaler and every training window see only the rest. ``rnnkit train
forecast`` puts the origin ``horizon`` before the end and scores the periods after it; a
backtest repeats that from several origins, each model trained afresh.

The pipeline, for targets y (T, K): ``transform`` (log or none) -> ``Scaler`` -> the
``Forecaster`` (or an ensemble of them, one per seed) -> an interval in the model's units,
stretched by the calibration factor -> inverse scaler -> inverse transform.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.frequency import normalize
from rnnkit.data.named_series import NAMED_SERIES
from rnnkit.data.series_transform import (
    TRANSFORMS,
    apply_transform,
    choose_transform,
    invert_transform,
)
from rnnkit.data.timeseries import (
    TimeSeries,
    calendar_features,
    check_target,
    extend,
    fill_gaps,
    future_times,
    read_series_csv,
    read_series_rows,
    records_rows,
)
from rnnkit.data.windows import Scaler, window_starts
from rnnkit.models.forecast_ensemble import ForecastEnsemble
from rnnkit.models.forecaster import Forecaster
from rnnkit.tasks.baselines import seasonal_naive
from rnnkit.tasks.export import Graph, batch_and_time
from rnnkit.tasks.forecast_calibration import interval_scores, spread_factor, widen
from rnnkit.tasks.forecast_combination import check_methods, combine, statistical
from rnnkit.tasks.forecast_scores import coverage, mase, smape
from rnnkit.tasks.interface import Predictor
from rnnkit.tasks.run import check_run, load_run, load_weights, prepare_run, save_run
from rnnkit.train import TrainConfig, Trainer, TrainResult, world


@dataclass
class ForecastConfig:
    """The settings of ``rnnkit train forecast``, saved in the run's task.json.

    * ``transform``: of the targets before scaling; "log" for positive series whose
      seasonal swing grows with the level (the central forecast is then the median of a
      log-normal, ``exp`` of the mean on the log scale), "none", or "auto": log when every
      target is positive and multiplicative (``series_transform.choose_transform``).
    * ``ensemble``: members trained from seeds ``seed``, ``seed + 1``, ...; forecasts and
      interval ends are their means.
    * ``calibrate``: stretch or shrink the intervals so that they hold ``coverage`` of the
      validation horizon's values (``forecast_calibration``).
    * ``seasonal_lags``: each future period also reads the value one season before it,
      for each seasonal period that fits in the window (``Forecaster``'s lags).
    * ``combine``: statistical methods ("ets", "sarima", "theta") fitted to the history
      whenever a forecast is made, and averaged with the network's central forecast
      (``forecast_combination``).
    """

    data: str = "co2"
    horizon: int = 12
    window: int | None = None  # past periods the model reads; None: see ``window_for``
    cell: str = "lstm"
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.1
    decoder: str = "direct"
    distribution: str = "gaussian"
    coverage: float = 0.8  # of the prediction intervals
    relative: bool = True
    transform: str = "auto"
    ensemble: int = 3
    calibrate: bool = True
    seasonal_lags: bool = True
    combine: list[str] = field(default_factory=list)
    batch_size: int = 32
    lr: float = 3e-3
    epochs: int | None = 300  # None: until the time budget
    patience: int | None = 30
    time_budget: float | None = None
    seed: int = 0
    columns: dict = field(default_factory=dict)  # time_column, targets, covariates

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {self.transform!r}")
        if not isinstance(self.ensemble, int) or self.ensemble < 1:
            raise ValueError(f"ensemble must be a positive number of models, got {self.ensemble!r}")
        if not 0 < self.coverage < 1:
            raise ValueError(f"coverage must be in (0, 1), got {self.coverage!r}")
        check_methods(self.combine)

    def window_for(self, series: TimeSeries) -> int:
        """The window given, or 3 of the shortest seasons or 3 horizons, whichever is
        longer, and at least the longest season (a week of half-hourly data)."""
        longest = max(series.seasonalities, default=1)
        return self.window or max(3 * series.season, 3 * self.horizon, longest)

    def lags_for(self, series: TimeSeries) -> tuple[int, ...]:
        """The seasonal periods the model reads lags of: those that fit in its window."""
        window = self.window_for(series)
        return tuple(m for m in series.seasonalities if m <= window) if self.seasonal_lags else ()


def load_series(data: str, columns: dict | None = None) -> TimeSeries:
    """A named series (``NAMED_SERIES``) or a CSV/TSV file; ``columns`` holds how to read a
    file (time column, targets, covariates) and, for both, the frequency and seasonal
    periods when they are given."""
    columns = dict(columns or {})
    if data in NAMED_SERIES:
        series = NAMED_SERIES[data]()
        given = columns.get("frequency")
        if given is not None and normalize(given) != series.frequency:
            raise ValueError(f"--freq {given}: {data} is a series of {series.frequency} periods")
        if columns.get("seasonalities") is not None:
            series = replace(series, seasonalities=tuple(columns["seasonalities"]))
        return series
    path = Path(data)
    if path.suffix.lower() not in (".csv", ".tsv", ".tab"):
        raise ValueError(
            f"data must be one of {sorted(NAMED_SERIES)} or a .csv/.tsv file, got {data!r}"
        )
    return read_series_csv(path, **columns)


@dataclass
class Prepared:
    """A series as the model reads it, every array over the same T periods."""

    values: np.ndarray  # (T, K) scaled, gaps filled
    observed: np.ndarray  # (T, K + P) 1 where measured: the targets, then the covariates
    covariates: np.ndarray  # (T, P) scaled, gaps filled
    calendar: np.ndarray  # (T + extra, F): extra future periods for forecasting past T


def prepare(series: TimeSeries, scaler: Scaler, extra: int = 0) -> Prepared:
    both = np.concatenate((series.values, series.covariates), axis=1)
    scaled = fill_gaps(scaler.transform(both))
    k = series.values.shape[1]
    times = np.concatenate((series.times, future_times(series, extra)))
    return Prepared(
        scaled[:, :k], (~np.isnan(both)).astype(np.float64), scaled[:, k:],
        calendar_features(times, series.frequency),
    )  # fmt: skip


def windows(data: Prepared, starts: np.ndarray, window: int, horizon: int) -> dict:
    """Tensors for the windows beginning at ``starts``: past (N, W, ...), calendar
    (N, W + H, F), future (N, H, K) and its mask (1 where the target was observed)."""
    past = starts[:, None] + np.arange(window)
    ahead = starts[:, None] + window + np.arange(horizon)
    span = starts[:, None] + np.arange(window + horizon)
    tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
    out = {
        "past": tensor(data.values[past]),
        "observed": tensor(data.observed[past]),
        "covariates": tensor(data.covariates[past]),
        "calendar": tensor(data.calendar[span]),
    }
    if ahead.max() < len(data.values):
        out["future"] = tensor(data.values[ahead])
        out["mask"] = tensor(data.observed[ahead][..., : data.values.shape[1]])
    return out


def build_model(
    config: dict, targets: int, covariates: int, frequency: str, lags: tuple[int, ...] = (),
    covariate_mask: bool = True,
) -> Forecaster | ForecastEnsemble:
    """The (untrained) model that ``config`` describes for a series of ``targets`` and
    ``covariates`` columns at ``frequency`` with seasonal ``lags``: one ``Forecaster``, or
    with ``ensemble`` > 1 that many in a ``ForecastEnsemble``. ``covariate_mask`` False
    builds the models of runs from before covariates had one."""
    any_day = np.array(["2000-01-01"], dtype="datetime64[D]")
    calendar = calendar_features(any_day, frequency).shape[1]
    members = [
        Forecaster(
            targets,
            covariates,
            calendar,
            config["horizon"],
            config["cell"],
            config["hidden"],
            config["layers"],
            config["dropout"],
            config["decoder"],
            config["distribution"],
            relative=config["relative"],
            lags=tuple(lags),
            covariate_mask=covariate_mask,
        )  # fmt: skip
        for _ in range(config.get("ensemble", 1))  # runs from before ensembles had one
    ]
    return members[0] if len(members) == 1 else ForecastEnsemble(members)


@dataclass
class Fitted:
    """A trained model and what forecasting with it takes."""

    model: Forecaster | ForecastEnsemble
    scaler: Scaler  # of the transformed targets and the covariates
    transform: str  # "log" or "none": applied to the targets before the scaler
    spread: np.ndarray  # (K,) each target's interval calibration factor (1: as predicted)
    result: TrainResult  # the training; with an ensemble, its steps are all members'
    combine: tuple[str, ...] = ()  # statistical forecasts averaged in (``forecast_combination``)


def fit(config: ForecastConfig, series: TimeSeries, out: Path, quiet: bool = True) -> Fitted:
    """Train on ``series`` but its last ``horizon`` periods, stopping early on those and
    calibrating the interval on them."""
    horizon, window = config.horizon, config.window_for(series)
    end_train = len(series) - horizon
    transform = checked_transform(config, series)
    series = replace(series, values=apply_transform(series.values, transform))
    scaler = Scaler.fit(np.concatenate((series.values, series.covariates), 1)[:end_train])
    data = prepare(series, scaler, extra=horizon)  # calendar rows for calibrate's windows
    train = windows(data, window_starts(end_train, window, horizon), window, horizon)
    valid = windows(data, np.array([len(series) - window - horizon]), window, horizon)
    members, steps = [], 0
    for member in range(config.ensemble):
        where = out if config.ensemble == 1 else out / f"member-{member}"
        model, result = train_model(
            replace(config, seed=config.seed + member), series, train, valid, where, quiet
        )
        members.append(model)
        steps += result.steps
    model = members[0] if len(members) == 1 else ForecastEnsemble(members)
    spread = np.ones(series.values.shape[1])
    if config.calibrate:
        spread = calibrate(model, data, end_train, window, config.coverage)
    return Fitted(model, scaler, transform, spread, replace(result, steps=steps),
                  tuple(config.combine))  # fmt: skip


def checked_transform(config: ForecastConfig, series: TimeSeries) -> str:
    """The transform ``fit`` applies to ``series``, after checking that every target of its
    training part (all but the last ``horizon`` periods) can be learnt from."""
    end_train = len(series) - config.horizon
    for k, name in enumerate(series.targets):
        check_target(series.values[:end_train, k], f"target {name!r} in the training part")
    return choose_transform(series.values[:end_train], series.season, config.transform)


def train_model(
    config: ForecastConfig, series: TimeSeries, train: dict, valid: dict, out: Path, quiet: bool
) -> tuple[Forecaster, TrainResult]:
    """One ``Forecaster`` from ``config.seed``, trained on the windows ``train`` and kept
    at its best loss on the window ``valid``."""
    torch.manual_seed(config.seed)
    shape = (series.values.shape[1], series.covariates.shape[1], series.frequency)
    model = build_model({**asdict(config), "ensemble": 1}, *shape, config.lags_for(series))

    def forward(model, batch):
        teacher = batch["future"] if model.decoder == "autoregressive" else None
        extra = (batch["past"], batch["observed"], batch["covariates"], batch["calendar"])
        return model(*extra, future=teacher)

    def loss(model, batch):
        return model.loss(forward(model, batch), batch["future"], batch["mask"])

    best = {"score": float("inf"), "state": None}

    def validation_loss(model) -> float:
        model.eval()

        def summed(part: slice) -> tuple[float, float]:  # over the windows ``part``
            with torch.no_grad():
                mine = {name: value[part] for name, value in valid.items()}
                parameters = model(mine["past"], mine["observed"], mine["covariates"],
                                   mine["calendar"])  # fmt: skip
                observed = float(mine["mask"].sum())
                mean = float(model.loss(parameters, mine["future"], mine["mask"]))
                return mean * observed, observed

        score = world.current().mean(len(valid["past"]), summed)  # each rank its share
        model.train()
        if score < best["score"]:
            best["score"] = score
            best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return score

    count = len(train["past"])

    def batches(epoch: int):
        order = torch.randperm(count, generator=torch.Generator().manual_seed(config.seed + epoch))
        for begin in range(0, count, config.batch_size):
            pick = order[begin : begin + config.batch_size]
            yield {name: value[pick] for name, value in train.items()}

    train_config = TrainConfig(
        epochs=config.epochs, time_budget=config.time_budget, lr=config.lr,
        patience=config.patience, seed=config.seed, quiet=quiet,
        checkpoint_every=10**9, tensorboard=False,
    )  # fmt: skip
    def observed(batch) -> float:  # what the loss averages over: the observed values
        return float(batch["mask"].sum())

    trainer = Trainer(model, loss, batches, train_config, out, validation_loss, weight_of=observed)
    result = trainer.fit()
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    return model, result


def calibrate(
    model: Forecaster | ForecastEnsemble,
    data: Prepared,
    end_train: int,
    window: int,
    coverage_: float,
) -> np.ndarray:
    """(K,) factors (>= 1) that widen the model's intervals to hold ``coverage_`` of the
    held-out periods from ``end_train`` to the end of ``data.values``: every forecast of
    them (from each origin whose window fits, at every lead that lands there) is scored
    (``forecast_calibration``). No period after the end is read.

    Intervals are widened, never narrowed: these periods chose the model's epoch (early
    stopping), so they flatter it, and one horizon's evidence that an interval is too wide
    is weak (in rolling-origin backtests, narrowing lowered the coverage on every series).
    """
    horizon, end = model.horizon, len(data.values)
    origins = np.arange(max(window, end_train - horizon + 1), end)
    batch = windows(data, origins - window, window, horizon)
    with torch.no_grad():
        parameters = model(batch["past"], batch["observed"], batch["covariates"],
                           batch["calendar"])  # fmt: skip
        central, lower, upper = (t.double().numpy() for t in model.interval(parameters, coverage_))
    ahead = origins[:, None] + np.arange(horizon)  # (N, H): the period each lead forecasts
    held = (ahead >= end_train) & (ahead < end)
    actual = np.full(central.shape, np.nan)  # (N, H, K)
    targets = data.values.shape[1]
    seen = np.where(data.observed[ahead[held], :targets] > 0, data.values[ahead[held]], np.nan)
    actual[held] = seen
    factors = [
        spread_factor(interval_scores(actual[..., k], central[..., k], lower[..., k],
                                      upper[..., k]), coverage_)
        for k in range(central.shape[-1])
    ]  # fmt: skip
    return np.maximum(factors, 1.0)


def forecast_inputs(fitted: Fitted, series: TimeSeries, starts: np.ndarray, window: int) -> dict:
    """The model's inputs for the windows of ``series`` beginning at ``starts``: past,
    observed, covariates (N, W, ...) and calendar (N, W + H, F), transformed and scaled."""
    horizon = fitted.model.horizon
    model_series = replace(series, values=apply_transform(series.values, fitted.transform))
    data = prepare(model_series, fitted.scaler, extra=horizon)
    return windows(data, starts, window, horizon)


def forecast_after(
    fitted: Fitted, series: TimeSeries, window: int, coverage_: float
) -> dict[str, np.ndarray]:
    """The ``model.horizon`` periods after the end of ``series`` -> times (H,) and
    central, lower, upper (H, K) in the series' units (with the log transform the central
    forecast is the median)."""
    model, scaler, horizon = fitted.model, fitted.scaler, fitted.model.horizon
    batch = forecast_inputs(fitted, series, np.array([len(series) - window]), window)
    with torch.no_grad():
        parameters = model(batch["past"], batch["observed"], batch["covariates"],
                           batch["calendar"])  # fmt: skip
        interval = model.interval(parameters, coverage_)
    central, lower, upper = (t[0].double().numpy() for t in interval)  # (H, K) each
    lower, upper = widen(central, lower, upper, fitted.spread)
    k = slice(0, series.values.shape[1])
    back = lambda a: invert_transform(scaler.inverse(a, k), fitted.transform)  # noqa: E731
    forecast = {"central": back(central), "lower": back(lower), "upper": back(upper)}
    others = statistical(series.values, horizon, series.season, fitted.combine)
    forecast = combine(forecast, others)
    return {"times": future_times(series, horizon), **forecast}


def score_forecast(forecast: dict, actual: np.ndarray, history: np.ndarray, season: int):
    """MASE, sMAPE and interval coverage of one forecast against what happened."""
    return {
        "mase": mase(actual, forecast["central"], history, season),
        "smape": smape(actual, forecast["central"]),
        "coverage": coverage(actual, forecast["lower"], forecast["upper"]),
    }


def cut(series: TimeSeries, end: int) -> TimeSeries:
    """The series up to (not including) period ``end``."""
    return replace(series, times=series.times[:end], values=series.values[:end],
                   covariates=series.covariates[:end])  # fmt: skip


def backtest(config: ForecastConfig, series: TimeSeries, folds: int = 3) -> list[dict]:
    """Rolling origin: for each of the last ``folds`` origins (``horizon`` apart, the last
    one ``horizon`` before the end), train on the periods before the origin and score the
    ``horizon`` after it. -> one score dict per origin (with the forecast)."""
    horizon, window = config.horizon, config.window_for(series)
    results = []
    for fold in range(folds, 0, -1):
        origin = len(series) - fold * horizon
        history = cut(series, origin)
        with tempfile.TemporaryDirectory() as scratch:
            fitted = fit(config, history, Path(scratch))
        forecast = forecast_after(fitted, history, window, config.coverage)
        actual = series.values[origin : origin + horizon]
        scores = score_forecast(forecast, actual, history.values, series.season)
        results.append({"origin": origin, **scores, "forecast": forecast})
    return results


def train_forecaster(config: ForecastConfig, out: Path, overwrite: bool, quiet: bool) -> str:
    """``rnnkit train forecast``: fit on all but the last ``horizon`` periods, score those
    against the seasonal naive forecast, save the run."""
    check_run(out, "forecast", False, overwrite)
    series = load_series(config.data, config.columns)
    window, horizon = config.window_for(series), config.horizon
    if len(series) < window + 3 * horizon:
        raise ValueError(
            f"{series.name} has {len(series)} periods, fewer than window + 3 x horizon = "
            f"{window} + 3 x {horizon} (a window and a horizon to learn from, a horizon to "
            "validate on and one to test): use a shorter --window or --horizon"
        )
    origin = len(series) - horizon
    history = cut(series, origin)
    checked_transform(config, history)  # bad data stops here, before an old run is removed
    prepare_run(out, "forecast", False, overwrite)
    fitted = fit(config, history, out, quiet)
    result = fitted.result
    forecast = forecast_after(fitted, history, window, config.coverage)
    actual = series.values[origin:]
    scores = score_forecast(forecast, actual, history.values, series.season)
    naive = seasonal_naive_forecast(history, config.horizon)
    naive_mase = mase(actual, naive, history.values, series.season)
    extra = {
        "scaler": fitted.scaler.to_dict(), "window": window, "steps": result.steps,
        "lags": list(config.lags_for(series)), "covariate_mask": True,
        "transform": fitted.transform, "interval_scale": fitted.spread.tolist(),
        "series": {"targets": series.targets, "covariates": series.covariate_names,
                   "frequency": series.frequency, "season": series.season},
        "test": {**scores, "seasonal_naive_mase": naive_mase},
    }  # fmt: skip
    save_run(out, "forecast", asdict(config), fitted.model, None, extra)
    return (
        f"{result.steps} steps, {result.epochs} epochs ({result.stopped}); saved to {out}\n"
        f"last {config.horizon} periods of {series.name}: MASE {scores['mase']:.3f} "
        f"(seasonal naive {naive_mase:.3f}), sMAPE {scores['smape']:.2f} %, "
        f"{config.coverage:.0%} interval coverage {scores['coverage']:.0%}"
    )


def seasonal_naive_forecast(history: TimeSeries, horizon: int) -> np.ndarray:
    """(H, K): each target's last season, repeated: the longest seasonal period seen at
    least twice in the history (a week, rather than a day, in half-hourly data)."""
    period = history.longest_season_within(len(history))
    columns = [seasonal_naive(history.values[:, k], horizon, period)
               for k in range(history.values.shape[1])]  # fmt: skip
    return np.stack(columns, axis=1)


@dataclass(frozen=True)
class Forecast:
    """The periods after the end of ``series``: ``times`` (H,); ``central``, ``lower`` and
    ``upper`` (H, K), one column per target, in the series' units; the interval holds
    the truth with probability ``coverage``."""

    series: TimeSeries
    times: np.ndarray
    central: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    coverage: float


class ForecastPredictor(Predictor):
    """A trained forecast run::

    model = rnnkit.load("runs/co2")
    model.forecast()                          # after the end of its training series
    model.forecast("load.csv", horizon=6)     # after the end of a newer file
    model.update("today.csv").forecast()      # new observations, no refitting

    ``series`` is what ``forecast()`` without data forecasts after: the training series,
    then that series with every ``update`` appended.
    """

    def __init__(self, run_dir: Path) -> None:
        run = load_run(run_dir, ("forecast",))
        self.run, self.task, self.config = run_dir, "forecast", run["config"]
        extra = run["extra"]
        self.trained = extra["series"]
        self.window: int = extra["window"]
        shape = (len(self.trained["targets"]), len(self.trained["covariates"]))
        # Runs from before seasonal lags and covariate masks: neither.
        model = build_model(self.config, *shape, self.trained["frequency"],
                            extra.get("lags", ()), extra.get("covariate_mask", False))  # fmt: skip
        # Runs from before transforms and calibration: neither.
        spread = np.array(extra.get("interval_scale", [1.0] * shape[0]))
        self.fitted = Fitted(
            load_weights(run_dir, model), Scaler.from_dict(extra["scaler"]),
            extra.get("transform", "none"), spread, None, tuple(self.config.get("combine", ())),
        )  # fmt: skip
        self._series: TimeSeries | None = None

    @property
    def series(self) -> TimeSeries:
        if self._series is None:
            self._series = self.read(self.config["data"])
        return self._series

    @series.setter
    def series(self, series: TimeSeries) -> None:
        self._series = series

    def read(self, data: str) -> TimeSeries:
        """A CSV file or a named series, checked to have the columns and frequency the
        model was trained on."""
        series = load_series(data, self.config["columns"])
        found = (series.targets, series.covariate_names, series.frequency)
        expected = (self.trained["targets"], self.trained["covariates"],
                    normalize(self.trained["frequency"]))  # fmt: skip
        if found != expected:
            raise ValueError(
                f"{data} has targets {found[0]}, covariates {found[1]} and frequency "
                f"{found[2]}; the model was trained on {expected[0]}, {expected[1]} and "
                f"{expected[2]}"
            )
        return series

    def update(self, observations: str | Path | list[dict]) -> ForecastPredictor:
        """Append the periods of ``observations`` to ``series``, without refitting: the
        next ``forecast()`` starts after them and equals a forecast from a file that holds
        the whole history. ``observations``: a CSV with the training file's time and value
        columns, or records (``[{"date": "2024-05-01", "load": 3.2}]``); one period or
        many, after the last period of ``series``. -> self."""
        columns = self.config["columns"]
        time_column = columns.get("time_column", "date")
        if isinstance(observations, list):
            where = "observations"
            rows = records_rows(observations, time_column, self.trained["targets"],
                                self.trained["covariates"])  # fmt: skip
        else:
            where = str(observations)
            rows = read_series_rows(Path(observations), time_column, columns.get("targets"),
                                    columns.get("covariates"))  # fmt: skip
        self.series = extend(self.series, rows, where)
        return self

    def forecast(self, data: str | TimeSeries | None = None, horizon: int | None = None
                 ) -> Forecast:  # fmt: skip
        """The ``horizon`` (default and most: the trained horizon) periods after the end
        of ``data`` (a CSV file, a named series or a ``TimeSeries`` with the trained
        columns; default: ``series``)."""
        config = self.config
        if isinstance(data, TimeSeries):
            series = data
        else:
            series = self.read(data) if data else self.series
        horizon = horizon or config["horizon"]
        if horizon > config["horizon"]:
            raise ValueError(
                f"--horizon {horizon}: this model forecasts at most {config['horizon']} periods"
            )
        if len(series) < self.window:
            raise ValueError(
                f"the series has {len(series)} periods; the model reads the last {self.window}"
            )
        result = forecast_after(self.fitted, series, self.window, config["coverage"])
        cut = {name: values[:horizon] for name, values in result.items()}
        return Forecast(series, **cut, coverage=config["coverage"])

    def graphs(self) -> list[Graph]:
        """For ``rnnkit export``: the model's inputs (``forecast_inputs``: past, observed,
        covariates (B, W, ...) scaled, calendar (B, W + H, F)) -> central, lower, upper
        (B, H, K) in the series' units (float64), as ``forecast`` gives them."""
        series = load_series(self.config["data"], self.config["columns"])
        starts = np.maximum(len(series) - self.window - np.arange(3), 0)  # the last 3 windows
        inputs = forecast_inputs(self.fitted, series, starts, self.window)
        inputs = {name: inputs[name] for name in ("past", "observed", "covariates", "calendar")}
        batch, steps = batch_and_time(max(self.fitted.model.lags, default=1))  # holds every lag
        horizon = self.fitted.model.horizon
        dynamic = {name: {0: batch, 1: steps} for name in inputs}
        dynamic["calendar"] = {0: batch, 1: steps + horizon}
        module = _InSeriesUnits(self.fitted, self.config["coverage"])
        return [Graph(None, module, inputs, ["central", "lower", "upper"], dynamic)]


class _InSeriesUnits(torch.nn.Module):
    """The model's interval, widened by the calibration factor, unscaled and untransformed
    in float64: what ``forecast_after`` does after the model, as a graph."""

    def __init__(self, fitted: Fitted, coverage: float) -> None:
        super().__init__()
        self.model, self.coverage, self.log = fitted.model, coverage, fitted.transform == "log"
        targets = len(fitted.spread)
        self.register_buffer("spread", torch.tensor(fitted.spread, dtype=torch.float64))
        self.register_buffer("mean", torch.tensor(fitted.scaler.mean[:targets]))
        self.register_buffer("std", torch.tensor(fitted.scaler.std[:targets]))

    def forward(self, past, observed, covariates, calendar):
        parameters = self.model(past, observed, covariates, calendar)
        central, lower, upper = (t.double() for t in self.model.interval(parameters, self.coverage))
        lower, upper = widen(central, lower, upper, self.spread)
        back = [t * self.std + self.mean for t in (central, lower, upper)]
        return tuple(t.exp() for t in back) if self.log else tuple(back)
