"""The explicit-BPTT engine against the autograd unroll of the same cell, and float64
gradcheck of every cell through the engine."""

from __future__ import annotations

import pytest
import torch

from rnnkit.bptt import autograd_unroll, explicit_bptt
from tests.bptt.cells import CELL_FACTORIES
from tests.conftest import assert_close, weighted_loss

pytestmark = pytest.mark.usefixtures("backend")

LENGTHS = [None, [6, 6, 4, 1], [6, 5, 3, 3]]  # sorted, as the engine requires


def _inputs(cell, steps=6, batch=4, dtype=torch.float64):
    cell = cell.to(dtype)
    x = torch.randn(steps, batch, cell.input_size, dtype=dtype, requires_grad=True)
    state0 = tuple(
        torch.randn(batch, n, dtype=dtype, requires_grad=True) for n in cell.state_sizes()
    )
    return cell, x, state0


@pytest.mark.parametrize("lengths", LENGTHS, ids=str)
@pytest.mark.parametrize("name", CELL_FACTORIES)
def test_engine_matches_autograd_unroll(name, lengths):
    cell, x, state0 = _inputs(CELL_FACTORIES[name]())
    leaves = [x, *state0, *cell.parameters()]
    results = []
    for run in (explicit_bptt, lambda p, w, *a: autograd_unroll(cell, *a)):
        y, state = run(cell.pointwise, cell.weights(), x, state0, lengths)
        grads = torch.autograd.grad(weighted_loss(y, state), leaves)
        results.append((y, state, grads))
    (y, state, grads), (y_ref, state_ref, grads_ref) = results
    assert_close(y, y_ref, 1e-10, "output")
    for k, (s, s_ref) in enumerate(zip(state, state_ref, strict=True)):
        assert_close(s, s_ref, 1e-10, f"final state[{k}]")
    assert len(grads) == len(grads_ref) == len(leaves)
    for k, (g, g_ref) in enumerate(zip(grads, grads_ref, strict=True)):
        assert_close(g, g_ref, 1e-10, f"gradient of leaf {k}")


@pytest.mark.parametrize("lengths", LENGTHS[:2], ids=str)
@pytest.mark.parametrize("name", CELL_FACTORIES)
def test_gradcheck_through_engine(name, lengths):
    cell, x, state0 = _inputs(CELL_FACTORIES[name](), steps=6, batch=4)
    params = tuple(p.detach().requires_grad_() for p in cell.weights() if p is not None)

    def run(x, *tensors):
        state0, weights = (
            tensors[: len(cell.state_sizes())],
            iter(tensors[len(cell.state_sizes()) :]),
        )
        full = type(cell.weights())(
            *(next(weights) if p is not None else None for p in cell.weights())
        )
        y, state = explicit_bptt(cell.pointwise, full, x, state0, lengths)
        return (y, *state)

    assert torch.autograd.gradcheck(run, (x, *state0, *params))


def test_output_is_zero_past_each_sequence_end():
    cell, x, state0 = _inputs(CELL_FACTORIES["lstm"]())
    y, _ = explicit_bptt(cell.pointwise, cell.weights(), x, state0, [6, 4, 2, 1])
    for b, length in enumerate([6, 4, 2, 1]):
        assert bool((y[length:, b] == 0).all())
        assert bool((y[:length, b] != 0).all())


def test_only_requested_gradients_are_computed():
    cell, x, state0 = _inputs(CELL_FACTORIES["gru"]())
    x_frozen = x.detach()
    y, state = explicit_bptt(
        cell.pointwise, cell.weights(), x_frozen, tuple(s.detach() for s in state0)
    )
    weighted_loss(y, state).backward()
    assert x_frozen.grad is None
    assert all(p.grad is not None for p in cell.parameters())


def test_changing_the_output_in_place_is_caught():
    cell, x, state0 = _inputs(CELL_FACTORIES["elman_tanh"]())
    y, _ = explicit_bptt(cell.pointwise, cell.weights(), x, state0)
    y.mul_(2)  # would corrupt the saved h_{t-1} used for dL/dW_hh
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
