"""The forecasting rows of benchmarks/quality.py (issue 7): a rolling-origin backtest of
rnnkit's forecaster against naive, seasonal naive, ETS and SARIMA on the named series.

Each series is forecast from ``folds`` origins one horizon apart, the last one a horizon
before its end; every method sees only the periods before each origin. Six origins is as
many as airpassengers allows (the first then trains on five years); coverage from fewer is
mostly noise, since one horizon's errors move together. Scores are the means over the
origins, per target: MASE (scaled by the in-sample seasonal naive error), sMAPE, and for
rnnkit the coverage of its 80 % prediction intervals.

    python benchmarks/forecasting.py     # about 2 minutes; writes results/forecasting.md

The models are small (64 units, batches of 32), so torch runs them on one thread: a second
one saves little, and on a shared two-core machine it can cost many times over.

``benchmarks/quality.py`` adds the same table to quality.md.
"""

from __future__ import annotations

import datetime
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import table, write_atomically  # noqa: E402

from rnnkit.data.named_series import NAMED_SERIES  # noqa: E402
from rnnkit.tasks.baselines import BASELINES  # noqa: E402
from rnnkit.tasks.forecast import ForecastConfig, backtest  # noqa: E402
from rnnkit.tasks.forecast_scores import coverage, mase, smape  # noqa: E402

#: One season ahead for monthly and quarterly data, a decade for the yearly sunspots.
HORIZONS = {"MS": 12, "3MS": 8, "12MS": 10}


def series_rows(name: str, folds: int) -> list[list[str]]:
    series = NAMED_SERIES[name]()
    horizon = HORIZONS[series.frequency]
    start = time.perf_counter()
    results = backtest(ForecastConfig(data=name, horizon=horizon), series, folds)
    wall = time.perf_counter() - start
    rows = []
    for k, target in enumerate(series.targets):
        scores, covered = {"rnnkit": ([], [])}, []
        for result in results:
            origin = result["origin"]
            history, actual = series.values[:origin, k], series.values[origin : origin + horizon, k]
            scores["rnnkit"][0].append(mase(actual, result["forecast"]["central"][:, k],
                                            history, series.season))  # fmt: skip
            scores["rnnkit"][1].append(smape(actual, result["forecast"]["central"][:, k]))
            interval = (result["forecast"]["lower"][:, k], result["forecast"]["upper"][:, k])
            covered.append(coverage(actual, *interval))
            for method, forecast in BASELINES.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    predicted = forecast(history, horizon, series.season)
                mases, smapes = scores.setdefault(method, ([], []))
                mases.append(mase(actual, predicted, history, series.season))
                smapes.append(smape(actual, predicted))
        cells = [f"{np.mean(m):.3f} / {np.mean(s):.1f}" for m, s in scores.values()]
        label = name if len(series.targets) == 1 else f"{name}: {target}"
        rows.append([label, str(horizon), *cells, f"{np.mean(covered):.0%}", f"{wall:.0f}"])
    return rows


def forecast_table(folds: int = 6) -> list[str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = [row for name in NAMED_SERIES for row in series_rows(name, folds)]
    finally:
        torch.set_num_threads(threads)  # quality.py runs other benchmarks after this one
    header = ["series", "horizon", "rnnkit", *BASELINES, "rnnkit 80 % coverage", "rnnkit s"]
    return [
        f"Forecasting: rolling-origin backtest from {folds} origins, MASE / sMAPE (%), "
        "lower is better; MASE 1 = the seasonal naive forecast's error in sample. Coverage: "
        "the share of the actual values inside rnnkit's 80 % intervals, per target. "
        "rnnkit s: the seconds to train and forecast every origin of the series.",
        "",
        *table(header, rows, text_columns=1),
    ]


def main() -> None:
    started = time.perf_counter()
    lines = forecast_table()
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    header = [
        "# rnnkit forecasts against classical baselines",
        "",
        f"- date: {when}; command: `python benchmarks/forecasting.py` "
        f"({(time.perf_counter() - started) / 60:.1f} min)",
        "- rnnkit: `rnnkit train forecast` defaults (LSTM 64, direct decoding, Gaussian head, "
        "an ensemble of 3 seeds whose interval is their mixture's, log scale for airpassengers "
        "by `--transform auto`, intervals widened on the validation horizon); torch on one "
        "thread",
        "",
    ]
    text = "\n".join(header + lines) + "\n"
    print(text)
    write_atomically(Path(__file__).resolve().parent / "results" / "forecasting.md", text)


if __name__ == "__main__":
    main()
