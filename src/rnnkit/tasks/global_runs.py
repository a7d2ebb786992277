"""``rnnkit train forecast`` on a collection (a named competition, or a long-format CSV with
``--id-column``): one global model, trained, scored and saved as a run; and the predictor
that forecasts every series of a collection from such a run.

    rnnkit train forecast --data m3-monthly --time-budget 5m --out runs/m3
    rnnkit train forecast --data stores.csv --id-column store --target sales --horizon 8 \\
        --distribution negative-binomial --out runs/stores
    rnnkit forecast runs/stores                  # id, period, central, lower, upper

A named competition is scored on its own held-out tails; a CSV collection on the last
``--horizon`` periods of each series, which training never sees.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from rnnkit.data.collections import NAMED_COLLECTIONS, SeriesCollection, read_collection_csv
from rnnkit.data.frequency import calendar_features, format_time, step_times
from rnnkit.models.global_forecaster import GlobalForecaster
from rnnkit.tasks.forecast import cut
from rnnkit.tasks.global_forecast import (
    FittedGlobal,
    GlobalConfig,
    fit_global,
    forecast_global,
    score_global,
)
from rnnkit.tasks.interface import Predictor
from rnnkit.tasks.run import check_run, load_run, load_weights, prepare_run, save_run
from rnnkit.train.files import write_atomic


def load_collection(data: str, columns: dict) -> SeriesCollection:
    """A named collection, or a long-format CSV read with ``columns`` (id_column,
    time_column, target, covariates, frequency, seasonalities)."""
    if data in NAMED_COLLECTIONS:
        return NAMED_COLLECTIONS[data]()
    if not columns.get("id_column"):
        raise ValueError(f"--data {data}: a collection is one of {sorted(NAMED_COLLECTIONS)} or "
                         "a long-format CSV with --id-column")  # fmt: skip
    return read_collection_csv(data, **columns)


def hold_out(collection: SeriesCollection, horizon: int) -> SeriesCollection:
    """The collection without each series' last ``horizon`` periods, which become its
    held-out tail (a series too short to give them is an error that names it)."""
    series, tails = [], []
    for s in collection.series:
        if len(s) <= 2 * horizon:
            raise ValueError(f"series {s.name!r} has {len(s)} periods: a collection's series "
                             f"need more than 2 x --horizon = {2 * horizon}")  # fmt: skip
        series.append(cut(s, len(s) - horizon))
        tails.append(s.values[-horizon:, 0])
    return replace(collection, series=series, test=tails, horizon=horizon)


def train_collection(config: GlobalConfig, data: str, columns: dict, out: Path,
                     overwrite: bool, quiet: bool) -> str:  # fmt: skip
    check_run(out, "forecast", False, overwrite)
    collection = load_collection(data, columns)
    if collection.test is None:
        collection = hold_out(collection, config.horizon or 12)
    prepare_run(out, "forecast", False, overwrite)
    fitted = fit_global(collection, config, quiet)
    per_series: list[dict] = []
    scores = score_global(fitted, collection, per_series)
    settings = {**asdict(config), "data": data, "columns": columns, "collection": True}
    extra = {
        "window": fitted.window, "horizon": fitted.horizon, "lags": list(fitted.lags),
        "calendar": int(fitted.model.calendar), "ids": collection.ids,
        "frequency": collection.frequency, "seasonalities": list(collection.seasonalities),
        "dated": collection.dated, "steps": fitted.steps, "test": scores,
        "covariates": collection.series[0].covariate_names,
        "future_lags": list(fitted.model.future_lags), "interval_scale": fitted.spread,
    }  # fmt: skip
    save_run(out, "forecast", settings, fitted.model, None, extra)
    write_scores(out / "scores.csv", per_series)
    return (
        f"{fitted.steps} steps ({fitted.stopped}); saved to {out} (each series' scores in "
        "scores.csv)\n"
        f"{len(collection)} series of {collection.name}, the last {fitted.horizon} periods of "
        f"each: mean MASE {scores['mase']:.3f} (seasonal naive {scores['naive_mase']:.3f}), "
        f"sMAPE {scores['smape']:.2f} %, weighted quantile loss {scores['wql']:.4f}, "
        f"{config.coverage:.0%} interval coverage {scores['coverage']:.0%}"
    )


def write_scores(path: Path, rows: list[dict]) -> None:
    """Each series' scores on its held-out tail, as CSV: id, mase, smape, coverage,
    naive_mase (the seasonal naive forecast's MASE)."""
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: v if k == "id" else f"{v:.6g}" for k, v in row.items()} for row in rows)
    text = table.getvalue().encode()
    write_atomic(path, lambda f: f.write(text))


@dataclass(frozen=True)
class CollectionForecast:
    """The series' next periods: ``ids`` (N,), ``times`` (N, H) (period numbers from the
    end of the series when its dates are unknown), ``central`` (the median), ``lower`` and
    ``upper`` (the interval of the run's coverage), each (N, H), ``quantiles``
    (N, H, 9) at 0.1, 0.2, ..., 0.9, and ``samples`` (N, S, H) sample paths when asked."""

    ids: list[str]
    times: list[list[str]]
    central: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    quantiles: np.ndarray
    samples: np.ndarray | None = None


class GlobalForecastPredictor(Predictor):
    """A global forecast run::

    model = rnnkit.load("runs/m3")
    model.forecast()                          # every series of its training collection
    model.forecast("stores.csv", horizon=4)   # a newer file of the same columns
    model.forecast(series=["N1402"], samples=100).samples   # (1, 100, H) sample paths
    """

    def __init__(self, run_dir: Path) -> None:
        run = load_run(run_dir, ("forecast",))
        self.run, self.task, self.config = run_dir, "forecast", run["config"]
        extra = self.extra = run["extra"]
        fields = GlobalConfig.__dataclass_fields__
        self.settings = GlobalConfig(**{k: v for k, v in self.config.items() if k in fields})
        model = GlobalForecaster(
            extra["horizon"], len(extra["lags"]), extra["calendar"], len(extra["ids"]),
            self.settings.embedding_dim, self.settings.cell, self.settings.hidden,
            self.settings.layers, self.settings.dropout, self.settings.likelihood,
            len(extra.get("covariates", [])), tuple(extra.get("future_lags", ())),
        )  # fmt: skip
        model = load_weights(run_dir, model).eval()
        self.fitted = FittedGlobal(model, self.settings, extra["window"], extra["horizon"],
                                   tuple(extra["lags"]), extra["steps"], "loaded",
                                   extra.get("interval_scale", 1.0))  # fmt: skip

    def forecast(self, data: str | None = None, horizon: int | None = None,
                 series: list[str] | None = None, samples: int = 0, seed: int = 0
                 ) -> CollectionForecast:  # fmt: skip
        """The next ``horizon`` (default and most: the trained horizon) periods of every
        series of ``data`` (default: the training collection), or of the ``series`` named,
        after its last period; with ``samples``, that many sample paths of each (drawn
        from a stream seeded by ``seed``)."""
        collection = load_collection(data or self.config["data"], self.config["columns"])
        horizon = horizon or self.extra["horizon"]
        if horizon > self.extra["horizon"]:
            raise ValueError(f"--horizon {horizon}: this model forecasts at most "
                             f"{self.extra['horizon']} periods")  # fmt: skip
        self._check(collection)
        rows = self._rows(collection, series)
        predicted = forecast_global(self.fitted, collection, samples, seed)
        times = [self._future(collection.series[i], horizon, collection.dated) for i in rows]
        part = {name: values[rows, ..., :horizon] if name == "samples" else values[rows, :horizon]
                for name, values in predicted.items()}  # fmt: skip
        return CollectionForecast([collection.ids[i] for i in rows], times, part["median"],
                                  part["lower"], part["upper"], part["quantiles"],
                                  part.get("samples"))  # fmt: skip

    @staticmethod
    def _rows(collection: SeriesCollection, chosen: list[str] | None) -> list[int]:
        """The positions of the ``chosen`` series (all when None)."""
        if chosen is None:
            return list(range(len(collection)))
        where = {key: i for i, key in enumerate(collection.ids)}
        unknown = [key for key in chosen if key not in where]
        if unknown:
            raise ValueError(f"--series: no series {unknown[0]!r} in the collection (its ids "
                             f"are {collection.ids[:5]}{', ...' if len(collection) > 5 else ''})")
        return [where[key] for key in chosen]

    def _check(self, collection: SeriesCollection) -> None:
        if collection.frequency != self.extra["frequency"]:
            raise ValueError(f"the data is of {collection.frequency} periods; the model was "
                             f"trained on {self.extra['frequency']}")  # fmt: skip
        if self.settings.embedding_dim and collection.ids != self.extra["ids"]:
            raise ValueError("this model learned a vector per series: it forecasts the series "
                             "it was trained on only, in that order")  # fmt: skip
        features = calendar_features(collection.series[0].times[:1], collection.frequency)
        if collection.dated and features.shape[1] != self.extra["calendar"]:
            raise ValueError("the data's calendar features differ from the model's")

    @staticmethod
    def _future(series, horizon: int, dated: bool) -> list[str]:
        if not dated:
            return [f"+{k + 1}" for k in range(horizon)]
        steps = np.arange(horizon) + len(series)
        return [format_time(t) for t in step_times(series.times[0], series.frequency, steps)]
