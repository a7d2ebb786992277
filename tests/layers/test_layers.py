"""Layers against a hand-written loop over the cell: lengths, reverse, both directions,
stacking, packed input, batch_first and the fallback for cells without a fast path."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.cells import ElmanCell, GRUCell, LSTMCell
from rnnkit.layers import Bidirectional, Recurrent, Stacked
from tests.conftest import assert_close

pytestmark = pytest.mark.usefixtures("backend")

LENGTHS = torch.tensor([4, 7, 1, 7, 5])  # unsorted on purpose


def hand_loop(cell, x, lengths, reverse=False):
    """One sequence at a time, with Python slicing: the obvious definition."""
    outputs, finals = torch.zeros(x.shape[0], x.shape[1], cell.output_size), []
    for b in range(x.shape[1]):
        n = int(lengths[b])
        steps = range(n - 1, -1, -1) if reverse else range(n)
        state = cell.init_state(1)
        for t in steps:
            y, state = cell(x[t, b : b + 1], state)
            outputs[t, b] = y[0]
        finals.append(state)
    return outputs, tuple(torch.cat(entry) for entry in zip(*finals, strict=True))


class NoFastPathLSTM(LSTMCell):
    """An LSTM cell that does not offer its pointwise split: runs through the unroll."""

    pointwise = None


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(
    "make_cell",
    [
        lambda: ElmanCell(3, 4),
        lambda: LSTMCell(3, 4, proj_size=2),
        lambda: GRUCell(3, 4),
        lambda: NoFastPathLSTM(3, 4),
    ],
)
def test_recurrent_matches_hand_loop(make_cell, reverse):
    cell = make_cell()
    x = torch.randn(7, 5, 3)
    y, state = Recurrent(cell, reverse=reverse)(x, lengths=LENGTHS)
    y_ref, state_ref = hand_loop(cell, x, LENGTHS, reverse)
    assert_close(y, y_ref, 1e-6, "output")
    for s, s_ref in zip(state, state_ref, strict=True):
        assert_close(s, s_ref, 1e-6, "final state")
    assert isinstance(state, cell.State)


def test_bidirectional_concatenates_both_directions():
    fwd, bwd = GRUCell(3, 4), GRUCell(3, 4)
    x = torch.randn(7, 5, 3)
    y, (s_fwd, s_bwd) = Bidirectional(fwd, bwd)(x, lengths=LENGTHS)
    y_fwd, ref_fwd = hand_loop(fwd, x, LENGTHS)
    y_bwd, ref_bwd = hand_loop(bwd, x, LENGTHS, reverse=True)
    assert_close(y, torch.cat((y_fwd, y_bwd), -1), 1e-6, "output")
    assert_close(s_fwd.h, ref_fwd[0], 1e-6, "forward state")
    assert_close(s_bwd.h, ref_bwd[0], 1e-6, "backward state")


def test_stacked_feeds_each_layer_the_previous_output():
    first, second = Recurrent(LSTMCell(3, 4)), Recurrent(ElmanCell(4, 6))
    x = torch.randn(7, 5, 3)
    y, states = Stacked([first, second])(x, lengths=LENGTHS)
    y1, _ = first(x, lengths=LENGTHS)
    y2, s2 = second(y1, lengths=LENGTHS)
    assert_close(y, y2, 1e-6, "output")
    assert len(states) == 2 and torch.equal(states[1].h, s2.h)


def test_stacked_dropout_acts_only_in_training():
    stack = Stacked([Recurrent(GRUCell(3, 8)), Recurrent(GRUCell(8, 8))], dropout=0.5)
    x = torch.randn(6, 4, 3)
    stack.eval()
    y_eval, _ = stack(x)
    y_eval_again, _ = stack(x)
    stack.train()
    y_train, _ = stack(x)
    assert torch.equal(y_eval, y_eval_again)
    assert not torch.allclose(y_train, y_eval)


def test_packed_input_gives_packed_output_and_true_final_state():
    layer = Recurrent(LSTMCell(3, 4))
    x = torch.randn(7, 5, 3)
    packed = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    y_packed, state = layer(packed)
    y, lengths = pad_packed_sequence(y_packed)
    y_ref, state_ref = layer(x, lengths=LENGTHS)
    assert torch.equal(lengths, LENGTHS)
    assert_close(y, y_ref, 1e-6, "output")
    assert_close(state.c, state_ref.c, 1e-6, "final cell state")


def test_batch_first_is_a_transpose():
    cell = GRUCell(3, 4)
    x = torch.randn(5, 7, 3)  # (B, T, I)
    y_bf, s_bf = Recurrent(cell, batch_first=True)(x, lengths=LENGTHS)
    y_tm, s_tm = Recurrent(cell)(x.transpose(0, 1), lengths=LENGTHS)
    assert torch.equal(y_bf, y_tm.transpose(0, 1)) and torch.equal(s_bf.h, s_tm.h)


@pytest.mark.parametrize("make_cell", [lambda: LSTMCell(3, 8), lambda: NoFastPathLSTM(3, 8)])
def test_truncated_bptt_by_carrying_detached_state(make_cell):
    """Chunks with the state carried give the full sequence's outputs, while gradients
    stop at the chunk boundary."""
    layer = Recurrent(make_cell())
    x = torch.randn(12, 2, 3, requires_grad=True)
    y_full, state_full = layer(x)
    state, chunks = None, []
    for chunk in x.split(4):
        y, state = layer(chunk, state)
        chunks.append(y)
        state = type(state)(*(s.detach() for s in state))
    assert_close(torch.cat(chunks), y_full, 1e-6, "chunked outputs")
    assert_close(state.c, state_full.c, 1e-6, "final state")
    (grad,) = torch.autograd.grad(chunks[-1].sum(), x)
    assert bool((grad[:8] == 0).all()) and bool((grad[8:] != 0).any())
