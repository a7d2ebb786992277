"""NaN or infinity in the data, end to end through ``rnnkit.cli.main``: a one-line error and
status 2, and no model in --out -- whether the loader catches it or, past the loader, the
trainer finds that it never took a step."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.cli import main

SMALL = ["--hidden", "8", "--quiet", "--batch-size", "4", "--epochs", "1"]


def _npz(path, bad: float | None = None, sequences=5):
    """40 sequences, (9, 3) each, ``bad`` at step 2, channel 1 of ``sequences``."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 9, 3)).astype(np.float32)
    y = np.arange(40) % 2
    X[y == 1] += 2.0  # separable
    if bad is not None:
        X[sequences, 2, 1] = bad
    np.savez(path, X=X, lengths=np.full(40, 9), y=y)
    return path


def _train(capsys, data, out, *more) -> tuple[int, str, str]:
    status = main(["train", "seqclass", "--data", str(data), "--out", str(out), *SMALL, *more])
    printed, err = capsys.readouterr()
    return status, printed, err


@pytest.mark.parametrize("bad, shown", [(math.nan, "NaN"), (math.inf, "+inf")])
def test_seqclass_on_an_npz_with_a_nan_is_a_one_line_error(tmp_path, capsys, bad, shown):
    data, out = _npz(tmp_path / "data.npz", bad), tmp_path / "run"
    status, printed, err = _train(capsys, data, out)
    assert status == 2 and printed == ""
    assert err == (
        f"rnnkit: error: {data}: X[5] has {shown} at step 2, channel 1 (sequences must be finite)\n"
    )
    assert not (out / "task.json").exists()


def test_past_the_loader_a_run_without_a_step_saves_no_model(tmp_path, capsys, monkeypatch):
    """NaNs the loader let through (its check switched off here), one in every sequence,
    poison every batch: the trainer's error, not a saved and evaluated model; --overwrite
    then trains afresh."""
    data, out = _npz(tmp_path / "data.npz", math.nan, slice(None)), tmp_path / "run"
    monkeypatch.setattr("rnnkit.data.files.first_non_finite", lambda *args: None)
    status, printed, err = _train(capsys, data, out)
    assert status == 2 and printed == "" and len(err.splitlines()) == 1
    assert err.startswith("rnnkit: error: no optimiser step was taken: all 8 batches were")
    assert "check the data for NaN or infinity" in err
    assert not (out / "task.json").exists() and not list(out.glob("ckpt-*.pt"))
    monkeypatch.undo()
    status, printed, _ = _train(capsys, _npz(tmp_path / "good.npz"), out, "--overwrite")
    assert status == 0 and printed.startswith("8 steps, 1 epochs")
    assert (out / "task.json").exists()


def _tweets(path):
    """40 labelled rows with what a real export holds: an empty text (line 5), an empty
    label (line 9) and stray labels (two 'label', one 'pos.')."""
    rows = [f"{('good fun', 'dull and bad')[k % 2]} {k},{('pos', 'neg')[k % 2]}" for k in range(40)]
    rows[3], rows[7] = ",neg", "great 7,"
    rows += ["a stray row,label", "another,label", "so good,pos."]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def test_a_csv_with_bad_rows_is_an_error_by_default_and_skipped_on_request(tmp_path, capsys):
    data, out = _tweets(tmp_path / "tweets.csv"), tmp_path / "run"
    train = ["train", "sentiment", "--data", str(data), "--out", str(out), *SMALL]
    assert main(train) == 2
    printed, err = capsys.readouterr()
    assert printed == "" and err == (f"rnnkit: error: {data}, line 5: the text ('text') is "
                                     "empty (--bad-rows skip leaves such rows out)\n")  # fmt: skip
    assert not out.exists()
    assert main([*train, "--bad-rows", "skip", "--min-class-count", "3"]) == 0
    printed, err = capsys.readouterr()
    assert err == (f"rnnkit: warning: {data}: dropped 2 classes with fewer than 3 examples "
                   "(3 rows): 'label' (2), 'pos.' (1)\n")  # fmt: skip
    assert printed.startswith(f"skipped 2 bad rows (lines 5, 9); all of them in "
                              f"{out / 'skipped_rows.csv'}\ndropped rare classes: 'label' "
                              "(2 rows), 'pos.' (1 rows)\n")  # fmt: skip
    assert (out / "skipped_rows.csv").read_text().splitlines() == [
        "line,problem", "5,the text ('text') is empty", "9,the label ('label') is empty"]
    assert main(["evaluate", str(out)]) == 0  # the same rows left out again: the same split
    assert "tweets.csv test split: 4 examples" in capsys.readouterr().out
