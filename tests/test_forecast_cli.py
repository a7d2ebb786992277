"""rnnkit train forecast and rnnkit forecast, end to end on small files, and their errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import main

SMALL = ["--hidden", "8", "--epochs", "3", "--horizon", "6", "--window", "12", "--quiet"]


def _series_csv(path, periods=60, value=None, level=20):
    t = np.arange(periods)
    y = level + 0.2 * t + 3 * np.sin(2 * np.pi * t / 12)
    y = y if value is None else np.full(periods, value)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["date", "sales", "price"])
        for k in range(periods):
            writer.writerow([f"{2000 + k // 12}-{k % 12 + 1:02d}", f"{y[k]:.3f}", k % 5])
    return path


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_train_then_forecast_a_csv(tmp_path, capsys):
    data, out = _series_csv(tmp_path / "shop.csv"), tmp_path / "run"
    status, text, _ = _run(capsys, "train", "forecast", "--data", data, "--target", "sales",
                           "--covariates", "price", "--out", out, *SMALL)  # fmt: skip
    assert status == 0 and "MASE" in text and "seasonal naive" in text
    run = json.loads((out / "task.json").read_text())
    assert run["task"] == "forecast" and run["extra"]["series"]["covariates"] == ["price"]
    status, text, _ = _run(capsys, "forecast", out, "--horizon", "4", "--plot", tmp_path / "f.png")
    assert status == 0 and (tmp_path / "f.png").stat().st_size > 1000
    rows = list(csv.reader(text.splitlines()[:5]))
    assert rows[0] == ["date", "sales", "sales_lower", "sales_upper"]
    assert [r[0] for r in rows[1:]] == ["2005-01-01", "2005-02-01", "2005-03-01", "2005-04-01"]
    assert all(float(r[2]) < float(r[1]) < float(r[3]) for r in rows[1:])
    status, _, _ = _run(capsys, "forecast", out, "--output", tmp_path / "f.csv")
    assert status == 0 and len((tmp_path / "f.csv").read_text().splitlines()) == 7
    status, _, err = _run(capsys, "forecast", out, "--horizon", "7")
    assert status == 2 and "at most 6 periods" in err
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    status, _, err = _run(capsys, "predict", out, "some text")  # a run of another task
    assert status == 2 and "holds a forecast model; this command takes sentiment" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda p: _series_csv(p, periods=29), [], "29 periods, fewer than window + 3 x horizon"),
        (lambda p: _series_csv(p, value=5.0), [], "is constant"),
        (lambda p: p.write_text("date,sales\n2020-01,1\nyesterday,2\n"), [], "not a date"),
        (lambda p: p.write_text("date,sales\n2020-01,\n2020-02,\n2020-03,\n"), [], "is empty"),
        (lambda p: p.write_text("date,sales\n2020-01,1\n2020-02,x\n"), [], "is not a number"),
        (lambda p: _series_csv(p), ["--time-column", "when"], "no column 'when'"),
        (
            lambda p: _series_csv(p, level=-10),
            ["--transform", "log"],
            "transform 'log' needs positive targets",
        ),
    ],
)
def test_bad_series_are_one_line_errors_and_write_nothing(
    tmp_path, capsys, make, extra, message, existing_run
):
    data, out = tmp_path / "s.csv", tmp_path / "run"
    make(data)
    status, _, err = _run(capsys, "train", "forecast", "--data", data, "--target", "sales",
                          "--out", out, *SMALL, *extra)  # fmt: skip
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    run, before = existing_run
    status, _, err = _run(capsys, "train", "forecast", "--data", data, "--target", "sales",
                          "--out", run, "--overwrite", *SMALL, *extra)  # fmt: skip
    assert status == 2 and message in err
    assert _files(run) == before  # --overwrite replaces a run only once the new one is good


def _files(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
    """A trained forecast run and its files, which bad input must leave as they are."""
    directory = tmp_path_factory.mktemp("forecast")
    data, out = _series_csv(directory / "shop.csv"), directory / "run"
    assert main(["train", "forecast", "--data", str(data), "--target", "sales", "--out",
                 str(out), *SMALL]) == 0  # fmt: skip
    return out, _files(out)


def test_a_horizon_must_be_positive(capsys, existing_run):
    run, before = existing_run
    with pytest.raises(SystemExit) as stop:
        main(["train", "forecast", "--horizon", "0", "--out", str(run), "--overwrite"])
    assert stop.value.code == 2 and "expected a positive integer" in capsys.readouterr().err
    assert _files(run) == before


def test_forecasting_a_series_of_other_columns_is_refused(tmp_path, capsys):
    data, out = _series_csv(tmp_path / "shop.csv"), tmp_path / "run"
    _run(capsys, "train", "forecast", "--data", data, "--target", "sales", "--out", out, *SMALL)
    other = tmp_path / "other.csv"
    other.write_text(
        "date,sales\n" + "".join(f"{2000 + k // 4}Q{k % 4 + 1},{k}\n" for k in range(20))
    )
    status, _, err = _run(capsys, "forecast", out, "--data", other)
    assert status == 2 and "the model was trained on ['sales']" in err


def test_the_transform_ensemble_and_calibration_settings_reach_the_run(tmp_path, capsys):
    data, out = _series_csv(tmp_path / "shop.csv"), tmp_path / "run"
    status, _, _ = _run(capsys, "train", "forecast", "--data", data, "--target", "sales",
                        "--out", out, "--transform", "log", "--ensemble", "2", "--no-calibrate",
                        *SMALL)  # fmt: skip
    assert status == 0
    run = json.loads((out / "task.json").read_text())
    config, extra = run["config"], run["extra"]
    assert (config["transform"], config["ensemble"], config["calibrate"]) == ("log", 2, False)
    assert extra["transform"] == "log" and extra["interval_scale"] == [1.0]
    status, text, _ = _run(capsys, "forecast", out)
    rows = list(csv.reader(text.splitlines()))[1:]
    assert status == 0 and len(rows) == 6
    assert all(0 < float(r[2]) < float(r[1]) < float(r[3]) for r in rows)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--transform", "sqrt"], "argument --transform: invalid choice: 'sqrt'"),
        (["--ensemble", "0"], "argument --ensemble: expected a positive integer"),
    ],
)
def test_bad_forecast_options_are_one_line_errors(tmp_path, capsys, option, message):
    with pytest.raises(SystemExit) as stop:
        main(["train", "forecast", "--out", str(tmp_path / "run"), *option])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and not (tmp_path / "run").exists()


def test_load_forecasts_what_the_cli_prints(capsys, existing_run):
    out, _ = existing_run
    forecast = rnnkit.load(out).forecast(horizon=3)
    assert forecast.central.shape == (3, 1) and forecast.series.targets == ["sales"]
    assert (forecast.lower < forecast.central).all() and (forecast.central < forecast.upper).all()
    status, text, _ = _run(capsys, "forecast", out, "--horizon", "3")
    rows = [line.split(",") for line in text.splitlines()[1:]]
    assert status == 0 and [r[0] for r in rows] == [str(t) for t in forecast.times]
    assert [float(r[1]) for r in rows] == pytest.approx(forecast.central[:, 0], rel=1e-5)
