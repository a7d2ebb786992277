"""Recording ||dL/dh_t||: explicit engine against autograd hooks, and off by default."""

from __future__ import annotations

import pytest
import torch

from rnnkit.bptt import autograd_unroll, explicit_bptt, record_gradient_flow
from rnnkit.cells import ElmanCell, LSTMCell

pytestmark = pytest.mark.usefixtures("backend")


def _norms_by_hand(cell, x, state0):
    """||dL/dh_t|| from autograd: retain the grad of every h_t of the unrolled cell."""
    state, hs, ys = cell.State(*state0), [], []
    for t in range(x.shape[0]):
        y, state = cell(x[t], state)
        state.h.retain_grad()
        hs.append(state.h)
        ys.append(y)
    torch.stack(ys)[-1].sum().backward()
    return torch.stack([h.grad.norm() for h in hs])


def test_recorded_norms_equal_autograd_gradients():
    cell = LSTMCell(3, 8).double()
    x = torch.randn(10, 2, 3, dtype=torch.float64)
    state0 = tuple(s.double() for s in cell.init_state(2))
    expected = _norms_by_hand(cell, x, state0)
    for run in (
        lambda: explicit_bptt(cell.pointwise, cell.weights(), x, state0, name="layer"),
        lambda: autograd_unroll(cell, x, state0, name="layer"),
    ):
        with record_gradient_flow() as flow:
            y, _ = run()
            y[-1].sum().backward()
        (norms,) = flow.norms("layer")
        torch.testing.assert_close(norms, expected, rtol=1e-10, atol=1e-12)


def test_elman_gradient_decays_with_lag():
    """The vanishing gradient made visible: with small recurrent weights, ||dL/dh_t||
    shrinks geometrically as t moves away from the loss at the last step."""
    cell = ElmanCell(2, 16)
    with torch.no_grad():
        cell.weight_hh.mul_(0.5)
    x = torch.randn(30, 4, 2)
    with record_gradient_flow() as flow:
        y, _ = explicit_bptt(cell.pointwise, cell.weights(), x, tuple(cell.init_state(4)))
        y[-1].sum().backward()
    norms = flow.records[0].norms
    assert norms.shape == (30,)
    assert norms[0] < 1e-3 * norms[-1]
    assert bool((norms[1:] >= norms[:-1]).all())


def test_nothing_is_recorded_outside_the_context():
    cell = ElmanCell(2, 4)
    with record_gradient_flow() as flow:
        pass
    y, _ = explicit_bptt(
        cell.pointwise, cell.weights(), torch.randn(5, 1, 2), tuple(cell.init_state(1))
    )
    y.sum().backward()
    assert flow.records == []
