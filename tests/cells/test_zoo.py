"""The cell zoo and the regularisers on the engines: each layer against the autograd
unroll of the cell's own step (outputs, final state, every gradient), float64 gradcheck,
streaming against whole sequences, and the errors for bad configurations."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from rnnkit.bptt import autograd_unroll, native
from rnnkit.cells import LSTMCell, MinGRUCell, SLSTMCell, make_cell
from rnnkit.layers import Bidirectional, Recurrent, regularisers
from rnnkit.layers.regularisers import Regularisers, keep_mask
from tests.cells.zoo import ALL_FACTORIES, ZOO_FACTORIES, reference_unroll, zoned_states
from tests.conftest import assert_close, weighted_loss

pytestmark = pytest.mark.usefixtures("backend")

LENGTHS = [None, [6, 4, 6, 1]]  # any order: the layer sorts


def _inputs(cell, steps=6, batch=4):
    cell = cell.double()
    x = torch.randn(steps, batch, cell.input_size, dtype=torch.float64, requires_grad=True)
    state0 = tuple(
        torch.randn(batch, n, dtype=torch.float64, requires_grad=True) for n in cell.state_sizes()
    )
    if isinstance(cell, SLSTMCell):  # a positive normaliser, as after any first step
        state0 = (*state0[:2], state0[2].detach().abs().add(0.5).requires_grad_(), state0[3])
    return cell, x, state0


def _compare(run, reference, leaves, tol=1e-10):
    results = []
    for fn in (run, reference):
        y, state = fn()
        grads = torch.autograd.grad(weighted_loss(y, state), leaves, allow_unused=True)
        results.append((y, state, grads))
    (y, state, grads), (y_ref, state_ref, grads_ref) = results
    assert_close(y, y_ref, tol, "output")
    for k, (s, s_ref) in enumerate(zip(state, state_ref, strict=True)):
        assert_close(s, s_ref, tol, f"final state[{k}]")
    for k, (g, g_ref) in enumerate(zip(grads, grads_ref, strict=True)):
        if g_ref is None:
            assert g is None or not g.any(), f"leaf {k} should get no gradient"
        else:
            assert_close(g, g_ref, tol, f"gradient of leaf {k}")


@pytest.mark.parametrize("lengths", LENGTHS, ids=str)
@pytest.mark.parametrize("name", ZOO_FACTORIES)
def test_zoo_layer_matches_autograd_unroll(name, lengths):
    cell, x, state0 = _inputs(ZOO_FACTORIES[name]())
    layer = Recurrent(cell)
    _compare(
        lambda: layer(x, cell.State(*state0), lengths=lengths),
        lambda: reference_unroll(cell, x, state0, lengths),
        [x, *state0, *cell.parameters()],
    )


@pytest.mark.parametrize("name", ZOO_FACTORIES)
def test_gradcheck_through_zoo_layer(name):
    cell, x, state0 = _inputs(ZOO_FACTORIES[name](), steps=5, batch=3)
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().requires_grad_() for p in cell.parameters()]

    def run(x, *tensors):
        state, weights = (
            tensors[: len(state0)],
            dict(zip(names, tensors[len(state0) :], strict=True)),
        )
        layer = Recurrent(cell)
        y, final = functional_call(layer, {f"cell.{k}": v for k, v in weights.items()}, (x, state))
        # sLSTM's stabiliser m carries no gradient by design: only h is independent of it.
        return (y, final[0]) if isinstance(cell, SLSTMCell) else (y, *final)

    assert torch.autograd.gradcheck(run, (x, *state0, *params))


class FixedMasks(Regularisers):
    """The regularisers with given masks, so that the reference can use the same."""

    def use(self, zoneout=None, recurrent=None, weight_hh=None):
        object.__setattr__(self, "masks", (zoneout, recurrent, weight_hh))
        return self

    def zoneout_mask(self, *args):
        return self.masks[0]

    def recurrent_mask(self, *args):
        return self.masks[1]

    def drop_weight(self, weight, training):
        return self.masks[2] * weight if self.masks[2] is not None else weight


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("lengths", LENGTHS, ids=str)
@pytest.mark.parametrize("name", ALL_FACTORIES)
def test_regularised_layer_matches_reference(name, lengths, training):
    cell, x, state0 = _inputs(ALL_FACTORIES[name]())
    steps, batch, _ = x.shape
    H = cell.hidden_size
    rate = 0.3
    recurrent = cell.has_recurrent_weights
    regularisers = FixedMasks(zoneout=rate, recurrent_dropout=rate if recurrent else 0.0)
    if training:
        zoneout = torch.bernoulli(torch.full((steps, batch, H), rate, dtype=torch.float64))
        mask = torch.bernoulli(torch.full((batch, H), 1 - rate, dtype=torch.float64)) / (1 - rate)
        mask = mask if recurrent else None
    else:
        zoneout, mask = torch.tensor(rate, dtype=torch.float64), None
    layer = Recurrent(cell)
    layer.regularisers = regularisers.use(zoneout, mask)
    layer.train(training)
    # The layer sorts by length, so the masks must follow each sequence: give the
    # reference sorted inputs and compare the sorted rows.
    order = (
        torch.sort(torch.as_tensor(lengths), descending=True, stable=True).indices
        if lengths
        else None
    )
    if order is not None and training:
        # masks are drawn for the engine's sorted rows; map them back for the reference
        restore = torch.argsort(order)
        ref_zoneout, ref_mask = zoneout[:, restore], None if mask is None else mask[restore]
    else:
        ref_zoneout, ref_mask = zoneout, mask
    _compare(
        lambda: layer(x, cell.State(*state0), lengths=lengths),
        lambda: reference_unroll(cell, x, state0, lengths, ref_zoneout, ref_mask),
        [x, *state0, *cell.parameters()],
    )


@pytest.mark.parametrize("name", ["lstm", "gru", "layernorm_lstm", "indrnn_relu"])
def test_weight_drop_matches_reference(name):
    cell, x, state0 = _inputs(ALL_FACTORIES[name]())
    keep = torch.bernoulli(torch.full_like(cell.weight_hh, 0.5)) * 2
    layer = Recurrent(cell)
    layer.regularisers = FixedMasks(weight_drop=0.5).use(weight_hh=keep)
    dropped = {"weight_hh": cell.weight_hh * keep}
    _compare(
        lambda: layer(x, cell.State(*state0)),
        lambda: autograd_unroll(_Functional(cell, dropped), x, state0),
        [x, *state0, *cell.parameters()],
    )


class _Functional(torch.nn.Module):
    """``cell`` with some parameters replaced, for the reference unroll."""

    def __init__(self, cell, replaced):
        super().__init__()
        self.cell, self.replaced, self.State = cell, replaced, cell.State

    def forward(self, x, state):
        return functional_call(self.cell, self.replaced, (x, state))


@pytest.mark.parametrize("name", ALL_FACTORIES)
def test_stream_matches_whole_sequence_in_eval(name):
    cell, x, state0 = _inputs(ALL_FACTORIES[name]())
    layer = Recurrent(cell, zoneout=0.25).eval()
    with torch.no_grad():
        y, state = layer(x, cell.State(*state0))
        stream = layer.stream(x.shape[1], cell.State(*state0))
        steps = torch.stack([stream.step(x_t) for x_t in x])
    assert_close(steps, y, 1e-10, "streamed outputs")
    for k, (s, s_ref) in enumerate(zip(stream.state, state, strict=True)):
        assert_close(s, s_ref, 1e-10, f"streamed state[{k}]")


def test_training_masks_are_random_and_inference_is_deterministic():
    layer = Recurrent(LSTMCell(3, 16), zoneout=0.3, recurrent_dropout=0.3, weight_drop=0.3)
    x = torch.randn(20, 8, 3)
    first, second = layer(x)[0], layer(x)[0]
    assert not torch.equal(first, second)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])


def test_zoneout_keeps_the_previous_state_at_its_rate():
    regularisers = Regularisers(zoneout=0.2)
    mask = regularisers.zoneout_mask(200, 50, 40, torch.zeros(()), training=True)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert abs(mask.mean().item() - 0.2) < 0.01


@pytest.mark.parametrize("on_native", [True, False], ids=["native", "torch"])
def test_keep_mask_is_fair_seeded_and_fresh(on_native, monkeypatch):
    if on_native and not native.available():
        pytest.skip("native engine unavailable")
    monkeypatch.setattr(regularisers.native, "available", lambda: on_native)
    like = torch.zeros((), dtype=torch.float64)
    mask = keep_mask((301, 7, 33), 0.3, like)  # 69531 draws: not a multiple of 4
    assert mask.shape == (301, 7, 33) and mask.dtype == torch.float64
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert abs(mask.mean().item() - 0.3) < 0.01
    assert abs(mask[..., -1].mean().item() - 0.3) < 0.03  # the tail is drawn too
    torch.manual_seed(7)
    again = keep_mask((301, 7, 33), 0.3, like)
    torch.manual_seed(7)
    assert torch.equal(keep_mask((301, 7, 33), 0.3, like), again)  # torch.manual_seed fixes it
    assert not torch.equal(keep_mask((301, 7, 33), 0.3, like), again)  # and each call is new


def test_recurrent_mask_is_scaled_dropout():
    mask = Regularisers(recurrent_dropout=0.25).recurrent_mask(
        400, 50, torch.zeros((), dtype=torch.float64), True
    )
    assert set(mask.unique().tolist()) == {0.0, 1 / 0.75}
    assert abs(mask.mean().item() - 1.0) < 0.02
    assert Regularisers(recurrent_dropout=0.25).recurrent_mask(4, 5, torch.zeros(()), False) is None


def test_min_cells_parallel_and_sequential_modes_agree_in_float32():
    cell = MinGRUCell(4, 32)
    x = torch.randn(300, 3, 4)
    parallel, _ = Recurrent(cell)(x)
    sequential, _ = autograd_unroll(cell, x, tuple(cell.init_state(3)))
    assert_close(parallel, sequential, 1e-4, "minGRU modes")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: make_cell("lstmm", 3, 4), "cell must be one of"),
        (lambda: Recurrent(LSTMCell(3, 4), zoneout=1.0), r"zoneout must be a number in \[0, 1\)"),
        (lambda: Recurrent(LSTMCell(3, 4), recurrent_dropout=-0.1), "recurrent_dropout must be"),
        (lambda: Recurrent(LSTMCell(3, 4), weight_drop="0.5"), "weight_drop must be"),
        (lambda: SLSTMCell(3, 6, heads=4), "heads must be a positive int that divides"),
        (lambda: Recurrent(MinGRUCell(3, 4), recurrent_dropout=0.2), "no recurrent weights"),
        (lambda: Recurrent(MinGRUCell(3, 4), weight_drop=0.2), "no recurrent weights"),
        (lambda: Recurrent(LSTMCell(3, 4, proj_size=2), zoneout=0.1), "proj_size=0"),
    ],
)
def test_bad_configuration_is_a_value_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_zoned_states_cover_h_and_c_of_lstm_cells():
    assert zoned_states(LSTMCell(2, 3)) == 2
    assert zoned_states(SLSTMCell(2, 4, heads=2)) == 1


def test_bidirectional_takes_the_regularisers_for_both_directions():
    layer = Bidirectional(LSTMCell(3, 4), LSTMCell(3, 4), zoneout=0.2, recurrent_dropout=0.1)
    assert layer.forward_layer.regularisers == layer.backward_layer.regularisers
    assert layer.backward_layer.regularisers == Regularisers(zoneout=0.2, recurrent_dropout=0.1)
    with pytest.raises(TypeError, match="zonout"):
        Bidirectional(LSTMCell(3, 4), LSTMCell(3, 4), zonout=0.2)
