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
