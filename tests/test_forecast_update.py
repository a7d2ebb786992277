"""Online updates of a trained forecaster: new observations appended without refitting
give the forecast that the whole history gives, from Python and from the command line."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import main

SMALL = ["--hidden", "8", "--epochs", "2", "--horizon", "6", "--window", "12", "--ensemble",
         "1", "--quiet"]  # fmt: skip


def write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["date", "sales", "price"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A monthly series of 72 periods: the first 64 to train on, 8 more arriving later."""
    tmp = tmp_path_factory.mktemp("shop")
    t = np.arange(72)
    sales = 20 + 0.2 * t + 3 * np.sin(2 * np.pi * t / 12)
    rows = [[f"{2000 + k // 12}-{k % 12 + 1:02d}", f"{sales[k]:.3f}", k % 5] for k in range(72)]
    files = {"rows": rows, "dir": tmp, "history": write(tmp / "history.csv", rows[:64]),
             "full": write(tmp / "full.csv", rows)}  # fmt: skip
    argv = ["train", "forecast", "--data", files["history"], "--target", "sales",
            "--covariates", "price", "--out", tmp / "run", *SMALL]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    files["run"] = tmp / "run"
    return files


def test_updates_one_row_at_a_time_forecast_as_the_whole_history(shop):
    model = rnnkit.load(shop["run"])
    whole = model.forecast(str(shop["full"]))
    for k, row in enumerate(shop["rows"][64:]):
        model.update(write(shop["dir"] / f"row{k}.csv", [row]))
    assert len(model.series) == 72
    updated = model.forecast()
    np.testing.assert_array_equal(updated.times, whole.times)
    for part in ("central", "lower", "upper"):
        np.testing.assert_array_equal(getattr(updated, part), getattr(whole, part))


def test_a_skipped_period_is_a_gap(shop):
    model = rnnkit.load(shop["run"])
    model.series = model.read(str(shop["history"]))
    model.update(write(shop["dir"] / "later.csv", [shop["rows"][66]]))  # 64 and 65 missing
    assert len(model.series) == 67 and np.isnan(model.series.values[64:66]).all()
    assert np.isfinite(model.forecast().central).all()


def test_the_command_line_update_equals_the_whole_file(shop, capsys):
    run, new = shop["run"], write(shop["dir"] / "new.csv", shop["rows"][64:])
    assert main(["forecast", str(run), "--data", str(shop["history"]), "--update", str(new)]) == 0
    updated = capsys.readouterr().out
    assert main(["forecast", str(run), "--data", str(shop["full"])]) == 0
    assert updated == capsys.readouterr().out and updated.count("\n") == 7  # header + 6


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["2004-03", "30", "1"]], "2004-03-01 is not after the series' last period, 2005-04-01"),
        ([["2005-05", "many", "1"]], "column 'sales': 'many' is not a number"),
    ],
)
def test_an_update_that_does_not_continue_the_series_is_refused(shop, capsys, rows, message):
    bad = write(shop["dir"] / "bad.csv", rows)
    argv = ["forecast", str(shop["run"]), "--data", str(shop["history"]), "--update", str(bad)]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


def test_records_update_as_a_file_of_the_same_rows_does(shop):
    rows = shop["rows"][64:67]
    from_file = rnnkit.load(shop["run"]).update(write(shop["dir"] / "three.csv", rows))
    records = [{"date": d, "sales": float(s), "price": p} for d, s, p in rows]
    records[1]["sales"] = None  # a gap, as an empty cell would be
    from_records = rnnkit.load(shop["run"]).update(records)
    assert np.isnan(from_records.series.values[65, 0])
    from_file.series.values[65, 0] = np.nan
    np.testing.assert_array_equal(from_records.series.values, from_file.series.values)
    with pytest.raises(ValueError, match=r"observations\[1\], column 'date': not a date: 'soon'"):
        rnnkit.load(shop["run"]).update([records[0], {**records[2], "date": "soon"}])
    with pytest.raises(ValueError, match=r"unknown fields \['weather'\]"):
        rnnkit.load(shop["run"]).update([{**records[0], "weather": 3}])
