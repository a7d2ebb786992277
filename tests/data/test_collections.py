"""Many series for a global model: long-format CSVs and the competitions' collections."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from rnnkit.data.collections import NAMED_COLLECTIONS, read_collection_csv


def write(path, rows, header=("store", "date", "sales", "price")):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_long_csv_becomes_one_series_per_id(tmp_path):
    rows = [["b", "2020-02", "5", "1"], ["a", "2020-01", "1", "9"], ["b", "2020-01", "4", "2"],
            ["a", "2020-03", "3", "8"], ["a", "2020-02", "", "7"],
            ["b", "2020-04", "7", ""]]  # fmt: skip
    collection = read_collection_csv(write(tmp_path / "stores.csv", rows), "store",
                                     target="sales", covariates=["price"])  # fmt: skip
    assert collection.ids == ["a", "b"] and collection.frequency == "MS"
    a, b = collection.series
    np.testing.assert_array_equal(a.values[:, 0], [1, np.nan, 3])
    np.testing.assert_array_equal(a.covariates[:, 0], [9, 7, 8])
    np.testing.assert_array_equal(b.values[:, 0], [4, 5, np.nan, 7])  # 2020-03 is a gap
    assert b.times[0] == np.datetime64("2020-01-01") and a.season == 12


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["a", "2020-01", "1", "1"], ["a", "2020-01", "2", "1"], ["b", "2020-01", "1", "1"]],
         "series 'a': two rows fall in the period starting 2020-01-01"),
        ([["a", "2020-01", "1", "1"], ["a", "2020-02", "2", "1"], ["b", "2020-01", "", "1"]],
         "series 'b': target 'sales' is empty"),
        ([["a", "2020-01-01", "1", "1"], ["a", "2020-01-02", "2", "1"],
          ["a", "2020-01-03", "3", "1"], ["b", "2020-01-01 12:00", "1", "1"],
          ["b", "2020-01-02", "2", "1"]],
         "series 'b'"),
        ([["", "2020-01", "1", "1"]], "line 2: the series id 'store' is empty"),
    ],
)  # fmt: skip
def test_bad_collections_say_which_series(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        read_collection_csv(write(tmp_path / "bad.csv", rows), "store", target="sales",
                            covariates=["price"])  # fmt: skip


def test_a_bad_collection_on_the_command_line_is_one_line_with_status_2(tmp_path, capsys):
    from rnnkit.cli import main

    rows = [["a", f"2020-{m:02d}", str(m), "1"] for m in range(1, 13)]
    rows += [["b", f"2020-{m:02d}", "", "1"] for m in range(1, 13)]  # an empty series
    data, out = write(tmp_path / "stores.csv", rows), tmp_path / "run"
    argv = ["train", "forecast", "--data", str(data), "--id-column", "store", "--target",
            "sales", "--horizon", "2", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "series 'b': target 'sales' is empty" in error and len(error.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "count", "horizon", "season"),
    [("m3-monthly", 1428, 18, 12), ("m3-quarterly", 756, 8, 4), ("m3-yearly", 645, 6, 1),
     ("m3-other", 174, 8, 1), ("tourism-monthly", 366, 24, 12), ("tourism-quarterly", 427, 8, 4)],
)  # fmt: skip
def test_the_competitions_as_published(name, count, horizon, season):
    collection = NAMED_COLLECTIONS[name]()
    assert len(collection) == count and collection.horizon == horizon
    assert collection.series[0].season == season and not collection.dated
    assert all(len(tail) == horizon for tail in collection.test)
    assert all(np.isfinite(s.values).all() for s in collection.series)
