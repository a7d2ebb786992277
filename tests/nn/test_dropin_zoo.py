"""The drop-in modules' additions: layer_norm=True and the regularisers, against the same
cells run through ``Recurrent`` (itself tested against the autograd unroll)."""

from __future__ import annotations

import pytest
import torch

import rnnkit.nn
from rnnkit.cells import LayerNormGRUCell, LayerNormLSTMCell, LSTMCell
from rnnkit.layers import Recurrent
from tests.conftest import assert_close, weighted_loss

pytestmark = pytest.mark.usefixtures("backend")

CELLS = {"LSTM": LayerNormLSTMCell, "GRU": LayerNormGRUCell}


def _copy_into_cell(module, cell, suffix):
    with torch.no_grad():
        for name, param in cell.named_parameters():
            param.copy_(getattr(module, f"{name}_l0{suffix}"))


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layer_norm_dropin_matches_the_cell(kind, bidirectional):
    module = getattr(rnnkit.nn, kind)(3, 5, layer_norm=True, bidirectional=bidirectional).double()
    with torch.no_grad():  # away from gain 1, shift 0, so a swapped norm shows
        for name, p in module.named_parameters():
            if name.startswith("ln_"):
                p.add_(torch.randn_like(p) * 0.3)
    x = torch.randn(7, 4, 3, dtype=torch.float64, requires_grad=True)
    y, _ = module(x)
    outputs = []
    for direction, suffix in enumerate([""] + (["_reverse"] if bidirectional else [])):
        cell = CELLS[kind](3, 5).double()
        _copy_into_cell(module, cell, suffix)
        outputs.append(Recurrent(cell, reverse=direction == 1)(x)[0])
    assert_close(y, torch.cat(outputs, dim=-1), 1e-10, "layer-norm drop-in")
    loss = weighted_loss(y, ())
    loss.backward()
    assert all(p.grad is not None for p in module.parameters())


def test_layer_norm_dropin_names_and_initialises_its_parameters():
    lstm = rnnkit.nn.LSTM(3, 5, layer_norm=True)
    keys = set(lstm.state_dict())
    assert {"weight_ih_l0", "weight_hh_l0", "ln_ih_weight_l0", "ln_c_bias_l0"} <= keys
    assert "bias_ih_l0" not in keys
    assert torch.equal(lstm.ln_hh_weight_l0, torch.ones(20))  # as torch.nn.LayerNorm starts
    assert torch.equal(lstm.ln_c_bias_l0, torch.zeros(5))
    assert lstm.weight_hh_l0.abs().max() <= 1 / 5**0.5 and lstm.weight_hh_l0.std() > 0
    cell = LayerNormLSTMCell(3, 5)
    assert torch.equal(cell.ln_ih_weight, torch.ones(20)) and not cell.ln_c_bias.any()


def test_regularised_dropin_keeps_torch_names_and_matches_recurrent_in_eval():
    module = rnnkit.nn.LSTM(3, 6, zoneout=0.2, recurrent_dropout=0.3, weight_drop=0.4).double()
    assert set(module.state_dict()) == set(torch.nn.LSTM(3, 6).state_dict())
    cell = LSTMCell(3, 6).double()
    with torch.no_grad():
        for name, param in cell.named_parameters():
            param.copy_(getattr(module, f"{name}_l0"))
    layer = Recurrent(cell, zoneout=0.2, recurrent_dropout=0.3, weight_drop=0.4).eval()
    module.eval()
    x = torch.randn(8, 3, 3, dtype=torch.float64)
    assert_close(module(x)[0], layer(x)[0], 1e-10, "eval output")
    module.train()
    assert not torch.equal(module(x)[0], module(x)[0])  # masks are drawn afresh


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_layer_norm_dropin_streams(kind):
    module = getattr(rnnkit.nn, kind)(3, 5, num_layers=2, layer_norm=True, zoneout=0.1).eval()
    x = torch.randn(6, 2, 3)
    with torch.no_grad():
        y, _ = module(x)
        stream = module.stream(batch_size=2)
        steps = torch.stack([stream.step(x_t) for x_t in x])
    assert_close(steps, y, 1e-5, "streamed")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: rnnkit.nn.LSTM(3, 6, proj_size=2, zoneout=0.1), "proj_size=0"),
        (lambda: rnnkit.nn.LSTM(3, 6, proj_size=2, layer_norm=True), "proj_size=0"),
        (lambda: rnnkit.nn.GRU(3, 6, bias=False, layer_norm=True), "needs bias=True"),
        (lambda: rnnkit.nn.RNN(3, 6, recurrent_dropout=1.0), r"recurrent_dropout must be"),
        (lambda: rnnkit.nn.GRU(3, 6, zoneout=-0.5), r"zoneout must be a number in \[0, 1\)"),
    ],
)
def test_bad_dropin_configuration_is_a_value_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()
