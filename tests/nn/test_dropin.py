"""rnnkit.nn.RNN/LSTM/GRU against torch.nn with the same weights: outputs, final states
and every gradient within 1e-5 (float32) over the whole configuration matrix."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit.nn
from tests.conftest import assert_close

pytestmark = pytest.mark.usefixtures("backend")

T, B, I, H = 7, 5, 4, 6
LENGTHS = torch.tensor([4, 7, 1, 7, 5])
INPUTS = ["full", "padded", "packed"]

MATRIX = [
    (kind, extra, layers, bidirectional, batch_first, bias, inputs)
    for kind, extra in [
        ("RNN", {}),
        ("RNN", {"nonlinearity": "relu"}),
        ("LSTM", {}),
        ("LSTM", {"proj_size": 3}),
        ("GRU", {}),
    ]
    for layers, bidirectional, batch_first, bias, inputs in itertools.product(
        [1, 2], [False, True], [False, True], [True, False], INPUTS
    )
]


def _run(module, x, inputs, batch_first, hx):
    """Forward and backward; returns output (padded), final state and all gradients."""
    x = x.clone().requires_grad_()
    if inputs == "packed":
        y, state = module(
            pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False), hx
        )
        y, _ = pad_packed_sequence(y, batch_first=batch_first, total_length=T)
    elif inputs == "padded" and isinstance(module, rnnkit.nn.LSTM | rnnkit.nn.GRU | rnnkit.nn.RNN):
        y, state = module(x, hx, lengths=LENGTHS)
    elif inputs == "padded":  # torch.nn needs packing for the same meaning
        return _run(module, x.detach(), "packed", batch_first, hx)
    else:
        y, state = module(x, hx)
    state = state if isinstance(state, tuple) else (state,)
    ramp = torch.linspace(-1, 1, y.numel()).view_as(y)
    loss = (y * ramp).sum() + sum((s * s).sum() for s in state)
    leaves = [
        x,
        *(h for h in (hx if isinstance(hx, tuple) else (hx,)) if h is not None),
        *module.parameters(),
    ]
    return y, state, torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize("kind, extra, layers, bidirectional, batch_first, bias, inputs", MATRIX)
def test_matches_torch_nn(kind, extra, layers, bidirectional, batch_first, bias, inputs):
    kwargs = dict(
        num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias, **extra
    )
    theirs = getattr(torch.nn, kind)(I, H, **kwargs)
    ours = getattr(rnnkit.nn, kind)(I, H, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn((B, T, I) if batch_first else (T, B, I))
    rows, out = layers * (2 if bidirectional else 1), extra.get("proj_size") or H
    h0 = torch.randn(rows, B, out, requires_grad=True)
    hx = (h0, torch.randn(rows, B, H, requires_grad=True)) if kind == "LSTM" else h0
    y, state, grads = _run(ours, x, inputs, batch_first, hx)
    y_ref, state_ref, grads_ref = _run(theirs, x, inputs, batch_first, hx)
    assert_close(y, y_ref, 1e-5, "output")
    for k, (s, s_ref) in enumerate(zip(state, state_ref, strict=True)):
        assert_close(s, s_ref, 1e-5, f"final state[{k}]")
    names = ["input", "hx", "cx"][: len(grads) - len(list(ours.parameters()))] + [
        n for n, _ in ours.named_parameters()
    ]
    for name, g, g_ref in zip(names, grads, grads_ref, strict=True):
        assert_close(g, g_ref, 1e-5, f"gradient of {name}")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_default_state_and_unbatched_input(kind):
    theirs = getattr(torch.nn, kind)(I, H, num_layers=2)
    ours = getattr(rnnkit.nn, kind)(I, H, num_layers=2)
    ours.load_state_dict(theirs.state_dict())
    for x in (torch.randn(T, B, I), torch.randn(T, I)):
        y, state = ours(x)
        y_ref, state_ref = theirs(x)
        assert_close(y, y_ref, 1e-5, "output")
        for s, s_ref in zip(
            state if kind == "LSTM" else (state,),
            state_ref if kind == "LSTM" else (state_ref,),
            strict=True,
        ):
            assert s.shape == s_ref.shape
            assert_close(s, s_ref, 1e-5, "state")


def test_state_dict_loads_back_into_torch():
    ours = rnnkit.nn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=2)
    theirs = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=2)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I)
    assert_close(ours(x)[0], theirs(x)[0], 1e-5, "output")


def test_dropout_between_layers_only_in_training():
    lstm = rnnkit.nn.LSTM(I, H, num_layers=2, dropout=0.5)
    x = torch.randn(T, B, I)
    lstm.eval()
    y_eval = lstm(x)[0]
    lstm.train()
    assert not torch.allclose(lstm(x)[0], y_eval)
    assert torch.equal(lstm.eval()(x)[0], y_eval)


def test_attributes_and_parameter_names_follow_torch():
    ours = rnnkit.nn.GRU(I, H, num_layers=2, bidirectional=True)
    theirs = torch.nn.GRU(I, H, num_layers=2, bidirectional=True)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert ours.weight_hh_l1_reverse.shape == theirs.weight_hh_l1_reverse.shape
    assert len(ours.all_weights) == len(theirs.all_weights) == 4
    ours.flatten_parameters()


def test_float64_and_one_layer_dropout_warning():
    with pytest.warns(UserWarning, match="num_layers=1"):
        rnnkit.nn.RNN(I, H, dropout=0.3)
    lstm = rnnkit.nn.LSTM(I, H).double()
    y, _ = lstm(torch.randn(T, B, I, dtype=torch.float64))
    assert y.dtype == torch.float64
