"""Choosing the time loops: the native ones where they apply, PyTorch's otherwise, with
one warning when the native engine is missing, and the same numbers either way."""

from __future__ import annotations

import warnings

import pytest
import torch

from rnnkit.bptt import backend, native, torch_loops
from rnnkit.cells import ElmanCell, GRUCell, LSTMCell, LSTMPointwise
from rnnkit.layers import Recurrent

needs_native = pytest.mark.skipif(not native.available(), reason="native engine not built")


@needs_native
def test_native_loops_serve_the_cells_they_implement():
    from rnnkit.bptt.native import loops

    x = torch.randn(3, 2, 4)
    for cell in (LSTMCell(4, 5), GRUCell(4, 5), ElmanCell(4, 5, nonlinearity="relu")):
        with backend.use_backend("native"):
            assert backend.loops_for(cell.pointwise, x) is loops
        with backend.use_backend("torch"):
            assert backend.loops_for(cell.pointwise, x) is torch_loops


@needs_native
def test_what_the_native_loops_do_not_cover_runs_on_torch():
    class Changed(LSTMPointwise):  # a subclass may change the math
        pass

    with backend.use_backend("native"):
        assert backend.loops_for(Changed(), torch.randn(3, 2, 4)) is torch_loops
        assert backend.loops_for(LSTMPointwise(), torch.randn(3, 2, 4).half()) is torch_loops


@needs_native
@pytest.mark.parametrize(
    "make_cell",
    [lambda: LSTMCell(4, 6, proj_size=3), lambda: GRUCell(4, 6), lambda: ElmanCell(4, 6)],
)
def test_both_backends_give_the_same_numbers(make_cell):
    layer = Recurrent(make_cell().double())
    x = torch.randn(9, 5, 4, dtype=torch.float64, requires_grad=True)
    lengths = [9, 3, 9, 1, 6]
    results = []
    for name in backend.BACKENDS:
        with backend.use_backend(name):
            y, state = layer(x, lengths=lengths)
            loss = (y * torch.arange(y.numel()).view_as(y).cos()).sum() + state.h.square().sum()
            results.append((y, state, torch.autograd.grad(loss, [x, *layer.parameters()])))
    (y1, s1, g1), (y2, s2, g2) = results
    torch.testing.assert_close(y1, y2, rtol=1e-12, atol=1e-12)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_missing_native_engine_warns_once_and_falls_back(monkeypatch):
    monkeypatch.setattr(native, "unavailable_reason", "it is not built (test)")
    monkeypatch.setattr(backend, "_warned", False)
    layer = Recurrent(GRUCell(4, 5))
    x = torch.randn(6, 2, 4)
    with backend.use_backend("native"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y_native, _ = layer(x)
        layer(x)
    assert len(caught) == 1 and "it is not built (test)" in str(caught[0].message)
    with backend.use_backend("torch"):
        y_torch, _ = layer(x)
    assert torch.equal(y_native, y_torch)


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match=r"backend must be one of \('native', 'torch'\)"):
        backend.set_backend("cuda")


@needs_native
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "make_cell",
    [
        lambda: LSTMCell(7, 37),
        lambda: LSTMCell(7, 48, proj_size=30),
        lambda: LSTMCell(40, 37),  # wide enough for the threads to split dL/dx's columns
        lambda: GRUCell(7, 60),
        lambda: ElmanCell(40, 80),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("lengths", [[12, 8, 3], [12, 12, 11, 8, 8, 5, 3, 2, 1]])
def test_native_loops_on_a_team_match_the_torch_loops(make_cell, threads, dtype, lengths):
    """Large enough for the native loops to run on a team of threads (csrc/team.h): a batch
    of 3 splits the hidden units over the threads, one of 9 the rows; with shares that do
    not fall on vector boundaries, and shrinking batches."""
    layer = Recurrent(make_cell().to(dtype))
    x = torch.randn(12, len(lengths), layer.input_size, dtype=dtype, requires_grad=True)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    before = torch.get_num_threads()
    results = []
    try:
        torch.set_num_threads(threads)
        for name in backend.BACKENDS:
            with backend.use_backend(name):
                y, state = layer(x, lengths=lengths)
                loss = (y * torch.arange(y.numel()).view_as(y).cos()).sum() + state.h.square().sum()
                results.append((y, *state, *torch.autograd.grad(loss, [x, *layer.parameters()])))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
