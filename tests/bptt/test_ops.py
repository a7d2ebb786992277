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
from rnnkit.bptt import autograd_unroll, native
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


needs_native = pytest.mark.skipif(
    not native.available(), reason=f"native engine unavailable: {native.unavailable_reason}"
)
STEP_OPS = {  # the streaming step's C++ ops: (gates, extra arguments, state entries)
    "lstm": (4, (None,), 2),
    "gru": (3, (), 1),
    "elman": (1, (True,), 1),
}


@needs_native
@pytest.mark.parametrize("cell", list(STEP_OPS))
@pytest.mark.parametrize("hidden", [3, 200])  # one part, and split across threads
def test_opcheck_streaming_step_ops(cell, hidden):
    gates, extra, entries = STEP_OPS[cell]
    w_ih, w_hh, b = _lstm_weights(torch.float32, gates, hidden, inputs=hidden)
    prepare = getattr(torch.ops.rnnkit, f"{cell}_prepare_step")
    step = getattr(torch.ops.rnnkit, f"{cell}_step")
    opcheck(prepare, (w_ih, w_hh, b, b.clone()))
    prepared = prepare(w_ih, w_hh, b, b.clone())
    state = [torch.randn(2, hidden) for _ in range(entries)]
    opcheck(step, (torch.randn(2, hidden), prepared, *extra, *state))


@needs_native
def test_streaming_step_compiles_as_one_op_per_step():
    """Prepared once, then stepped in a compiled graph: it equals the eager steps."""
    layer = rnn.LSTM(5, 6).eval()
    weights = (layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0)

    def run(xs, h, c):
        prepared = torch.ops.rnnkit.lstm_prepare_step(*weights)
        return [torch.ops.rnnkit.lstm_step(x, prepared, None, h, c) for x in xs]

    xs = torch.randn(4, 2, 5)
    eager = run(xs, torch.zeros(2, 6), torch.zeros(2, 6))
    torch._dynamo.reset()
    with torch.no_grad():
        compiled = torch.compile(run, fullgraph=True)(xs, torch.zeros(2, 6), torch.zeros(2, 6))
    torch.testing.assert_close(torch.stack(compiled), torch.stack(eager), atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.stack(eager), layer(xs)[0].detach(), atol=1e-6, rtol=0)


@needs_native
def test_opcheck_zoneout_mask_op():
    opcheck(torch.ops.rnnkit.keep_mask, ([4, 3, 5], 0.25, 123, torch.empty(0)))


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


def test_zoneout_trains_compiled_without_graph_breaks(backend):
    """Training draws a zoneout mask each call: in the graph, a fresh one each run."""
    torch._dynamo.reset()
    module = rnn.LSTM(5, 6, batch_first=True, zoneout=0.5).train()
    compiled = torch.compile(module, fullgraph=True, dynamic=True)
    x = torch.randn(3, 9, 5, requires_grad=True)
    first, second = compiled(x)[0], compiled(x)[0]
    first.square().sum().backward()
    assert not torch.equal(first, second)  # two masks
    assert not torch.allclose(first, module.eval()(x)[0])  # the mask acted
    assert x.grad is not None and x.grad.isfinite().all() and x.grad.abs().sum() > 0


class _Padded(torch.nn.Module):
    """A module called on a padded batch: forward(x (B, T, I), lengths (B,))."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x, lengths):
        return self.module(x, lengths=lengths)


def _padded_batch(batch, steps, requires_grad=False):
    lengths = torch.randint(1, steps + 1, (batch,))
    lengths[1] = steps  # the longest need not come first
    return torch.randn(batch, steps, 5, requires_grad=requires_grad), lengths


@pytest.mark.parametrize("name", ["gru_bidirectional", "layernorm_lstm"])
def test_padded_batches_compile_without_recompiling(backend, name):
    """lengths make the layer sort the batch by length: in the graph, not a graph break."""
    torch._dynamo.reset()
    module = _Padded(MODULES[name]())
    compiled = torch.compile(module, fullgraph=True, dynamic=True)
    try:
        for i, (batch, steps) in enumerate(((3, 4), (4, 9), (6, 13))):
            if i == 1:
                torch.compiler.set_stance("fail_on_recompile")
            x, lengths = _padded_batch(batch, steps, requires_grad=True)
            (y, _), (y_eager, _) = compiled(x, lengths), module(x, lengths)
            (grad,) = torch.autograd.grad(y.square().sum(), x)
            (grad_eager,) = torch.autograd.grad(y_eager.square().sum(), x)
            torch.testing.assert_close(y, y_eager, atol=1e-5, rtol=0)
            torch.testing.assert_close(grad, grad_eager, atol=1e-4, rtol=0)
    finally:
        torch.compiler.set_stance("default")


@pytest.mark.parametrize("name", ["lstm", "gru_bidirectional", "slstm"])
def test_padded_batches_export_and_check_lengths_when_run(backend, name):
    module = _Padded(MODULES[name]().eval())
    batch, steps = torch.export.Dim("B", min=2, max=64), torch.export.Dim("T", min=2, max=4096)
    program = torch.export.export(
        module, _padded_batch(3, 16), dynamic_shapes=({0: batch, 1: steps}, {0: batch})
    ).module()
    for size in ((2, 2), (5, 37), (3, 300)):
        x, lengths = _padded_batch(*size)
        (y, state), (y_eager, state_eager) = program(x, lengths), module(x, lengths)
        torch.testing.assert_close(y, y_eager, atol=1e-5, rtol=0)
        torch.testing.assert_close(state, state_eager, atol=1e-5, rtol=0)
    x, lengths = _padded_batch(3, 8)
    lengths[0] = 9
    with pytest.raises(RuntimeError, match=r"lengths must be in \[1, T\]"):
        program(x, lengths)


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
