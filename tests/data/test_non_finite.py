"""NaN and infinity in numeric data files: a one-line ValueError at load time naming the
file, the example, the step and the channel; finite files (and a series' gaps) still load."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.data import load_data
from rnnkit.data.files import read_sequences_long_csv, read_sequences_npz
from rnnkit.data.finite import first_non_finite
from rnnkit.data.timeseries import read_series_csv


def one_line_error(read, *args) -> str:
    with pytest.raises(ValueError) as error:
        read(*args)
    message = str(error.value)
    assert "\n" not in message
    return message


def _npz(path, X, lengths=None):
    n, steps = X.shape[:2]
    lengths = np.full(n, steps) if lengths is None else lengths
    np.savez(path, X=X, lengths=lengths, y=np.arange(n) % 2)
    return path


@pytest.mark.parametrize("bad, shown", [(math.nan, "NaN"), (math.inf, "+inf")])
def test_npz_names_the_sequence_step_and_channel(tmp_path, bad, shown):
    X = np.ones((6, 10, 3), dtype=np.float32)
    X[3, 7, 2] = bad
    path = _npz(tmp_path / "data.npz", X)
    message = one_line_error(read_sequences_npz, path)
    assert message == f"{path}: X[3] has {shown} at step 7, channel 2 (sequences must be finite)"


def test_npz_names_the_first_of_many_and_counts_them(tmp_path):
    X = np.ones((6, 10, 3))
    X[4, 0, 0], X[1, 5, 1], X[1, 2, 2] = -math.inf, math.nan, math.nan
    X[2, 0, 1] = 1e300  # finite in float64, infinite in the float32 the model reads
    message = one_line_error(read_sequences_npz, _npz(tmp_path / "data.npz", X))
    assert "X[1] has NaN at step 2, channel 2" in message
    assert "4 values are NaN or infinite in all" in message


def test_npz_padding_after_the_lengths_is_not_read(tmp_path):
    X = np.ones((6, 10, 3), dtype=np.float32)
    X[:, 8:] = math.nan  # padding past length 8
    sequences, labels = read_sequences_npz(_npz(tmp_path / "d.npz", X, np.full(6, 8)))
    assert [s.shape for s in sequences] == [(8, 3)] * 6 and labels == ["0", "1"] * 3
    assert all(np.isfinite(s).all() and s.dtype == np.float32 for s in sequences)


def _long_csv(path, cell: str):
    rows = ["id,time,a,b,label", "s1,1,0.5,1,x", "s1,0,0.1,2,x", "s2,0,0.2,3,y"]
    rows += ["s2,2,0.3,4,y", f"s2,1,{cell},5,y"]  # line 6: s2's second step in time order
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("cell, shown", [("nan", "NaN"), ("inf", "+inf")])
def test_long_csv_names_the_line_sequence_step_and_column(tmp_path, cell, shown):
    path = _long_csv(tmp_path / "steps.csv", cell)
    message = one_line_error(read_sequences_long_csv, path, "id", "time", "label")
    assert message == (
        f"{path}, line 6: sequence 's2' has {shown} at step 1 (time = 1), column 'a' "
        "(sequences must be finite)"
    )


def test_long_csv_with_a_non_finite_time_is_named(tmp_path):
    path = tmp_path / "steps.csv"
    path.write_text("id,time,a,label\ns1,0,1,x\ns1,NaN,2,x\ns2,0,3,y\n")
    message = one_line_error(read_sequences_long_csv, path, "id", "time", "label")
    assert "line 3: sequence 's1' has time NaN" in message and "'time'" in message


def test_finite_sequence_files_still_load(tmp_path):
    sequences, labels = read_sequences_long_csv(
        _long_csv(tmp_path / "steps.csv", "0.25"), "id", "time", "label"
    )
    np.testing.assert_allclose(sequences[1][:, 0], [0.2, 0.25, 0.3])  # in time order
    assert labels == ["x", "y"]
    data = load_data(str(_npz(tmp_path / "d.npz", np.ones((20, 5, 2)))), "seqclass")
    assert data.channels == 2 and len(data.train) == 16


def _series(path, sales_cell: str, price_cell: str = "30"):
    rows = ["month,sales,price", "2020-01,1,10", "2020-02,,20"]  # an empty cell: a gap
    rows += [f"2020-03,{sales_cell},{price_cell}", "2020-04,4,40"]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    "cells, named",
    [
        (("nan", "30"), "target 'sales' is NaN at 2020-03 (leave the cell empty to mark a "
                        "missing value)"),
        (("3", "inf"), "covariate 'price' is +inf at 2020-03 (values must be finite)"),
        (("-Infinity", "nan"), "target 'sales' is -inf at 2020-03 (values must be finite; "
                               "2 values are NaN or infinite in all)"),
    ],
)  # fmt: skip
def test_a_series_csv_names_the_time_stamp_and_column(tmp_path, cells, named):
    path = _series(tmp_path / "sales.csv", *cells)
    message = one_line_error(read_series_csv, path, "month", ["sales"], ["price"])
    assert message == f"{path}, line 4: {named}"


def test_a_finite_series_with_gaps_still_loads(tmp_path):
    series = read_series_csv(_series(tmp_path / "s.csv", "3"), "month", ["sales"], ["price"])
    np.testing.assert_array_equal(series.values[:, 0], [1, np.nan, 3, 4])
    assert series.missing == 1


def test_first_non_finite_is_vectorised_and_in_c_order():
    values = np.zeros((3, 4))
    assert first_non_finite(values) is None
    values[2, 0], values[1, 3] = math.nan, math.inf
    assert first_non_finite(values) == ((1, 3), 2)
    assert first_non_finite(values, np.array([True, False, True])[:, None]) == ((2, 0), 1)
