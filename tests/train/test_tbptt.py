"""Truncated BPTT in the trainer: the state flows across batches, gradients stop at them."""

from __future__ import annotations

import torch

import rnnkit.nn as rnn
from rnnkit.train import TrainConfig, Trainer, stream_batches


def test_stream_batches_continue_each_lane():
    stream = torch.arange(23.0).unsqueeze(1)  # (T_total, 1)
    batches = stream_batches((stream,), batch_size=2, steps=4)(0)
    # two lanes of 11 steps (one step dropped): [0..10] and [11..21]
    assert [b[0].shape for b in batches] == [(2, 4, 1), (2, 4, 1), (2, 3, 1)]
    lane0 = torch.cat([b[0][0, :, 0] for b in batches])
    lane1 = torch.cat([b[0][1, :, 0] for b in batches])
    assert torch.equal(lane0, torch.arange(11.0)) and torch.equal(lane1, torch.arange(11.0, 22.0))


def test_carried_state_makes_the_chunks_one_sequence(tmp_path):
    """With weights that do not move (zero gradients), the outputs over the chunks with
    the state carried are the outputs of one forward over the whole stream; each epoch
    starts from None, and what the loss receives is detached."""
    torch.manual_seed(0)
    lstm = rnn.LSTM(2, 5, batch_first=True)
    stream = torch.randn(40, 2)
    seen, outputs = [], []

    def loss(model, batch, state):
        seen.append(state)
        y, new_state = model(batch[0], state)
        outputs.append(y.detach())
        return (y * 0).sum(), new_state  # zero gradient: AdamW leaves the weights as they are

    config = TrainConfig(epochs=2, clip_norm=None, quiet=True)
    Trainer(lstm, loss, stream_batches((stream,), 2, 6), config, tmp_path, carry_state=True).fit()
    chunks = 4  # 20 steps per lane, in chunks of 6, 6, 6, 2
    assert seen[0] is None and seen[chunks] is None
    assert all(s is not None and not s[0].requires_grad for s in seen[1:chunks])
    with torch.no_grad():
        whole, _ = lstm(stream.reshape(2, 20, 2))
    torch.testing.assert_close(torch.cat(outputs[:chunks], dim=1), whole, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(torch.cat(outputs[chunks:], dim=1), whole, atol=1e-6, rtol=1e-6)


def test_gradients_stop_at_the_batch_boundary(tmp_path):
    """A chunk's gradient is that of the chunk alone, as if it started from a constant
    state: the carried state is cut from the previous chunk's graph."""
    torch.manual_seed(0)
    lstm = rnn.LSTM(2, 3, batch_first=True)
    stream = torch.randn(12, 2)
    compared = []

    def loss(model, batch, state):
        y, new_state = model(batch[0], state)
        value = y.square().sum()
        if state is not None:
            (through_state,) = torch.autograd.grad(value, model.weight_hh_l0, retain_graph=True)
            constant = tuple(s.clone() for s in state)
            fresh = model(batch[0], constant)[0].square().sum()
            (from_constant,) = torch.autograd.grad(fresh, model.weight_hh_l0)
            torch.testing.assert_close(through_state, from_constant)
            compared.append(True)
        return value, new_state

    config = TrainConfig(epochs=1, lr=1e-3, quiet=True)
    Trainer(lstm, loss, stream_batches((stream,), 1, 4), config, tmp_path, carry_state=True).fit()
    assert compared == [True, True]  # chunks 2 and 3
