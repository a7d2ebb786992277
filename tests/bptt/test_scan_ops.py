"""The element-wise recurrences as torch.library ops (``rnnkit.bptt.indrnn_scan``,
``min_scan``, ``linear_scan``): opcheck, second derivatives, and what users do with IndRNN,
minGRU and minLSTM layers (compile, export, torch.func, double backward, autocast), each
against eager rnnkit or the autograd unroll of the cell's own step."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.library import opcheck

from rnnkit import Bidirectional, Recurrent, Stacked
from rnnkit.bptt import autograd_unroll
from rnnkit.bptt.indrnn_scan import indrnn_scan, indrnn_scan_backward, indrnn_scan_forward
from rnnkit.bptt.linear_scan import linear_scan, linear_scan_backward, linear_scan_forward
from rnnkit.bptt.min_scan import min_scan, min_scan_backward, min_scan_forward
from rnnkit.cells import IndRNNCell, MinGRUCell, MinLSTMCell
from tests.bptt.transforms import (
    assert_exports_for_any_batch_and_time,
    assert_per_sample_gradients_match_a_loop,
    assert_trains_like_eager,
)

F64 = {"dtype": torch.float64}
CELLS = {
    "mingru": lambda: MinGRUCell(5, 6),
    "minlstm": lambda: MinLSTMCell(5, 6),
    "indrnn_relu": lambda: IndRNNCell(5, 6),
    "indrnn_tanh": lambda: IndRNNCell(5, 6, nonlinearity="tanh"),
}


def every_scan() -> Stacked:
    """Both min cells and both IndRNNs, each direction, stacked: (B, T, 5) -> (B, T, 12)."""
    return Stacked(
        [
            Bidirectional(MinGRUCell(5, 6), MinLSTMCell(5, 6)),
            Bidirectional(IndRNNCell(12, 6), IndRNNCell(12, 6, nonlinearity="tanh")),
        ],
        batch_first=True,
    )


def _masks(steps: int, batch: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(lengths sorted in decreasing order, a zoneout mask, a recurrent-dropout mask)."""
    lengths = torch.tensor([steps, steps - 2, 1][:batch])
    zoneout = (torch.rand(steps, batch, hidden) < 0.3).double()
    return lengths, zoneout, torch.rand(batch, hidden, **F64) * 2


def test_opcheck_linear_scan_ops():
    log_a, log_b = -torch.rand(5, 3, 4, **F64), torch.randn(5, 3, 4, **F64)
    h0 = torch.randn(3, 4, **F64)
    opcheck(linear_scan_forward, (log_a, log_b, h0))
    (h,) = linear_scan_forward(log_a, log_b, h0)
    opcheck(linear_scan_backward, (torch.randn_like(h), log_a, log_b, h0, h, [True, False, True]))


@pytest.mark.parametrize("backend", ["native"], indirect=True)  # the fused pass is native only
@pytest.mark.parametrize(("cell", "blocks"), [("mingru", 2), ("minlstm", 3)])
def test_opcheck_fused_min_scan_ops(backend, cell, blocks):
    lengths, zoneout, _ = _masks(5, 3, 4)
    projection, h0 = torch.randn(5, 3, blocks * 4, **F64), torch.randn(3, 4, **F64)
    args = (cell, projection, h0, lengths, zoneout)
    opcheck(min_scan_forward, args)
    h, final = min_scan_forward(*args)
    grads = (torch.randn_like(h), torch.randn_like(final))
    opcheck(min_scan_backward, (cell, *grads, projection, h0, h, lengths, zoneout, [True, True]))


def test_opcheck_indrnn_scan_ops(backend):
    lengths, zoneout, mask = _masks(5, 3, 4)
    pre, u, h0 = torch.randn(5, 3, 4, **F64), torch.randn(4, **F64), torch.randn(3, 4, **F64)
    for relu in (True, False):
        args = (backend, pre, u, h0, lengths, relu, zoneout, mask)
        opcheck(indrnn_scan_forward, args)
    h, final, act = indrnn_scan_forward(*args)
    opcheck(
        indrnn_scan_backward,
        (backend, torch.randn_like(h), torch.randn_like(final), u, h0, h, act, lengths, False,
         zoneout, mask, [True, True, False]),
    )  # fmt: skip


def test_every_scan_passes_gradcheck_and_gradgradcheck(backend):
    """First derivatives from the backward ops, second ones from the unrolled math, with
    variable lengths, zoneout and recurrent dropout, against finite differences."""
    lengths, zoneout, mask = _masks(4, 3, 2)
    h0 = torch.randn(3, 2, **F64, requires_grad=True)
    projection = torch.randn(4, 3, 6, **F64, requires_grad=True)
    u = torch.randn(2, **F64, requires_grad=True)
    runs = {
        "minlstm": lambda p, h0: min_scan("minlstm", backend, p, h0, lengths, zoneout),
        "mingru at inference": lambda p, h0: min_scan(
            "mingru", backend, p[..., :4], h0, None, torch.tensor(0.3, **F64)
        ),
        "indrnn": lambda p, h0, u: indrnn_scan(
            backend, p[..., :2], u, h0, lengths, False, zoneout, mask
        ),
        "linear scan": lambda p, h0: (linear_scan(-p[..., :2].exp(), p[..., 2:4], h0),),
    }
    for name, run in runs.items():
        inputs = (projection, h0, u) if name == "indrnn" else (projection, h0)
        assert torch.autograd.gradcheck(run, inputs, fast_mode=True), name
        assert torch.autograd.gradgradcheck(run, inputs, fast_mode=True), name


def test_compile_fullgraph_dynamic_without_recompiling(backend):
    """Training, then inference: one graph each for every B and T. aot_eager, as the
    graph, the fake kernels, the guards and the backward are what is under test (and
    inductor's own compile would take most of this file's time)."""
    torch._dynamo.reset()
    module = every_scan()
    compiled = torch.compile(module, fullgraph=True, dynamic=True, backend="aot_eager")
    assert_trains_like_eager(compiled, module, features=5)
    try:  # no_grad is a graph of its own
        module.eval()
        with torch.no_grad():
            for i, steps in enumerate((5, 11)):
                if i == 1:
                    torch.compiler.set_stance("fail_on_recompile")
                x = torch.randn(2 + i, steps, 5)
                (y, states), (y_eager, states_eager) = compiled(x), module(x)
                torch.testing.assert_close(y, y_eager, atol=1e-5, rtol=0)
                torch.testing.assert_close(states, states_eager, atol=1e-5, rtol=0)
    finally:
        torch.compiler.set_stance("default")


def test_export_with_dynamic_batch_and_time(backend):
    assert_exports_for_any_batch_and_time(every_scan().eval(), features=5)


def test_per_sample_gradients_with_vmap_of_grad(backend):
    assert_per_sample_gradients_match_a_loop(every_scan().double(), features=5)


@pytest.mark.parametrize("name", list(CELLS))
def test_double_backward_matches_the_autograd_unroll(backend, name):
    """A gradient penalty on dL/dx and dL/dh0, with variable lengths and the final state
    in the loss: every parameter's gradient as through the cell's own step."""
    cell = CELLS[name]().double()
    x, lengths = torch.randn(6, 3, 5, **F64), [4, 6, 1]
    h0 = torch.randn(3, 6, **F64)
    penalties = {}
    for how, run in (
        ("engine", lambda x, h0: Recurrent(cell)(x, cell.State(h0), lengths=lengths)),
        ("unroll", lambda x, h0: autograd_unroll(cell, x, (h0,), lengths)),
    ):
        cell.zero_grad()
        xi, h0i = x.clone().requires_grad_(), h0.clone().requires_grad_()
        y, final = run(xi, h0i)
        loss = y.square().sum() + final[0].sin().sum()
        grad_x, grad_h0 = torch.autograd.grad(loss, (xi, h0i), create_graph=True)
        (grad_x.square().sum() + grad_h0.square().sum()).backward()  # a gradient penalty
        penalties[how] = [p.grad.clone() for p in cell.parameters()]
    for got, want in zip(penalties["engine"], penalties["unroll"], strict=True):
        torch.testing.assert_close(got, want, atol=1e-9, rtol=1e-7)


def _autocast_run(module, x):
    x = x.detach().clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, _ = module(x)
    y.float().square().sum().backward()
    return y, x.grad


def test_autocast_runs_in_bfloat16(backend):
    """In bfloat16 (not silently float32), close to float32, and as the module converted
    to bfloat16 runs (both round to bfloat16 at the same places)."""
    module = every_scan()
    x = torch.randn(3, 50, 5)
    y, grad = _autocast_run(module, x)
    assert y.dtype == torch.bfloat16 and grad.dtype == torch.float32
    torch.testing.assert_close(y.float(), module(x)[0], atol=3e-2, rtol=0)
    converted = copy.deepcopy(module).bfloat16()
    x16 = x.bfloat16().requires_grad_()
    y16, _ = converted(x16)
    y16.float().square().sum().backward()
    torch.testing.assert_close(y, y16, atol=2e-2, rtol=0)
    torch.testing.assert_close(grad, x16.grad.float(), atol=5e-2, rtol=5e-2)
