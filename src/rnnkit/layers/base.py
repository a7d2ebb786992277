"""What every sequence layer shares: the public ``forward`` that accepts any input layout
and hands a time-major padded tensor to the layer's ``run``."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.layers.sequence import from_time_major, to_time_major
from rnnkit.layers.validation import check_input


class SequenceLayer(nn.Module):
    """A layer that maps a batch of sequences to a batch of sequences and a final state.

    ``forward(x, state=None, lengths=None) -> (y, final_state)`` where ``x`` is
    (T, B, I), (B, T, I) with ``batch_first=True``, or a ``PackedSequence`` (then ``y`` is
    one too). ``lengths`` (B,) marks padded batches: y is zero past each sequence's end
    and the final state is each sequence's own, taken at its last real step.
    """

    input_size: int
    output_size: int

    def __init__(self, batch_first: bool = False) -> None:
        super().__init__()
        self.batch_first = batch_first

    def forward(
        self,
        x: Tensor | PackedSequence,
        state: Any = None,
        lengths: Tensor | list[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Any]:
        x, lengths, layout = to_time_major(x, lengths, self.batch_first)
        shape = "(B, T, I)" if self.batch_first and layout.packed is None else "(T, B, I)"
        check_input(x, self.input_size, next(self.parameters()), "x", shape)
        y, state = self.run(x, state, lengths)
        return from_time_major(y, lengths, layout), state

    @abstractmethod
    def run(self, x: Tensor, state: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
        """x (T, B, I), checked; lengths a CPU int64 (B,) tensor or None."""
