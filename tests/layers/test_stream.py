"""Streaming one step at a time gives what the whole sequence gives, for every layer kind
and cell, on both backends; the state can be read, reset and started from."""

from __future__ import annotations

import pytest
import torch

import rnnkit.nn
from rnnkit.cells import ElmanCell, GRUCell, LSTMCell
from rnnkit.layers import Bidirectional, Recurrent, Stacked
from tests.conftest import assert_close

pytestmark = pytest.mark.usefixtures("backend")


class NoFastPathGRU(GRUCell):
    pointwise = None


def _steps(stream, x):
    return torch.stack([stream.step(x[t]) for t in range(x.shape[0])])


@pytest.mark.parametrize(
    "make_cell",
    [
        lambda: LSTMCell(4, 300),  # large enough to be split over threads
        lambda: LSTMCell(4, 6, proj_size=3),
        lambda: GRUCell(4, 6),
        lambda: ElmanCell(4, 6, nonlinearity="relu"),
        lambda: NoFastPathGRU(4, 6),
    ],
)
def test_recurrent_stream_equals_whole_sequence(make_cell):
    layer = Recurrent(make_cell())
    x = torch.randn(7, 2, 4)
    y, state = layer(x)
    stream = layer.stream(batch_size=2)
    assert_close(_steps(stream, x), y, 1e-5, "outputs")
    for got, want in zip(stream.state, state, strict=True):
        assert_close(got, want, 1e-5, "state")


def test_stacked_stream_and_initial_state():
    stack = Stacked([Recurrent(LSTMCell(4, 6)), Recurrent(GRUCell(6, 5))])
    x = torch.randn(6, 3, 4)
    initial = [
        LSTMCell.State(torch.randn(3, 6), torch.randn(3, 6)),
        GRUCell.State(torch.randn(3, 5)),
    ]
    y, states = stack(x, initial)
    stream = stack.stream(batch_size=3, state=initial)
    assert_close(_steps(stream, x), y, 1e-5, "outputs")
    assert_close(stream.state[1].h, states[1].h, 1e-5, "last layer's state")


@pytest.mark.parametrize(
    "kind, extra", [("LSTM", {}), ("LSTM", {"proj_size": 2}), ("GRU", {}), ("RNN", {})]
)
def test_dropin_stream_keeps_torch_layout(kind, extra):
    module = getattr(rnnkit.nn, kind)(4, 5, num_layers=2, batch_first=True, **extra)
    x = torch.randn(3, 8, 4)  # (B, T, I)
    y, state = module(x)
    stream = module.stream(batch_size=3)
    assert_close(_steps(stream, x.transpose(0, 1)), y.transpose(0, 1), 1e-5, "outputs")
    for got, want in zip(
        state if kind == "LSTM" else (state,),
        stream.state if kind == "LSTM" else (stream.state,),
        strict=True,
    ):
        assert got.shape == want.shape
        assert_close(got, want, 1e-5, "state")


def test_reset_starts_over_and_weights_changes_are_seen():
    layer = Recurrent(LSTMCell(4, 6))
    x = torch.randn(5, 1, 4)
    stream = layer.stream()
    first = _steps(stream, x)
    stream.reset()
    assert torch.equal(_steps(stream, x), first)
    with torch.no_grad():
        layer.cell.weight_hh.mul_(0.5)  # training between steps must not be missed
    stream.reset()
    assert_close(_steps(stream, x), layer(x)[0], 1e-5, "after a weight change")


def test_stream_of_a_layer_made_in_inference_mode():
    with torch.inference_mode():
        layer = Recurrent(GRUCell(4, 6))
        x = torch.randn(5, 1, 4)
        assert_close(_steps(layer.stream(), x), layer(x)[0], 1e-5, "outputs")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Recurrent(LSTMCell(4, 6), reverse=True).stream(), "needs a forward layer"),
        (lambda: rnnkit.nn.GRU(4, 6, bidirectional=True).stream(), "needs bidirectional=False"),
        (
            lambda: Stacked([Bidirectional(GRUCell(4, 3), GRUCell(4, 3))]).stream(),
            "needs Recurrent layers",
        ),
        (
            lambda: Recurrent(GRUCell(4, 6)).stream(batch_size=0),
            "batch_size must be a positive int",
        ),
        (
            lambda: Recurrent(GRUCell(4, 6)).stream(state=torch.zeros(2, 6)),
            r"state must have shape \(1, 6\)",
        ),
        (
            lambda: Recurrent(GRUCell(4, 6)).stream().step(torch.randn(1, 5)),
            r"\(B=1, I=4\), got \(1, 5\)",
        ),
        (
            lambda: Recurrent(GRUCell(4, 6)).stream().step(torch.randn(2, 4)),
            r"x must have shape \(B=1, I=4\), got \(2, 4\)",
        ),
        (
            lambda: Recurrent(GRUCell(4, 6)).stream().step(torch.randn(4)),
            r"x must have shape \(B=1, I=4\), got \(4,\)",
        ),
        (
            lambda: rnnkit.nn.LSTM(4, 6).stream().step(torch.ones(1, 4, dtype=torch.long)),
            "floating-point",
        ),
    ],
)
def test_bad_stream_use_is_a_clear_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()
