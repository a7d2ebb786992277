"""The engine's products agree whichever GEMM library computes them."""

from __future__ import annotations

import pytest
import torch

from rnnkit.bptt import explicit_bptt, gemm
from rnnkit.cells import GRUCell, LSTMCell

pytestmark = pytest.mark.usefixtures("backend")

needs_onednn = pytest.mark.skipif(not gemm.use_onednn, reason="torch build without oneDNN")


def _relative_error(got, want):
    got, want = got.detach().double(), want.detach()
    return float((got - want).abs().max() / want.abs().max())


@needs_onednn
@pytest.mark.parametrize("rows, inner, cols", [(128, 512, 2048), (300, 64, 200)])
def test_products_match_float64(rows, inner, cols):
    a, w, bias = torch.randn(rows, inner), torch.randn(cols, inner), torch.randn(cols)
    r = torch.randn(rows, cols)
    with torch.no_grad():  # the oneDNN path is taken only where autograd is off
        assert (
            _relative_error(gemm.linear(a, w, bias), a.double() @ w.double().T + bias.double())
            < 1e-5
        )
        assert _relative_error(gemm.matmul(a, w.T), a.double() @ w.double().T) < 1e-5
        assert _relative_error(gemm.contract_rows(a, r), a.double().T @ r.double()) < 1e-5
        assert _relative_error(gemm.contract_rows(r, a), r.double().T @ a.double()) < 1e-5


@needs_onednn
@pytest.mark.parametrize(
    "make_cell", [lambda: LSTMCell(64, 128, proj_size=96), lambda: GRUCell(64, 128)]
)
def test_engine_gives_the_same_gradients_on_either_library(make_cell, monkeypatch):
    cell = make_cell()
    x = torch.randn(20, 64, 64, requires_grad=True)
    results = []
    for onednn in (True, False):
        monkeypatch.setattr(gemm, "use_onednn", onednn)
        y, state = explicit_bptt(cell.pointwise, cell.weights(), x, tuple(cell.init_state(64)))
        leaves = [x, *cell.parameters()]
        results.append((y, torch.autograd.grad(y.square().sum() + state[0].sum(), leaves)))
    (y1, g1), (y2, g2) = results
    assert _relative_error(y1, y2.double()) < 1e-5
    for a, b in zip(g1, g2, strict=True):
        assert _relative_error(a, b.double()) < 1e-4
