"""The forecasting task of ``rnnkit`` (its model and training: ``rnnkit.tasks.forecast``):

rnnkit train forecast [--data co2|sunspots|airpassengers|macrodata|FILE.csv] --horizon 12 --out DIR
rnnkit forecast DIR [--data FILE.csv] [--horizon N] [--plot out.png] [--output out.csv]
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from rnnkit.arguments import add_epochs_option, duration, positive, rate
from rnnkit.cells import CELLS
from rnnkit.data.collections import NAMED_COLLECTIONS
from rnnkit.data.frequency import format_time
from rnnkit.data.series_transform import TRANSFORMS
from rnnkit.models.forecaster import DECODERS, DISTRIBUTIONS
from rnnkit.tasks.forecast import ForecastConfig, ForecastPredictor, train_forecaster
from rnnkit.tasks.forecast_combination import check_methods
from rnnkit.tasks.global_forecast import GlobalConfig
from rnnkit.tasks.global_runs import GlobalForecastPredictor, train_collection
from rnnkit.tasks.interface import Task
from rnnkit.tasks.run import load_run


def _coverage(text: str) -> float:
    value = rate(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a coverage in (0, 1), got 0")
    return value


class ForecastTask(Task):
    name = "forecast"
    commands = ("forecast",)
    predictor = ForecastPredictor
    stream_field = "observation"  # a session's message: {"observation": {...}} (or several)
    help = "forecast a time series; named data: co2, sunspots, airpassengers, macrodata"
    description = (
        "Trains on all but the last --horizon periods, scores those against the seasonal "
        "naive forecast (MASE, sMAPE, interval coverage), saves the run in --out."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _add_training_options(parser)

    def load(self, run: Path):
        """A run of one series, or of a collection (a global model)."""
        config = load_run(run, ("forecast",))["config"]
        return GlobalForecastPredictor(run) if config.get("collection") else ForecastPredictor(run)

    def train(self, args: argparse.Namespace) -> str:
        return train(args)


FORECAST = ForecastTask()


def _add_training_options(command: argparse.ArgumentParser) -> None:
    add = command.add_argument
    add("--data", default="co2",
        help="a named series (co2, sunspots, airpassengers, macrodata), a named collection "
        f"({', '.join(NAMED_COLLECTIONS)}) or a CSV/TSV file (default co2)")  # fmt: skip
    add("--horizon", type=positive, default=None,
        help="periods to forecast (default 12, or a named collection's own)")  # fmt: skip
    add("--id-column", default=None,
        help="CSV: the column naming the series of a long-format file of many series, "
        "which trains one global model over all of them")  # fmt: skip
    add("--window", type=positive, default=None,
        help="past periods the model reads (default: 3 seasons or 3 horizons, and at least "
        "the longest season)")  # fmt: skip
    add("--time-column", default="date", help="CSV: the column of dates (default date)")
    add("--target", action="append", default=None,
        help="CSV: a column to forecast (repeat for several; default: all others)")  # fmt: skip
    add("--covariates", action="append", default=None,
        help="CSV: a past covariate column (repeat for several)")  # fmt: skip
    add("--freq", default=None,
        help="the series' frequency as pandas names it (30min, h, D, B, W-SUN, MS, QS, "
        "YS; default: inferred from the time stamps)")  # fmt: skip
    add("--seasonality", type=_periods, default=None,
        help="seasonal periods, e.g. 48,336 (default: those of the frequency, e.g. a day and "
        "a week for half-hourly data)")  # fmt: skip
    add("--cell", choices=sorted(CELLS), default="lstm")
    add("--hidden", type=positive, default=64)
    add("--layers", type=positive, default=1)
    add("--dropout", type=rate, default=0.1)
    add("--decoder", choices=DECODERS, default="direct")
    add("--distribution", choices=(*DISTRIBUTIONS, "student-t", "negative-binomial"),
        default=None, help="of the forecast: gaussian (default for one series), quantile; "
        "for a collection also student-t (its default) and negative-binomial (counts)")
    add("--embedding-dim", type=int, default=0,
        help="collections: a learned vector of this size per series (default 0: none)")
    add("--coverage", type=_coverage, default=0.8, help="of the prediction interval (0.8)")
    add("--transform", choices=TRANSFORMS, default="auto",
        help="of the targets: log suits positive series whose seasonal swing grows with "
        "the level; auto (default) picks log for those, none otherwise")  # fmt: skip
    add("--ensemble", type=positive, default=ForecastConfig.ensemble,
        help="models trained from successive seeds, averaged (default "
        f"{ForecastConfig.ensemble})")  # fmt: skip
    add("--no-calibrate", dest="calibrate", action="store_false",
        help="keep the model's own interval width instead of fitting it to the coverage of "
        "the validation horizon")  # fmt: skip
    add("--no-seasonal-lags", dest="seasonal_lags", action="store_false",
        help="one series: no lag inputs (by default each future period also reads the value "
        "one season before it)")  # fmt: skip
    add("--combine", type=_methods, default=[],
        help="one series: statistical forecasts to average with the network's, e.g. "
        "ets,sarima (fitted to the history at each forecast; default none)")  # fmt: skip
    add_epochs_option(command, 300)
    add("--patience", type=positive, default=30, help="early stopping, in epochs")
    add("--time-budget", type=duration, default=None, help="e.g. 90s, 10m")
    add("--lr", type=float, default=None, help="default 3e-3 (one series), 1e-3 (collections)")
    add("--batch-size", type=positive, default=32)
    add("--seed", type=int, default=0)
    add("--out", type=Path, required=True, help="the run directory")
    add("--overwrite", action="store_true", help="replace whatever is in --out")
    add("--quiet", action="store_true", help="no progress bars")


def add_forecast_command(commands) -> None:
    """``rnnkit forecast``."""
    command = commands.add_parser(
        "forecast", help="forecast past the end of a series with a trained model"
    )
    command.add_argument("run", type=Path, help="the run directory of rnnkit train forecast")
    command.add_argument("--data", default=None, help="the series (default: the training data)")
    command.add_argument("--update", type=Path, default=None,
                         help="new observations (a CSV like the series') to append before "
                         "forecasting, without refitting")  # fmt: skip
    command.add_argument("--horizon", type=positive, default=None,
                         help="periods (default and most: the trained horizon)")  # fmt: skip
    command.add_argument("--series", action="append", default=None,
                         help="a collection's run: the id of a series to forecast (repeat for "
                         "several; default: every series)")  # fmt: skip
    command.add_argument("--plot", type=Path, default=None, help="draw history and forecast")
    command.add_argument("--output", type=Path, default=None, help="the CSV (default: stdout)")


def _periods(text: str) -> list[int]:
    try:
        periods = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        periods = []
    if not periods or min(periods) < 2:
        raise argparse.ArgumentTypeError(
            f"expected periods of 2 or more, e.g. 48,336, got {text!r}"
        )
    return periods


def _methods(text: str) -> list[str]:
    try:
        return list(check_methods([m.strip().lower() for m in text.split(",") if m.strip()]))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("combine: ")) from None


def train(args: argparse.Namespace) -> str:
    if args.id_column or args.data in NAMED_COLLECTIONS:
        return _train_collection(args)
    if args.distribution not in (None, *DISTRIBUTIONS):
        raise ValueError(f"--distribution {args.distribution} is for collections; one series "
                         f"takes {' or '.join(DISTRIBUTIONS)}")  # fmt: skip
    args.horizon, args.distribution = args.horizon or 12, args.distribution or "gaussian"
    args.lr = args.lr or 3e-3
    columns = {"time_column": args.time_column, "targets": args.target,
               "covariates": args.covariates, "frequency": args.freq,
               "seasonalities": args.seasonality}  # fmt: skip
    config = ForecastConfig(
        data=args.data, horizon=args.horizon, window=args.window, cell=args.cell,
        hidden=args.hidden, layers=args.layers, dropout=args.dropout, decoder=args.decoder,
        distribution=args.distribution, coverage=args.coverage, transform=args.transform,
        ensemble=args.ensemble, calibrate=args.calibrate, seasonal_lags=args.seasonal_lags,
        combine=args.combine,
        batch_size=args.batch_size, lr=args.lr, epochs=args.epochs, patience=args.patience,
        time_budget=args.time_budget, seed=args.seed, columns=columns,
    )  # fmt: skip
    return train_forecaster(config, args.out, args.overwrite, args.quiet)


def _train_collection(args: argparse.Namespace) -> str:
    """``rnnkit train forecast`` on many series: one global model (``global_runs``)."""
    columns = {"id_column": args.id_column, "time_column": args.time_column,
               "target": (args.target or [None])[0], "covariates": args.covariates,
               "frequency": args.freq, "seasonalities": args.seasonality}  # fmt: skip
    if args.target and len(args.target) > 1:
        raise ValueError("--target: a collection has one target column per series")
    config = GlobalConfig(
        horizon=args.horizon, window=args.window, cell=args.cell, hidden=args.hidden,
        layers=args.layers, dropout=args.dropout, coverage=args.coverage,
        likelihood=args.distribution or "student-t", embedding_dim=args.embedding_dim,
        lr=args.lr or 1e-3, epochs=args.epochs, patience=args.patience,
        time_budget=args.time_budget, seed=args.seed,
    )  # fmt: skip
    return train_collection(config, args.data, columns, args.out, args.overwrite, args.quiet)


def forecast(args: argparse.Namespace, predictor) -> str:
    """``rnnkit forecast RUN``: the ``ForecastPredictor``'s forecast as CSV."""
    from rnnkit.train.files import write_atomic

    if isinstance(predictor, GlobalForecastPredictor):
        return _forecast_collection(args, predictor)
    if args.series:
        raise ValueError("--series is for the run of a collection; this run forecasts one series")
    if args.data:
        predictor.series = predictor.read(args.data)
    if args.update:
        predictor.update(args.update)
    result = predictor.forecast(None, args.horizon)
    series = result.series
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["date"] + [f"{t}{part}" for t in series.targets
                                for part in ("", "_lower", "_upper")])  # fmt: skip
    for k, time in enumerate(result.times):
        row = [format_time(time)]
        for j in range(len(series.targets)):
            row += [f"{getattr(result, part)[k, j]:.6g}" for part in ("central", "lower", "upper")]
        writer.writerow(row)
    notes = []
    if args.plot:
        plot_forecast(args.plot, result)
        notes.append(f"plot drawn in {args.plot}")
    if args.output:
        text = table.getvalue().encode()
        write_atomic(args.output, lambda f: f.write(text))
        notes.append(f"forecast written to {args.output}")
        return "\n".join(notes)
    return table.getvalue().rstrip("\n") + "".join("\n" + n for n in notes)


def _forecast_collection(args: argparse.Namespace, predictor: GlobalForecastPredictor) -> str:
    """Every series' forecast as a long CSV: id, period, central, lower, upper."""
    from rnnkit.train.files import write_atomic

    if args.update or args.plot:
        raise ValueError("--update and --plot are for a run of one series")
    result = predictor.forecast(args.data, args.horizon, args.series)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["id", "period", "central", "lower", "upper"])
    for i, key in enumerate(result.ids):
        for k, time in enumerate(result.times[i]):
            writer.writerow([key, time, *(f"{getattr(result, part)[i, k]:.6g}"
                                          for part in ("central", "lower", "upper"))])  # fmt: skip
    if args.output:
        text = table.getvalue().encode()
        write_atomic(args.output, lambda f: f.write(text))
        return f"forecasts of {len(result.ids)} series written to {args.output}"
    return table.getvalue().rstrip("\n")


def plot_forecast(path: Path, result) -> None:
    """History (its last few seasons), the forecast and its interval, one panel per target."""
    from rnnkit.tasks.figures import save_png, subplots

    series = result.series
    shown = max(4 * series.season, 5 * len(result.times))
    targets = series.targets
    figure, axes = subplots(len(targets), 1, figsize=(8, 2.8 * len(targets)), squeeze=False)
    for j, (name, axis) in enumerate(zip(targets, axes[:, 0], strict=True)):
        axis.plot(series.times[-shown:], series.values[-shown:, j], color="black", label=name)
        axis.plot(result.times, result.central[:, j], color="tab:blue", label="forecast")
        axis.fill_between(result.times, result.lower[:, j], result.upper[:, j],
                          color="tab:blue", alpha=0.25,
                          label=f"{result.coverage:.0%} interval")  # fmt: skip
        axis.legend(loc="upper left")
    axes[0, 0].set_title(f"{series.name}: forecast of the next {len(result.times)} periods")
    save_png(figure, path)
