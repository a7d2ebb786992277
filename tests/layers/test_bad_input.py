"""Bad input is a ValueError naming the argument and what was expected, raised before
any computation: never a silent broadcast, a wrong answer or a crash deep inside."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit.nn
from rnnkit.cells import LSTMCell
from rnnkit.layers import Bidirectional, Recurrent, Stacked

T, B, I, H = 6, 3, 4, 5


def lstm():
    return rnnkit.nn.LSTM(I, H, num_layers=2)


def layer():
    return Recurrent(LSTMCell(I, H))


def good_x():
    return torch.randn(T, B, I)


BAD_CALLS = {
    # name: (module factory, call, message pattern)
    "rank 4": (
        lstm,
        lambda m: m(torch.randn(T, B, I, 1)),
        r"input must be 3-D \(T, B, I\) or unbatched",
    ),
    "rank 1": (layer, lambda m: m(torch.randn(T)), r"x must be 3-D \(T, B, I\) with I=4"),
    "feature size": (lstm, lambda m: m(torch.randn(T, B, I + 1)), r"input_size=4 features"),
    "feature size batch_first": (
        lambda: Recurrent(LSTMCell(I, H), batch_first=True),
        lambda m: m(torch.randn(B, T, 7)),
        r"\(B, T, I\)",
    ),
    "integer input": (lstm, lambda m: m(torch.ones(T, B, I, dtype=torch.long)), "floating-point"),
    "not a tensor": (layer, lambda m: m([[1.0] * I] * T), "must be a torch.Tensor"),
    "other dtype": (lstm, lambda m: m(good_x().double()), "dtype torch.float32"),
    "empty sequence": (layer, lambda m: m(torch.randn(0, B, I)), "at least one time step"),
    "input on another device": (
        layer,
        lambda m: m(torch.randn(T, B, I, device="meta")),
        "device cpu",
    ),
    "state batch": (
        lstm,
        lambda m: m(good_x(), (torch.zeros(2, B + 1, H), torch.zeros(2, B + 1, H))),
        r"hx\[0\] must have shape \(2, 3, 5\), got \(2, 4, 5\)",
    ),
    "state size": (
        layer,
        lambda m: m(good_x(), (torch.zeros(B, H), torch.zeros(B, H + 1))),
        r"state\[1\] must have shape \(3, 5\)",
    ),
    "state layers": (
        lstm,
        lambda m: m(good_x(), (torch.zeros(1, B, H), torch.zeros(1, B, H))),
        r"hx\[0\] must have shape \(2, 3, 5\)",
    ),
    "lstm state not a pair": (
        lstm,
        lambda m: m(good_x(), torch.zeros(2, B, H)),
        "hx must be 2 tensor",
    ),
    "state broadcastable": (
        lambda: rnnkit.nn.GRU(I, H),
        lambda m: m(good_x(), torch.zeros(1, 1, H)),
        r"hx must have shape \(1, 3, 5\)",
    ),
    "state on another device": (
        lambda: rnnkit.nn.GRU(I, H),
        lambda m: m(good_x(), torch.zeros(1, B, H, device="meta")),
        "hx must be on the parameters' device",
    ),
    "state dtype": (
        lambda: rnnkit.nn.RNN(I, H),
        lambda m: m(good_x(), torch.zeros(1, B, H, dtype=torch.float64)),
        "hx must have the parameters' dtype",
    ),
    "zero length": (
        lstm,
        lambda m: m(good_x(), lengths=torch.tensor([3, 0, 2])),
        r"lengths must be in \[1, T=6\], got lengths\[1\] = 0",
    ),
    "negative length": (layer, lambda m: m(good_x(), lengths=[3, -1, 2]), r"got lengths\[1\] = -1"),
    "length beyond T": (
        layer,
        lambda m: m(good_x(), lengths=[3, 7, 2]),
        r"lengths must be in \[1, T=6\], got lengths\[1\] = 7",
    ),
    "length count": (
        layer,
        lambda m: m(good_x(), lengths=[3, 2]),
        r"lengths must have shape \(B,\) = \(3,\)",
    ),
    "float lengths": (
        layer,
        lambda m: m(good_x(), lengths=torch.tensor([3.0, 2.0, 1.0])),
        "integer tensor",
    ),
    "lengths on another device": (
        layer,
        lambda m: m(good_x(), lengths=torch.ones(B, dtype=torch.long, device="meta")),
        "lengths must be on the CPU or on x's device",
    ),
    "lengths with packed": (
        layer,
        lambda m: m(pack_padded_sequence(good_x(), [6, 5, 1]), lengths=[6, 5, 1]),
        "lengths must be None when x is a PackedSequence",
    ),
    "lengths with unbatched": (
        lstm,
        lambda m: m(torch.randn(T, I), lengths=[T]),
        "lengths must be None for unbatched",
    ),
    "bidirectional state": (
        lambda: Bidirectional(LSTMCell(I, H), LSTMCell(I, H)),
        lambda m: m(good_x(), "state"),
        "forward_state, backward_state",
    ),
    "stacked state": (
        lambda: Stacked([layer(), Recurrent(LSTMCell(H, H))]),
        lambda m: m(good_x(), [None]),
        "list of 2 per-layer states",
    ),
}


@pytest.mark.parametrize("name", BAD_CALLS)
def test_bad_call_is_a_clear_value_error(name):
    make, call, message = BAD_CALLS[name]
    module = make()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        call(module)
    after = module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


BAD_CONSTRUCTION = {
    "unknown nonlinearity": (
        lambda: rnnkit.nn.RNN(I, H, nonlinearity="gelu"),
        "nonlinearity must be one of",
    ),
    "dropout above 1": (
        lambda: rnnkit.nn.GRU(I, H, num_layers=2, dropout=1.5),
        r"dropout must be a number in \[0, 1\]",
    ),
    "dropout negative": (
        lambda: Stacked([layer()], dropout=-0.1),
        r"dropout must be a number in \[0, 1\)",
    ),
    "zero layers": (lambda: rnnkit.nn.LSTM(I, H, num_layers=0), "num_layers must be an int >= 1"),
    "proj too large": (
        lambda: rnnkit.nn.LSTM(I, H, proj_size=H),
        "proj_size must be smaller than hidden_size=5",
    ),
    "stack sizes": (
        lambda: Stacked([layer(), Recurrent(LSTMCell(H + 1, H))]),
        r"layers\[1\].input_size must equal layers\[0\].output_size=5",
    ),
    "not a cell": (
        lambda: Recurrent(torch.nn.LSTMCell(I, H)),
        "cell must be an rnnkit RecurrentCell",
    ),
    "bidirectional sizes": (
        lambda: Bidirectional(LSTMCell(I, H), LSTMCell(I + 1, H)),
        "backward_cell.input_size",
    ),
}


@pytest.mark.parametrize("name", BAD_CONSTRUCTION)
def test_bad_configuration_is_a_clear_value_error(name):
    make, message = BAD_CONSTRUCTION[name]
    with pytest.raises(ValueError, match=message):
        make()
