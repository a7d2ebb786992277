"""The engine's loops as torch.library ops: opcheck, and what users do with a module
built on them (compile, export, torch.func, double backward, autocast, weights_only
loading), each against eager rnnkit or torch.nn as the oracle."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch.library import opcheck

from rnnkit import Recurrent
from rnnkit import nn as rnn
from rnnkit.bptt import autograd_unroll
from rnnkit.bptt.explicit import bptt_backward, bptt_forward
from rnnkit.bptt.extended import extended_bptt_backward, extended_bptt_forward
from rnnkit.cells import LayerNormGRUCell, LayerNormLSTMCell, PeepholeLSTMCell, SLSTMCell
from rnnkit.cells.registry import pointwise_named
from tests.bptt.transforms import (
    assert_exports_for_any_batch_and_time,
    assert_per_sample_gradients_match_a_loop,
    assert_trains_like_eager,
)

DROP_IN = {
    "lstm": lambda: rnn.LSTM(5, 6, num_layers=2, batch_first=True),
    "gru_bidirectional": lambda: rnn.GRU(5, 6, batch_first=True, bidirectional=True),
    "rnn_relu": lambda: rnn.RNN(5, 6, nonlinearity="relu", batch_first=True),
    "lstm_proj": lambda: rnn.LSTM(5, 6, proj_size=3, batch_first=True),
}
ZOO = {
    "layernorm_lstm": lambda: rnn.LSTM(5, 6, batch_first=True, layer_norm=True),
    "layernorm_gru": lambda: rnn.GRU(5, 6, batch_first=True, layer_norm=True),
    "peephole_lstm": lambda: Recurrent(PeepholeLSTMCell(5, 6), batch_first=True),
    "slstm": lambda: Recurrent(SLSTMCell(5, 6, heads=2), batch_first=True),
}
MODULES = {**DROP_IN, **ZOO}


def _lstm_weights(dtype=torch.float64, gates=4, hidden=3, inputs=2):
    make = lambda *shape: torch.randn(*shape, dtype=dtype)  # noqa: E731
    return make(gates * hidden, inputs), make(gates * hidden, hidden), make(gates * hidden)


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman_tanh"])
def test_opcheck_plain_ops(backend, cell):
    pointwise = pointwise_named(cell)
    w_ih, w_hh, b = _lstm_weights(gates=pointwise.num_gates)
    x = torch.randn(4, 2, 2, dtype=torch.float64)
    state0 = [torch.randn(2, 3, dtype=torch.float64) for _ in range(2 if cell == "lstm" else 1)]
    lengths = torch.tensor([4, 2])
    for keep in (False, True):
        args = (cell, backend, x, w_ih, w_hh, b, b.clone(), None, state0, lengths, keep)
        opcheck(bptt_forward, args)
    outputs = bptt_forward(*args)
    grad_y, grad_final = torch.randn_like(outputs[0]), [torch.randn_like(s) for s in state0]
    extras = outputs[1 + len(state0) :]
    needs = [True] * (6 + len(state0))
    needs[5] = False  # no projection
    opcheck(
        bptt_backward,
        (cell, backend, grad_y, grad_final, x, w_ih, w_hh, None, state0, outputs[0], extras,
         lengths, needs, True),
    )  # fmt: skip


@pytest.mark.parametrize("cell", ["layernorm_lstm", "slstm"])
def test_opcheck_extended_ops(backend, cell):
    layer = ZOO[cell]().double()
    inner = getattr(layer, "cell", None)
    x = torch.randn(4, 2, 5, dtype=torch.float64)
    if inner is None:  # the drop-in layer-norm LSTM
        weights = [layer.weight_ih_l0, layer.weight_hh_l0]
        params = [p.detach() for p in layer._params(0, 0)]
        state0 = [torch.zeros(2, 6, dtype=torch.float64)] * 2
    else:
        weights = list(inner.weights())[:2]
        params = [p.detach() for p in inner.params()]
        state0 = [s for s in inner.init_state(2)]
    w_ih, w_hh = (w.detach() for w in weights)
    zoneout = (torch.rand(4, 2, 6) < 0.3).double()
    args = (cell, backend, x, w_ih, None, w_hh, None, params, state0, None, zoneout, None, True)
    opcheck(extended_bptt_forward, args)
    outputs = extended_bptt_forward(*args)
    grad_y = torch.randn_like(outputs[0])
    grad_final = [torch.randn_like(s) for s in state0]
    needs = [True, True, False, True, False] + [True] * (len(params) + len(state0))
    opcheck(
        extended_bptt_backward,
        (cell, backend, grad_y, grad_final, x, w_ih, None, w_hh, params, state0, outputs[0],
         outputs[1 + len(state0) :], None, zoneout, None, needs, False),
    )  # fmt: skip


@pytest.mark.parametrize("name", ["lstm", "gru_bidirectional", "layernorm_lstm"])
def test_compile_fullgraph_dynamic_without_recompiling(backend, name):
    torch._dynamo.reset()
    module = MODULES[name]()
    compiled = torch.compile(module, fullgraph=True, dynamic=True)
    # A layer norm's gradient through inductor's fused kernels: a few float32 roundings.
    assert_trains_like_eager(compiled, module, features=5, grad_atol=1e-4)


@pytest.mark.parametrize("name", list(MODULES))
def test_export_with_dynamic_batch_and_time(backend, name):
    assert_exports_for_any_batch_and_time(MODULES[name]().eval(), features=5)


@pytest.mark.parametrize("name", list(MODULES))
def test_per_sample_gradients_with_vmap_of_grad(backend, name):
    assert_per_sample_gradients_match_a_loop(MODULES[name]().double(), features=5)


@pytest.mark.parametrize("name", ["lstm", "gru_bidirectional", "rnn_relu", "lstm_proj"])
def test_double_backward_matches_torch_nn(backend, name):
    module = DROP_IN[name]().double()
    kind = type(module).__name__
    options = {"batch_first": True, "bidirectional": module.bidirectional}
    options.update(num_layers=module.num_layers, proj_size=module.proj_size)
    if kind == "RNN":
        options = {**options, "nonlinearity": module.nonlinearity}
        del options["proj_size"]
    if kind == "GRU":
        del options["proj_size"]
    reference = getattr(torch.nn, kind)(5, 6, **options).double()
    reference.load_state_dict(module.state_dict())
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    for m in (module, reference):
        xi = x.clone().requires_grad_()
        (grad_x,) = torch.autograd.grad(m(xi)[0].square().sum(), xi, create_graph=True)
        grad_x.square().sum().backward()  # a gradient penalty
    for (k, p), q in zip(module.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-8, rtol=1e-6, msg=k)


ZOO_CELLS = {
    "layernorm_lstm": lambda: LayerNormLSTMCell(5, 6),
    "layernorm_gru": lambda: LayerNormGRUCell(5, 6),
    "peephole_lstm": lambda: PeepholeLSTMCell(5, 6),
    "slstm": lambda: SLSTMCell(5, 6, heads=2),
}


@pytest.mark.parametrize("name", list(ZOO_CELLS))
def test_double_backward_of_zoo_cells_matches_the_autograd_unroll(backend, name):
    cell = ZOO_CELLS[name]().double()
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    state0 = tuple(cell.init_state(3))
    penalties = {}
    for how, run in (
        ("engine", lambda x: Recurrent(cell)(x, cell.State(*state0))[0]),
        ("unroll", lambda x: autograd_unroll(cell, x, state0)[0]),
    ):
        cell.zero_grad()
        xi = x.clone().requires_grad_()
        (grad_x,) = torch.autograd.grad(run(xi).square().sum(), xi, create_graph=True)
        grad_x.square().sum().backward()  # a gradient penalty
        penalties[how] = [p.grad.clone() for p in cell.parameters()]
    for got, want in zip(penalties["engine"], penalties["unroll"], strict=True):
        torch.testing.assert_close(got, want, atol=1e-9, rtol=1e-7)


def test_second_derivatives_of_the_layer_norm_lstm_pass_gradgradcheck(backend):
    module = rnn.LSTM(2, 2, layer_norm=True).double()
    x = torch.randn(3, 1, 2, dtype=torch.float64, requires_grad=True)
    weight = module.weight_hh_l0.detach().requires_grad_()

    def run(x, weight):
        return torch.func.functional_call(module, {"weight_hh_l0": weight}, (x,))[0]

    assert torch.autograd.gradgradcheck(run, (x, weight))


def _autocast_run(module, x):
    x = x.detach().clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, _ = module(x)
    y.float().square().sum().backward()
    return y, x.grad


@pytest.mark.parametrize("name", ["lstm", "gru_bidirectional"])
def test_autocast_runs_in_bfloat16_as_torch_nn_does(backend, name):
    module = DROP_IN[name]()
    reference = getattr(torch.nn, type(module).__name__)(
        5, 6, num_layers=module.num_layers, batch_first=True, bidirectional=module.bidirectional
    )
    reference.load_state_dict(module.state_dict())
    x = torch.randn(3, 8, 5)
    (y, grad), (y_nn, grad_nn) = _autocast_run(module, x), _autocast_run(reference, x)
    # Not silently float32 (torch.nn's GRU is, on the CPU: autocast lists only its LSTM).
    assert y.dtype == torch.bfloat16 and grad.dtype == torch.float32
    # Both round to bfloat16 (8 bits of mantissa), at different places.
    torch.testing.assert_close(y.float(), y_nn.float(), atol=3e-2, rtol=0)
    torch.testing.assert_close(grad, grad_nn, atol=5e-2, rtol=5e-2)


def test_autocast_of_a_zoo_cell_equals_its_bfloat16_module(backend):
    module = ZOO["layernorm_lstm"]()
    x = torch.randn(3, 8, 5)
    y, grad = _autocast_run(module, x)
    converted = copy.deepcopy(module).bfloat16()
    x16 = x.bfloat16().requires_grad_()
    y16, _ = converted(x16)
    y16.float().square().sum().backward()
    assert y.dtype == torch.bfloat16 and grad.dtype == torch.float32
    torch.testing.assert_close(y, y16, atol=2e-2, rtol=0)
    torch.testing.assert_close(grad, x16.grad.float(), atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("name", list(DROP_IN) + ["layernorm_lstm", "layernorm_gru"])
def test_saved_module_loads_with_weights_only_when_its_class_is_allowed(name):
    module = MODULES[name]()
    buffer = io.BytesIO()
    torch.save(module, buffer)
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(buffer.getvalue()))
    assert unsafe == [f"rnnkit.nn.{type(module).__name__}"]
    buffer.seek(0)
    with torch.serialization.safe_globals([type(module)]):
        loaded = torch.load(buffer)
    x = torch.randn(2, 5, 5)
    for copied in (loaded, copy.deepcopy(module)):
        torch.testing.assert_close(copied(x)[0], module(x)[0], atol=0, rtol=0)
