"""The forecasting task: train a ``Forecaster`` on a series, score it on the periods it
never saw, forecast past the end, and backtest it from rolling origins.

A model is fitted on the periods before an origin: the last ``horizon`` of those are its
validation part (early stopping), and the scaler and every training window see only the
rest. ``rnnkit train forecast`` puts the origin ``horizon`` before the end and scores the
periods after it; a backtest repeats that from several origins, each model trained
afresh.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.named_series import NAMED_SERIES
from rnnkit.data.timeseries import (
    TimeSeries,
    calendar_features,
    check_target,
    fill_gaps,
    future_times,
    read_series_csv,
)
from rnnkit.data.windows import Scaler, window_starts
from rnnkit.models.forecaster import Forecaster
from rnnkit.tasks.baselines import seasonal_naive
from rnnkit.tasks.forecast_scores import coverage, mase, smape
from rnnkit.tasks.run import load_run, load_weights, prepare_run, save_run
from rnnkit.train import TrainConfig, Trainer


@dataclass
class ForecastConfig:
    data: str = "co2"
    horizon: int = 12
    window: int | None = None  # past periods the model reads; None: 3 seasons or 3 horizons
    cell: str = "lstm"
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.1
    decoder: str = "direct"
    distribution: str = "gaussian"
    coverage: float = 0.8  # of the prediction intervals
    relative: bool = True
    batch_size: int = 32
    lr: float = 3e-3
    epochs: int = 300
    patience: int | None = 30
    time_budget: float | None = None
    seed: int = 0
    columns: dict = field(default_factory=dict)  # time_column, targets, covariates

    def window_for(self, series: TimeSeries) -> int:
        return self.window or max(3 * series.season, 3 * self.horizon)


def load_series(data: str, columns: dict | None = None) -> TimeSeries:
    """A named series (``NAMED_SERIES``) or a CSV/TSV file."""
    if data in NAMED_SERIES:
        return NAMED_SERIES[data]()
    path = Path(data)
    if path.suffix.lower() not in (".csv", ".tsv", ".tab"):
        raise ValueError(
            f"data must be one of {sorted(NAMED_SERIES)} or a .csv/.tsv file, got {data!r}"
        )
    return read_series_csv(path, **(columns or {}))


@dataclass
class Prepared:
    """A series as the model reads it, every array over the same T periods."""

    values: np.ndarray  # (T, K) scaled, gaps filled
    observed: np.ndarray  # (T, K) 1 where measured
    covariates: np.ndarray  # (T, P) scaled, gaps filled
    calendar: np.ndarray  # (T + extra, F): extra future periods for forecasting past T


def prepare(series: TimeSeries, scaler: Scaler, extra: int = 0) -> Prepared:
    both = np.concatenate((series.values, series.covariates), axis=1)
    scaled = fill_gaps(scaler.transform(both))
    k = series.values.shape[1]
    times = np.concatenate((series.times, future_times(series, extra)))
    return Prepared(
        scaled[:, :k], (~np.isnan(series.values)).astype(np.float64), scaled[:, k:],
        calendar_features(times, series.frequency),
    )  # fmt: skip


def windows(data: Prepared, starts: np.ndarray, window: int, horizon: int) -> dict:
    """Tensors for the windows beginning at ``starts``: past (N, W, ...), calendar
    (N, W + H, F), future (N, H, K) and its mask."""
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
        out["mask"] = tensor(data.observed[ahead])
    return out


def build_model(config: dict, series: TimeSeries) -> Forecaster:
    calendar = calendar_features(series.times[:1], series.frequency).shape[1]
    return Forecaster(
        series.values.shape[1], series.covariates.shape[1], calendar, config["horizon"],
        config["cell"], config["hidden"], config["layers"], config["dropout"],
        config["decoder"], config["distribution"], relative=config["relative"],
    )  # fmt: skip


def fit(config: ForecastConfig, series: TimeSeries, out: Path, quiet: bool = True):
    """Train on ``series`` but its last ``horizon`` periods, stopping early on those
    -> (model, scaler, the trainer's result)."""
    horizon, window = config.horizon, config.window_for(series)
    end_train = len(series) - horizon
    for k, name in enumerate(series.targets):
        check_target(series.values[:end_train, k], f"target {name!r} in the training part")
    scaler = Scaler.fit(np.concatenate((series.values, series.covariates), 1)[:end_train])
    data = prepare(series, scaler)
    starts = window_starts(end_train, window, horizon)
    train = windows(data, starts, window, horizon)
    valid = windows(data, np.array([len(series) - window - horizon]), window, horizon)
    torch.manual_seed(config.seed)
    model = build_model(asdict(config), series)

    def forward(model, batch):
        teacher = batch["future"] if model.decoder == "autoregressive" else None
        extra = (batch["past"], batch["observed"], batch["covariates"], batch["calendar"])
        return model(*extra, future=teacher)

    def loss(model, batch):
        return model.loss(forward(model, batch), batch["future"], batch["mask"])

    best = {"score": float("inf"), "state": None}

    def validation_loss(model) -> float:
        model.eval()
        with torch.no_grad():
            parameters = model(valid["past"], valid["observed"], valid["covariates"],
                               valid["calendar"])  # fmt: skip
            score = float(model.loss(parameters, valid["future"], valid["mask"]))
        model.train()
        if score < best["score"]:
            best["score"] = score
            best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return score

    count = len(starts)

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
    result = Trainer(model, loss, batches, train_config, out, validation_loss).fit()
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    return model, scaler, result


def forecast_after(
    model: Forecaster, scaler: Scaler, series: TimeSeries, window: int, coverage_: float
) -> dict[str, np.ndarray]:
    """The ``model.horizon`` periods after the end of ``series`` -> times (H,) and
    central, lower, upper (H, K) in the series' units."""
    horizon = model.horizon
    data = prepare(series, scaler, extra=horizon)
    batch = windows(data, np.array([len(series) - window]), window, horizon)
    with torch.no_grad():
        parameters = model(batch["past"], batch["observed"], batch["covariates"],
                           batch["calendar"])  # fmt: skip
        central, lower, upper = model.interval(parameters, coverage_)
    k = slice(0, series.values.shape[1])
    back = lambda t: scaler.inverse(t[0].double().numpy(), k)  # noqa: E731
    times = future_times(series, horizon)
    return {"times": times, "central": back(central), "lower": back(lower), "upper": back(upper)}


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
            model, scaler, _ = fit(config, history, Path(scratch))
        forecast = forecast_after(model, scaler, history, window, config.coverage)
        actual = series.values[origin : origin + horizon]
        scores = score_forecast(forecast, actual, history.values, series.season)
        results.append({"origin": origin, **scores, "forecast": forecast})
    return results


def train_forecaster(config: ForecastConfig, out: Path, overwrite: bool, quiet: bool) -> str:
    """``rnnkit train forecast``: fit on all but the last ``horizon`` periods, score those
    against the seasonal naive forecast, save the run."""
    prepare_run(out, "forecast", False, overwrite)
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
    model, scaler, result = fit(config, history, out, quiet)
    forecast = forecast_after(model, scaler, history, window, config.coverage)
    actual = series.values[origin:]
    scores = score_forecast(forecast, actual, history.values, series.season)
    naive = seasonal_naive_forecast(history, config.horizon)
    naive_mase = mase(actual, naive, history.values, series.season)
    extra = {
        "scaler": scaler.to_dict(), "window": window, "steps": result.steps,
        "series": {"targets": series.targets, "covariates": series.covariate_names,
                   "frequency": series.frequency, "season": series.season},
        "test": {**scores, "seasonal_naive_mase": naive_mase},
    }  # fmt: skip
    save_run(out, "forecast", asdict(config), model, None, extra)
    return (
        f"{result.steps} steps, {result.epochs} epochs ({result.stopped}); saved to {out}\n"
        f"last {config.horizon} periods of {series.name}: MASE {scores['mase']:.3f} "
        f"(seasonal naive {naive_mase:.3f}), sMAPE {scores['smape']:.2f} %, "
        f"{config.coverage:.0%} interval coverage {scores['coverage']:.0%}"
    )


def seasonal_naive_forecast(history: TimeSeries, horizon: int) -> np.ndarray:
    """(H, K): each target's last season, repeated."""
    columns = [seasonal_naive(history.values[:, k], horizon, history.season)
               for k in range(history.values.shape[1])]  # fmt: skip
    return np.stack(columns, axis=1)


def forecast_run(run_dir: Path, data: str | None = None, horizon: int | None = None):
    """``rnnkit forecast``: a trained run's forecast of the periods after the end of
    ``data`` (default: its training series) -> (the series, forecast_after's dict with the
    interval's coverage)."""
    run = load_run(run_dir, ("forecast",))
    config, extra = run["config"], run["extra"]
    series = load_series(data or config["data"], config["columns"])
    trained = extra["series"]
    found = (series.targets, series.covariate_names, series.frequency)
    expected = (trained["targets"], trained["covariates"], trained["frequency"])
    if found != expected:
        raise ValueError(
            f"{data} has targets {found[0]}, covariates {found[1]} and frequency {found[2]}; "
            f"the model was trained on {expected[0]}, {expected[1]} and {expected[2]}"
        )
    horizon = horizon or config["horizon"]
    if horizon > config["horizon"]:
        raise ValueError(
            f"--horizon {horizon}: this model forecasts at most {config['horizon']} periods"
        )
    window = extra["window"]
    if len(series) < window:
        raise ValueError(f"the series has {len(series)} periods; the model reads the last {window}")
    model = load_weights(run_dir, build_model(config, series))
    scaler = Scaler.from_dict(extra["scaler"])
    result = forecast_after(model, scaler, series, window, config["coverage"])
    result = {name: values[:horizon] for name, values in result.items()}
    return series, {**result, "coverage": config["coverage"]}
