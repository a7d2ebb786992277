"""Shared plumbing of the layers: input layouts, packed sequences, sorting by length and
reversing each sequence within its length. No math lives here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.exporting import exporting_to_onnx
from rnnkit.layers.validation import check_lengths

# (x (T, B, I) sorted by length, state0, lengths (B,) sorted in decreasing order or None)
#   -> (y (T, B, P), final state)
SequenceFn = Callable[
    [Tensor, tuple[Tensor, ...], Tensor | None], tuple[Tensor, tuple[Tensor, ...]]
]


@dataclass
class Layout:
    """How the caller laid out the input, so the output can be laid out the same way."""

    batch_first: bool
    packed: PackedSequence | None = None


def to_time_major(
    x: Tensor | PackedSequence, lengths: object, batch_first: bool
) -> tuple[Tensor | object, Tensor | None, Layout]:
    """-> (padded x (T, B, I), lengths as CPU int64 or None, layout).

    ``x`` itself is checked by the caller afterwards, so that packed input is checked
    in its padded form; anything but a 3-D tensor is passed through untouched.
    """
    if isinstance(x, PackedSequence):
        if lengths is not None:
            raise ValueError("lengths must be None when x is a PackedSequence (it has its own)")
        padded, packed_lengths = pad_packed_sequence(x)
        return padded, packed_lengths, Layout(batch_first, packed=x)
    if batch_first and isinstance(x, Tensor) and x.dim() == 3:
        x = x.transpose(0, 1)
    if lengths is not None and isinstance(x, Tensor) and x.dim() == 3:
        lengths = check_lengths(lengths, x.shape[0], x.shape[1], x.device)
    return x, lengths, Layout(batch_first)


def from_time_major(y: Tensor, lengths: Tensor | None, layout: Layout) -> Tensor | PackedSequence:
    """Undo ``to_time_major`` on the output."""
    if layout.packed is not None:
        order = layout.packed.sorted_indices
        sorted_y = y if order is None else y.index_select(1, order.to(y.device))
        sorted_lengths = lengths if order is None else lengths[order.cpu()]
        data = pack_padded_sequence(sorted_y, sorted_lengths).data
        return PackedSequence(
            data,
            layout.packed.batch_sizes,
            layout.packed.sorted_indices,
            layout.packed.unsorted_indices,
        )
    return y.transpose(0, 1) if layout.batch_first else y


def reverse_within(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse every sequence of ``x`` (T, B, ...) within its own length; padding stays."""
    if lengths is None:
        return x.flip(0)
    steps = x.shape[0]
    t = torch.arange(steps).unsqueeze(1)  # (T, 1)
    index = torch.where(t < lengths, lengths - 1 - t, t).to(x.device)  # (T, B)
    index = index.view(steps, -1, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, index)


def run_direction(
    run: SequenceFn,
    x: Tensor,
    state0: tuple[Tensor, ...],
    lengths: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run one direction of one layer on time-major ``x`` with any batch order.

    The engine wants sequences sorted by decreasing length; this sorts them (stably),
    reverses each one within its length if ``reverse``, and undoes both afterwards. (For
    ONNX export nothing is sorted: its loops take the lengths in any order.)
    """
    if (
        lengths is not None
        and not torch.compiler.is_compiling()  # a graph cannot branch on the values
        and bool((lengths == x.shape[0]).all())
    ):
        lengths = None  # every sequence is full: no sorting or gathering needed
    if lengths is not None:
        # Never read, but dL/dW_ih = sum over rows of dL/d gates x^T would meet 0 * NaN
        # there: the padding is zeroed, as packing leaves it out.
        padding = torch.arange(x.shape[0]).unsqueeze(1) >= lengths  # (T, B)
        x = x.masked_fill(padding.unsqueeze(2).to(x.device), 0)
    if reverse:
        x = reverse_within(x, lengths)
    if lengths is None or exporting_to_onnx():  # ONNX's loops take any order (and no sort)
        y, state = run(x, state0, lengths)
    else:
        order = torch.sort(lengths, descending=True, stable=True).indices
        restore = torch.argsort(order)
        dev_order, dev_restore = order.to(x.device), restore.to(x.device)
        y, state = run(
            x.index_select(1, dev_order),
            tuple(s.index_select(0, dev_order) for s in state0),
            lengths[order],
        )
        y = y.index_select(1, dev_restore)
        state = tuple(s.index_select(0, dev_restore) for s in state)
    if reverse:
        y = reverse_within(y, lengths)
    return y, state
