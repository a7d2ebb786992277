"""Each cell against its torch.nn counterpart for one step, weights loaded unchanged."""

from __future__ import annotations

import pytest
import torch

from rnnkit.cells import ElmanCell, GRUCell, LSTMCell
from tests.conftest import assert_close

CASES = [
    (lambda: ElmanCell(5, 7), lambda: torch.nn.RNNCell(5, 7)),
    (
        lambda: ElmanCell(5, 7, nonlinearity="relu"),
        lambda: torch.nn.RNNCell(5, 7, nonlinearity="relu"),
    ),
    (lambda: ElmanCell(5, 7, bias=False), lambda: torch.nn.RNNCell(5, 7, bias=False)),
    (lambda: LSTMCell(5, 7), lambda: torch.nn.LSTMCell(5, 7)),
    (lambda: LSTMCell(5, 7, bias=False), lambda: torch.nn.LSTMCell(5, 7, bias=False)),
    (lambda: GRUCell(5, 7), lambda: torch.nn.GRUCell(5, 7)),
    (lambda: GRUCell(5, 7, bias=False), lambda: torch.nn.GRUCell(5, 7, bias=False)),
]


@pytest.mark.parametrize("make_ours, make_torch", CASES)
def test_one_step_matches_torch_cell(make_ours, make_torch):
    ours, theirs = make_ours(), make_torch()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 5)
    state = ours.init_state(3)
    state = type(state)(*(torch.randn_like(s) for s in state))
    y, new_state = ours(x, state)
    expected = theirs(x, tuple(state) if len(state) > 1 else state.h)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for got, want in zip(new_state, expected, strict=True):
        assert_close(got, want, 1e-6, "state")
    assert_close(y, expected[0], 1e-6, "y")
    grads = torch.autograd.grad(y.square().sum(), list(ours.parameters()))
    torch_grads = torch.autograd.grad(expected[0].square().sum(), list(theirs.parameters()))
    for got, want in zip(grads, torch_grads, strict=True):
        assert_close(got, want, 1e-6, "gradient")


def test_lstm_projection_shapes_and_default_state():
    cell = LSTMCell(4, 6, proj_size=2)
    y, state = cell(torch.randn(3, 4))
    assert y.shape == (3, 2) and state.h.shape == (3, 2) and state.c.shape == (3, 6)
    assert cell.weight_hh.shape == (24, 2) and cell.weight_hr.shape == (2, 6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ElmanCell(4, 6, nonlinearity="sigmoid"), "nonlinearity must be one of"),
        (lambda: LSTMCell(4, 6, proj_size=6), "proj_size must be an int in"),
        (lambda: GRUCell(0, 6), "input_size must be a positive int"),
        (lambda: GRUCell(4, -1), "hidden_size must be a positive int"),
    ],
)
def test_bad_configuration_is_a_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()
