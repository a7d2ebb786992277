"""ONNX export of the drop-in modules (``rnnkit.bptt.onnx_loops``): one export with dynamic
batch and time, run in onnxruntime at B in {1, 3, 32} x T in {1, 17, 256} and compared
with the eager modules; the graph holds ONNX's own LSTM / GRU / RNN nodes.

Every variant sits in one bundle module so that the whole suite pays for a single export
(each ``torch.onnx.export`` call rebuilds its operator registry, about two seconds).
"""

from __future__ import annotations

from collections.abc import Callable

import onnx
import onnxruntime as ort
import pytest
import torch
from torch import Tensor
from torch.nn import Module, ModuleDict

from rnnkit import nn as rnn
from rnnkit.bptt import onnx_loops
from rnnkit.cells import CellWeights
from rnnkit.layers import engine

INPUT, HIDDEN = 8, 16
SHAPES = [(b, t) for b in (1, 3, 32) for t in (1, 17, 256)]
TOL = 1e-4

# name -> (module, ONNX op it must become, how many such nodes: layers * directions)
VARIANTS: dict[str, tuple[Callable[[], Module], str, int]] = {
    "lstm_no_bias": (lambda: rnn.LSTM(INPUT, HIDDEN, batch_first=True, bias=False), "LSTM", 1),
    "lstm_2_layers_hx": (
        lambda: rnn.LSTM(INPUT, HIDDEN, num_layers=2, batch_first=True),
        "LSTM",
        2,
    ),
    "gru_bidirectional": (
        lambda: rnn.GRU(INPUT, HIDDEN, batch_first=True, bidirectional=True),
        "GRU",
        2,
    ),
    "rnn_tanh_time_major": (lambda: rnn.RNN(INPUT, HIDDEN), "RNN", 1),
    "rnn_relu_no_bias": (
        lambda: rnn.RNN(INPUT, HIDDEN, nonlinearity="relu", bias=False, batch_first=True),
        "RNN",
        1,
    ),
}
WITH_HX = "lstm_2_layers_hx"  # the one given a random initial (h0, c0)


class _Bundle(Module):
    """Every variant on the same x (B, T, I): -> each one's y and final state, flattened."""

    def __init__(self) -> None:
        super().__init__()
        self.rnns = ModuleDict({name: make() for name, (make, _, _) in VARIANTS.items()})

    def forward(self, x: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, ...]:
        outputs: list[Tensor] = []
        for name, module in self.rnns.items():
            hx = (h0, c0) if name == WITH_HX else None
            xin = x if module.batch_first else x.transpose(0, 1)
            y, state = module(xin, hx)
            y = y if module.batch_first else y.transpose(0, 1)
            outputs += [y, *(state if isinstance(state, tuple) else (state,))]
        return tuple(outputs)


def _output_names() -> list[str]:
    """Which variant and entry each flat output of ``_Bundle`` is."""
    names = []
    for name, (_, op, _) in VARIANTS.items():
        names += [f"{name} y", f"{name} h_n"] + ([f"{name} c_n"] if op == "LSTM" else [])
    return names


def _inputs(batch: int, steps: int) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(1000 * batch + steps)
    return (
        torch.randn(batch, steps, INPUT, generator=g),
        torch.randn(2, batch, HIDDEN, generator=g),
        torch.randn(2, batch, HIDDEN, generator=g),
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[_Bundle, str]:
    torch.manual_seed(0)
    bundle = _Bundle().eval()
    path = str(tmp_path_factory.mktemp("onnx") / "bundle.onnx")
    batch, steps = torch.export.Dim("B", min=1), torch.export.Dim("T", min=1)
    torch.onnx.export(
        bundle, _inputs(3, 16), path, dynamo=True, verbose=False,
        dynamic_shapes=({0: batch, 1: steps}, {1: batch}, {1: batch}),
    )  # fmt: skip
    return bundle, path


@pytest.fixture(scope="module")
def errors(exported) -> dict[str, dict[tuple[int, int], float]]:
    """Max |onnxruntime - eager| per output name and (B, T)."""
    bundle, path = exported
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = [i.name for i in session.get_inputs()]
    table: dict[str, dict[tuple[int, int], float]] = {n: {} for n in _output_names()}
    for batch, steps in SHAPES:
        inputs = _inputs(batch, steps)
        got = session.run(None, {n: t.numpy() for n, t in zip(feeds, inputs, strict=True)})
        with torch.no_grad():
            want = bundle(*inputs)
        for name, g, w in zip(_output_names(), got, want, strict=True):
            g = torch.from_numpy(g)
            assert g.shape == w.shape, f"{name} at B={batch}, T={steps}: {g.shape} != {w.shape}"
            table[name][batch, steps] = float((g - w).abs().max())
    return table


@pytest.mark.parametrize("variant", VARIANTS)
def test_onnxruntime_matches_eager(errors, variant):
    for name, by_shape in errors.items():
        if name.startswith(variant + " "):
            worst = max(by_shape, key=by_shape.get)
            assert by_shape[worst] <= TOL, f"{name}: max error {by_shape[worst]:.1e} at {worst}"


def test_initial_state_reaches_the_graph(exported):
    """h0 and c0 are graph inputs that change the output (not folded to zeros)."""
    bundle, path = exported
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = [i.name for i in session.get_inputs()]
    assert len(feeds) == 3, feeds
    x, h0, c0 = _inputs(3, 5)
    slot = _output_names().index(f"{WITH_HX} y")
    ys = [
        session.run(None, dict(zip(feeds, (x.numpy(), h.numpy(), c.numpy()), strict=True)))[slot]
        for h, c in ((h0, c0), (0 * h0, c0), (h0, 0 * c0))
    ]
    assert float(abs(ys[0] - ys[1]).max()) > 1e-3 and float(abs(ys[0] - ys[2]).max()) > 1e-3


def test_graph_holds_onnx_recurrent_nodes(exported):
    _, path = exported
    ops = [node.op_type for node in onnx.load(path).graph.node]
    for op in ("LSTM", "GRU", "RNN"):
        want = sum(n for _, o, n in VARIANTS.values() if o == op)
        assert ops.count(op) == want, f"{op}: {ops.count(op)} nodes, want {want}"
    domains = {node.domain for node in onnx.load(path).graph.node}
    assert domains <= {"", "ai.onnx"}, f"non-standard op domains {domains}"


def test_zoo_cells_and_projections_become_a_scan(monkeypatch):
    """A layer-norm LSTM is not a plain LSTM, and ONNX's LSTM has no projection: both go
    to the scan (``rnnkit.bptt.scan_export``, unrolled here at a fixed T), never to an
    ONNX LSTM node nor to rnnkit's own ops."""
    monkeypatch.setattr(engine, "exporting_to_onnx", lambda: True)

    def must_not_run(*args: object) -> None:
        raise AssertionError("routed to onnx_recurrent")

    monkeypatch.setattr(engine, "onnx_recurrent", must_not_run)
    for lstm in (
        rnn.LSTM(INPUT, HIDDEN, batch_first=True, layer_norm=True).eval(),
        rnn.LSTM(INPUT, HIDDEN, batch_first=True, proj_size=4).eval(),
    ):
        program = torch.export.export(lstm, (torch.randn(2, 5, INPUT),), strict=False)
        targets = {str(node.target) for node in program.graph.nodes}
        assert not any("rnnkit" in target for target in targets), targets


def test_onnx_recurrent_refuses_to_run_eagerly():
    lstm = rnn.LSTM(INPUT, HIDDEN)
    weights = CellWeights(lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    state0 = (torch.zeros(2, HIDDEN), torch.zeros(2, HIDDEN))
    with pytest.raises(RuntimeError, match="only during ONNX export"):
        onnx_loops.onnx_recurrent("lstm", torch.randn(5, 2, INPUT), weights, state0)
