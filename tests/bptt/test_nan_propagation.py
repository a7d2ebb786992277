"""NaN and infinity propagate through both engines as through torch.nn: wherever a NaN,
+inf or -inf sits (an input, an initial state, a weight), the positions that are NaN,
+inf and -inf in the outputs, the final state and every gradient are torch.nn's; for
cells torch.nn lacks, those of the autograd unroll of the cell's own step. Whole
sequences and the streaming step, float32 and float64 (the native kernels' two paths).

Only where each position is NaN or infinite is compared, not the finite values (the
other tests do that): a kernel that clamps, or skips a zero, turns NaN into a number.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

import rnnkit.nn
from rnnkit.bptt.backend import use_backend
from rnnkit.cells import (
    IndRNNCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    MinGRUCell,
    MinLSTMCell,
    PeepholeLSTMCell,
    SLSTMCell,
)
from rnnkit.layers import Recurrent
from tests.cells.zoo import reference_unroll
from tests.conftest import weighted_loss

pytestmark = pytest.mark.usefixtures("backend")

NAN, INF = float("nan"), float("inf")
SPECIAL = {"nan": NAN, "+inf": INF, "-inf": -INF}
T, B, I, H = 5, 3, 4, 6

TORCH_NN = {  # (kind, keyword arguments)
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": 3}),
    "gru": ("GRU", {}),
    "rnn_tanh": ("RNN", {}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
}

ZOO = {
    "layernorm_lstm": lambda: LayerNormLSTMCell(I, H),
    "layernorm_gru": lambda: LayerNormGRUCell(I, H),
    "peephole_lstm": lambda: PeepholeLSTMCell(I, H),
    "slstm": lambda: SLSTMCell(I, H, heads=1),  # heads > 1: see test_slstm_heads_...
    "indrnn_relu": lambda: IndRNNCell(I, H),
    "indrnn_tanh": lambda: IndRNNCell(I, H, nonlinearity="tanh"),
    "mingru": lambda: MinGRUCell(I, H),
    "minlstm": lambda: MinLSTMCell(I, H),
}
MIN_CELLS = ("mingru", "minlstm")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: a second thread only waits at barriers (on a busy machine, for a
    descheduled thread at every op). -> the thread count before, for a test that splits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield before
    torch.set_num_threads(before)


def _masks(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return t.isnan(), t.isposinf(), t.isneginf()


def assert_same_special(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """NaN, +inf and -inf at the same positions."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    for name, a, e in zip(("NaN", "+inf", "-inf"), _masks(actual), _masks(expected), strict=True):
        if not torch.equal(a, e):
            raise AssertionError(
                f"{what}: {name} at {int(a.sum())} positions, expected {int(e.sum())}; "
                f"first differing at {(a != e).nonzero()[0].tolist()}"
            )


def poison(tensor: torch.Tensor, value: float, blocks: int) -> None:
    """Sets one entry in each of a parameter's `blocks` gate blocks (along dim 0): in
    block k, row k's second entry (a vector's entry k)."""
    row = tensor.shape[-1] if tensor.dim() > 1 else 1
    with torch.no_grad():
        flat = tensor.view(blocks, -1)
        for k in range(blocks):
            flat[k, min(k * row + (1 if row > 1 else 0), flat.shape[1] - 1)] = value


def cases(state_sizes: list[int], params: list[str], full: bool) -> Iterator[tuple[str, dict]]:
    """(label, where and what): each special value in the input (one entry mid-sequence,
    a whole step of one sequence); when `full`, also in one unit of each initial state
    entry, and NaN and +inf in each parameter, one entry per gate (an infinite weight
    meets inputs of both signs, so -inf adds nothing there)."""
    for label, v in SPECIAL.items():
        yield f"x[2, 1, 1] = {label}", {"x": ((2, 1, 1), v)}
        yield f"x[0, 0, :] = {label}", {"x": ((0, 0), v)}
    if not full:
        return
    for label, v in SPECIAL.items():
        for k in range(len(state_sizes)):
            yield f"state[{k}][1, 2] = {label}", {"state": (k, (1, 2), v)}
    for label in ("nan", "+inf"):
        for name in params:
            yield f"{name} = {label} (one entry per gate)", {"param": (name, SPECIAL[label])}


def make_inputs(where: dict, state_sizes: list[int], dtype, positive: tuple[int, ...] = ()):
    x = torch.randn(T, B, I, dtype=dtype)
    state = [torch.randn(B, n, dtype=dtype) for n in state_sizes]
    for k in positive:  # sLSTM's normaliser: positive, as after any first step
        state[k] = state[k].abs() + 0.5
    if "x" in where:
        index, v = where["x"]
        x[index] = v
    if "state" in where:
        k, index, v = where["state"]
        state[k][index] = v
    return x, state


def run(forward, x, state, params, grad: bool = True):
    """-> (outputs and final state entries, gradients of x, state and params)."""
    x = x.clone().requires_grad_(grad)
    state = [s.clone().requires_grad_(grad) for s in state]
    y, final = forward(x, state)
    final = tuple(final) if isinstance(final, tuple | list) else (final,)
    if not grad:
        return [y, *final], []
    leaves = [x, *state, *params]
    grads = torch.autograd.grad(weighted_loss(y, final), leaves, allow_unused=True)
    return [y, *final], [
        torch.zeros_like(p) if g is None else g for g, p in zip(grads, leaves, strict=True)
    ]


def run_torch_nn(module, x, state, gradients: bool = True):
    """An LSTM, GRU or RNN module, ours or torch.nn's, from state entries (B, size)."""
    forward = lambda x, s: module(x, _torch_nn_state(s))  # noqa: E731
    return run(forward, x, state, list(module.parameters()), gradients)


def run_layer(cell, x, state, gradients: bool = True):
    """``Recurrent(cell)`` on its engine."""
    layer = Recurrent(cell)
    forward = lambda x, s: layer(x, cell.State(*s))  # noqa: E731
    return run(forward, x, state, list(cell.parameters()), gradients)


def run_unroll(cell, x, state, gradients: bool = True):
    """The autograd unroll of the cell's own step."""
    forward = lambda x, s: reference_unroll(cell, x, s)  # noqa: E731
    return run(forward, x, state, list(cell.parameters()), gradients)


def compare(got, want, label: str, gradients: bool = True) -> None:
    for k, (a, e) in enumerate(zip(got[0], want[0], strict=True)):
        assert_same_special(a, e, f"{label}: {'output' if k == 0 else f'final state {k - 1}'}")
    if gradients:
        for k, (a, e) in enumerate(zip(got[1], want[1], strict=True)):
            assert_same_special(a, e, f"{label}: gradient of leaf {k}")


def _pair(key: str, dtype):
    kind, extra = TORCH_NN[key]
    module = getattr(rnnkit.nn, kind)(I, H, **extra).to(dtype)
    reference = getattr(torch.nn, kind)(I, H, **extra).to(dtype)
    reference.load_state_dict(module.state_dict())
    return module, reference


def _torch_nn_state(state):
    """(B, size) entries as torch.nn's hx: (1, B, size), a pair for the LSTM; or None."""
    entries = [s.unsqueeze(0) for s in state]
    return tuple(entries) if len(entries) == 2 else entries[0] if entries else None


def _torch_nn_cases(key: str, dtype):
    """(label, (module, reference), x, state) of every case, weights poisoned as told."""
    kind, extra = TORCH_NN[key]
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    sizes = [extra.get("proj_size") or H] + ([H] if kind == "LSTM" else [])
    params = [name for name, _ in _pair(key, dtype)[0].named_parameters()]
    for label, where in cases(sizes, params, full=dtype == torch.float32):
        torch.manual_seed(0)
        pair = _pair(key, dtype)
        if "param" in where:
            name, v = where["param"]
            for m in pair:
                poison(getattr(m, name), v, 1 if name.startswith("weight_hr") else gates)
        x, state = make_inputs(where, sizes, dtype)
        yield label, pair, x, state


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("key", TORCH_NN)
def test_whole_sequence_as_torch_nn(key, dtype, backend):
    """Outputs, final state and the gradients of input, initial state and every weight."""
    # The PyTorch engine's relu backward is dh * (h > 0): see test_relu_backward_...
    gradients = not (backend == "torch" and key == "rnn_relu")
    for label, (module, reference), x, state in _torch_nn_cases(key, dtype):
        got = run_torch_nn(module, x, state, gradients)
        want = run_torch_nn(reference, x, state, gradients)
        compare(got, want, f"{key} {label}", gradients)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_stacked_bidirectional_as_torch_nn(kind, backend):
    """Two layers, both directions: the reverse one meets the NaN first at the end."""
    module = getattr(rnnkit.nn, kind)(I, H, num_layers=2, bidirectional=True)
    reference = getattr(torch.nn, kind)(I, H, num_layers=2, bidirectional=True)
    reference.load_state_dict(module.state_dict())
    x = torch.randn(T, B, I)
    x[2, 1, 1], x[1, 2, :] = NAN, -INF  # sequence 0 stays finite
    compare(run_torch_nn(module, x, []), run_torch_nn(reference, x, []), f"{kind}, bidirectional")


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "layernorm_lstm", "indrnn_relu", "mingru"])
def test_padding_past_the_lengths_is_never_read(kind, backend):
    """As torch.nn on the packed sequence, which holds no padding at all."""
    module = getattr(rnnkit.nn, kind)(I, H) if kind in ("LSTM", "GRU") else Recurrent(ZOO[kind]())
    lengths = torch.tensor([T, 2, 4])
    x = torch.randn(T, B, I)
    for b, n in enumerate(lengths.tolist()):
        x[n:, b] = NAN
    forward = lambda x, _: module(x, lengths=lengths)  # noqa: E731
    got = run(forward, x, [], list(module.parameters()))
    for k, value in enumerate([*got[0], *got[1]]):
        assert not value.isnan().any(), f"{kind}: NaN in result {k}"


def test_relu_backward_as_torch_threshold_backward(backend):
    """relu' passes dL/dh on where h is NaN and gives 0 (not 0 * inf) where h <= 0, as
    torch's threshold_backward: an infinite input makes both happen in an Elman RNN."""
    for label, (module, reference), x, state in _torch_nn_cases("rnn_relu", torch.float32):
        compare(run_torch_nn(module, x, state), run_torch_nn(reference, x, state), label)


def _zoo_cases(key: str, dtype, full: bool | None = None):
    """(label, where, cell, x, state) of every case (all of them in float32, unless told)."""
    full = dtype == torch.float32 if full is None else full
    cell = ZOO[key]().to(dtype)
    sizes = list(cell.state_sizes())
    positive = (2,) if key == "slstm" else ()
    params = [name for name, _ in cell.named_parameters()]
    for label, where in cases(sizes, params, full):
        torch.manual_seed(0)
        cell = ZOO[key]().to(dtype)
        if "param" in where:
            name, v = where["param"]
            tensor = dict(cell.named_parameters())[name]
            gated = tensor.dim() <= 2 and tensor.shape[0] % H == 0
            poison(tensor, v, tensor.shape[0] // H if gated else tensor.shape[0])
        x, state = make_inputs(where, sizes, dtype, positive)
        yield label, where, cell, x, state


def _infinite(where: dict) -> bool:
    (entry,) = where.values()
    return not math.isnan(entry[-1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("key", ZOO)
def test_zoo_whole_sequence_as_autograd_unroll(key, dtype, backend):
    """The zoo's cells on their engines (extended loop, element-wise scans) against the
    autograd unroll of the cell's own step. The min cells' gradients are compared for NaN
    only: for an infinite input they depend on the formula (d(z g(v))/dv is 1 at v = inf,
    while the log-space step's autograd gives inf * 0)."""
    for label, where, cell, x, state in _zoo_cases(key, dtype):
        infinite = _infinite(where)
        if backend == "torch" and infinite and key in MIN_CELLS:
            continue  # the log-space scan: see test_min_cells_with_infinities_...
        gradients = not (infinite and key in MIN_CELLS)
        if backend == "torch" and key == "indrnn_relu":
            gradients = False  # see test_relu_backward_as_torch_threshold_backward
        got, want = run_layer(cell, x, state, gradients), run_unroll(cell, x, state, gradients)
        compare(got, want, f"{key} {label}", gradients)


def test_indrnn_relu_backward_as_torch_threshold_backward(backend):
    for label, _, cell, x, state in _zoo_cases("indrnn_relu", torch.float64):
        compare(run_layer(cell, x, state), run_unroll(cell, x, state), label)


@pytest.mark.parametrize("key", MIN_CELLS)
def test_min_cells_with_infinities_as_the_sequential_step(key, backend):
    """h_t = a_t h_{t-1} + b_t with an infinite b_t (or h_0) is infinite, not NaN."""
    for label, where, cell, x, state in _zoo_cases(key, torch.float32):
        if _infinite(where):
            got, want = run_layer(cell, x, state, False), run_unroll(cell, x, state, False)
            compare(got, want, f"{key} {label}", gradients=False)


def test_slstm_heads_share_the_engines_dense_recurrent_weight(backend):
    """With heads > 1 both engines multiply by R as one dense block-diagonal matrix, so a
    NaN in one head's h reaches the others through 0 * NaN; the cell's own step does not.
    Until R goes to the engine by blocks, the engines agree with each other."""
    cell = SLSTMCell(I, H, heads=2)
    x = torch.randn(T, B, I)
    x[1, 0, :] = NAN
    state = [torch.zeros(B, H), torch.zeros(B, H), torch.ones(B, H), torch.zeros(B, H)]
    results = []
    for name in ("native", "torch"):
        with use_backend(name):
            results.append(run_layer(cell, x, state))
    compare(results[0], results[1], "slstm heads=2, native against torch")


def _check_stream(key, runs) -> None:
    for label, (module, reference), x, state in runs:
        with torch.no_grad():
            stream = module.stream(batch_size=B, hx=_torch_nn_state(state))
            steps = torch.stack([stream.step(x[t]) for t in range(T)])
            y, final = reference(x, _torch_nn_state(state))
        assert_same_special(steps, y, f"{key} {label}: streamed outputs")
        finals = final if isinstance(final, tuple) else (final,)
        streamed = stream.state if isinstance(stream.state, tuple) else (stream.state,)
        for k, (a, e) in enumerate(zip(streamed, finals, strict=True)):
            assert_same_special(a, e, f"{key} {label}: streamed state {k}")


@pytest.mark.parametrize("key", ["lstm", "lstm_proj", "gru", "rnn_tanh", "rnn_relu"])
def test_streaming_step_as_torch_nn(key, backend):
    """Each step of ``stream()`` (the native step kernels) against torch.nn over the whole
    sequence."""
    _check_stream(key, _torch_nn_cases(key, torch.float32))


def test_streaming_step_split_into_parts_as_torch_nn(backend, one_thread):
    """A layer wide enough for the native step to split its weights into one part per
    thread (csrc/step.h), each part running its own units' pointwise step."""
    torch.set_num_threads(max(2, one_thread))
    module, reference = rnnkit.nn.LSTM(I, 300), torch.nn.LSTM(I, 300)
    reference.load_state_dict(module.state_dict())
    x = torch.randn(T, B, I)
    x[1, 1, 1], x[2, 0, :], x[3, 2, 0] = NAN, INF, -INF
    _check_stream("lstm H=300", [("mixed", (module, reference), x, [torch.zeros(B, 300)] * 2)])


@pytest.mark.parametrize("key", ["layernorm_lstm", "layernorm_gru", "slstm", "indrnn_relu"])
def test_zoo_streaming_step_as_autograd_unroll(key, backend):
    """``stream()`` of the zoo's cells, whichever code runs their step."""
    for label, _, cell, x, state in _zoo_cases(key, torch.float32, full=False):
        layer = Recurrent(cell)
        with torch.no_grad():
            stream = layer.stream(batch_size=B, state=cell.State(*state))
            steps = torch.stack([stream.step(x[t]) for t in range(T)])
            y, _ = reference_unroll(cell, x, state)
        assert_same_special(steps, y, f"{key} {label}: streamed outputs")


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_regularisers_in_the_loop_propagate_nan(kind, backend):
    """Zoneout and recurrent dropout in training (the extended loop with its masks), and
    zoneout's expectation at inference: one NaN input makes its sequence NaN from there on,
    and no other."""
    module = getattr(rnnkit.nn, kind)(I, H, zoneout=0.25, recurrent_dropout=0.25)
    x = torch.randn(T, B, I, requires_grad=True)
    with torch.no_grad():
        x[2, 1, 3] = NAN
    for training in (True, False):
        module.train(training)
        torch.manual_seed(1)
        y, _ = module(x)
        expected = torch.zeros(T, B, H, dtype=torch.bool)
        expected[2:, 1] = True
        assert torch.equal(y.isnan(), expected), f"{kind} training={training}: output NaN"
        if training:
            (d_x,) = torch.autograd.grad(y.nan_to_num().sum(), x)
            assert torch.equal(d_x.isnan()[:, [0, 2]], torch.zeros(T, 2, I, dtype=torch.bool))
