"""Random shapes and lengths (hypothesis, derandomized so the suite stays deterministic):
rnnkit.nn against torch.nn, outputs, final states and input gradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit.nn
from tests.conftest import assert_close

pytestmark = pytest.mark.usefixtures("backend")


@st.composite
def configurations(draw):
    kind = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    hidden = draw(st.integers(1, 9))
    kwargs = dict(
        num_layers=draw(st.integers(1, 3)),
        bidirectional=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
    )
    if kind == "LSTM" and hidden > 1 and draw(st.booleans()):
        kwargs["proj_size"] = draw(st.integers(1, hidden - 1))
    steps, batch = draw(st.integers(1, 9)), draw(st.integers(1, 6))
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    return kind, draw(st.integers(1, 5)), hidden, kwargs, steps, lengths


@settings(derandomize=True, max_examples=60, deadline=None)
@given(configurations(), st.integers(0, 2**31 - 1))
def test_random_configuration_matches_torch(config, seed):
    kind, inputs, hidden, kwargs, steps, lengths = config
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, kind)(inputs, hidden, **kwargs)
    ours = getattr(rnnkit.nn, kind)(inputs, hidden, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    batch_first = kwargs["batch_first"]
    shape = (len(lengths), steps, inputs) if batch_first else (steps, len(lengths), inputs)
    x = torch.randn(shape)
    results = []
    for module in (ours, theirs):
        leaf = x.clone().requires_grad_()
        packed = pack_padded_sequence(leaf, lengths, batch_first=batch_first, enforce_sorted=False)
        y, state = module(packed)
        y, _ = pad_packed_sequence(y, batch_first=batch_first)
        state = state if isinstance(state, tuple) else (state,)
        ramp = torch.linspace(-1, 1, y.numel()).view_as(y)
        loss = (y * ramp).sum() + sum(s.square().sum() for s in state)
        results.append((y, state, torch.autograd.grad(loss, leaf)[0]))
    (y, state, grad), (y_ref, state_ref, grad_ref) = results
    assert_close(y, y_ref, 1e-5, "output")
    for s, s_ref in zip(state, state_ref, strict=True):
        assert_close(s, s_ref, 1e-5, "final state")
    assert_close(grad, grad_ref, 1e-5, "input gradient")
