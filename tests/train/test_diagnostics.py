"""Gradient-flow diagnostics: the files, and the vanishing gradient measured."""

from __future__ import annotations

import pytest
import torch

from rnnkit.train.adding import adding_problem
from rnnkit.train.diagnostics import diagnose


def test_adding_problem_targets_are_the_sum_of_the_two_marked_values():
    x, y = adding_problem(50, 20, torch.Generator().manual_seed(0))
    assert x.shape == (50, 20, 2) and y.shape == (50, 1)
    assert torch.equal(x[..., 1].sum(1), torch.full((50,), 2.0))
    assert (x[:, :10, 1].sum(1) == 1).all()  # one marker in each half
    torch.testing.assert_close(y[:, 0], (x[..., 0] * x[..., 1]).sum(1))


def test_elman_gradient_vanishes_sooner_than_lstm_and_the_files_are_written(tmp_path):
    reports = diagnose(tmp_path, cells=("rnn", "lstm"), length=100, hidden=32, steps=20,
                       batch_size=16, quiet=True)  # fmt: skip
    rnn_report, lstm_report = reports
    assert rnn_report.reach is not None  # the Elman RNN's gradient falls below 1e-6 ...
    lstm_reach = lstm_report.reach if lstm_report.reach is not None else 100
    assert rnn_report.reach < lstm_reach  # ... closer to the loss than the LSTM's
    assert len(rnn_report.losses) == len(rnn_report.gradient_norms) == 20
    for name in ("gradient_by_lag.png", "training_loss.png", "gradient_norm.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    summary = (tmp_path / "summary.txt").read_text()
    assert f"rnn   reach {rnn_report.reach:>10d} steps" in summary and "lstm" in summary


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cells": ("rnn", "transformer")}, "cells must be some of"),
        ({"length": 0}, "length must be"),
    ],
)
def test_bad_arguments_name_what_is_allowed(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        diagnose(tmp_path, **kwargs)
