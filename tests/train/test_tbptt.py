"""Truncated BPTT in the trainer: the state flows across batches, gradients stop at them."""

from __future__ import annotations

import torch

import rnnkit.nn as rnn
from rnnkit.train import TrainConfig, Trainer, sequence_batches, stream_batches


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


def test_sequence_batches_keep_each_sequence_whole_and_padded():
    sequences = [(torch.arange(5.0).unsqueeze(1),), (torch.arange(10.0, 13.0).unsqueeze(1),),
                 (torch.arange(20.0, 27.0).unsqueeze(1),)]  # fmt: skip
    chunks = sequence_batches(sequences, batch_size=2, steps=3)(0)
    # each sequence to the shorter lane: lane 0 gets seq 0 (5 steps, padded to 6); lane 1
    # gets seq 1 (3) and then seq 2 (7, padded to 9): 12 steps, 4 chunks
    assert len(chunks) == 4 and chunks[0].tensors[0].shape == (2, 3, 1)
    lane1 = torch.cat([c.tensors[0][1, :, 0] for c in chunks])
    valid1 = torch.cat([c.valid[1] for c in chunks])
    assert torch.equal(
        lane1[valid1], torch.cat([torch.arange(10.0, 13.0), torch.arange(20.0, 27.0)])
    )
    assert [bool(c.fresh[1]) for c in chunks] == [True, True, False, False]
    assert [bool(c.fresh[0]) for c in chunks] == [True, False, False, False]
    assert int(torch.stack([c.valid[0] for c in chunks]).sum()) == 5


def test_each_sequence_starts_from_a_zero_state(tmp_path):
    """Carried across a sequence's chunks, restarted where a new one begins: the outputs
    at valid positions are those of each sequence run alone from a zero state."""
    torch.manual_seed(0)
    lstm = rnn.LSTM(2, 4, batch_first=True)
    sequences = [(torch.randn(n, 2),) for n in (7, 4, 9, 3)]
    outputs = []

    def loss(model, chunk, state):
        y, new_state = model(chunk.tensors[0], state)
        outputs.append((y.detach(), chunk.valid))
        return (y * 0).sum(), new_state  # zero gradient: the weights stay as they are

    config = TrainConfig(epochs=1, clip_norm=None, quiet=True)
    batches = sequence_batches(sequences, batch_size=2, steps=3)
    Trainer(lstm, loss, batches, config, tmp_path, carry_state=True).fit()
    got = [torch.cat([y[lane] for y, _ in outputs])[torch.cat([v[lane] for _, v in outputs])]
           for lane in range(2)]  # fmt: skip
    with torch.no_grad():
        alone = [lstm(s[0].unsqueeze(0))[0][0] for s in sequences]
    # padded lengths 9, 6, 9, 3, each to the shorter lane: lane 0 gets 0 and 3, lane 1 1 and 2
    torch.testing.assert_close(got[0], torch.cat([alone[0], alone[3]]), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(got[1], torch.cat([alone[1], alone[2]]), atol=1e-6, rtol=1e-6)
