"""``Recurrent(cell)``: one cell run over a sequence in one direction."""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

from torch import Tensor

from rnnkit.bptt import autograd_unroll
from rnnkit.bptt.step import Stepper
from rnnkit.cells.base import RecurrentCell
from rnnkit.layers.base import SequenceLayer
from rnnkit.layers.engine import check_regularisers, run_pointwise, run_sequence_cell
from rnnkit.layers.regularisers import Regularisers
from rnnkit.layers.sequence import run_direction
from rnnkit.layers.stream import Stream
from rnnkit.layers.validation import check_batch_size, check_state


class Recurrent(SequenceLayer):
    """Run ``cell`` over every step of a sequence::

        layer = Recurrent(LSTMCell(8, 64), batch_first=True)
        y, state = layer(x)                    # x (B, T, 8) -> y (B, T, 64)
        y, state = layer(x, lengths=lengths)   # padded batch: state is each one's own

    Cells with a ``Pointwise`` split run on the explicit-BPTT engine, cells with an
    element-wise recurrence on its scans, others through the autograd unroll.
    ``reverse=True`` reads each sequence backwards within its length.

    Regularisers (``rnnkit.layers.regularisers``), on the fast path, in training mode::

        Recurrent(LSTMCell(8, 64), zoneout=0.1, recurrent_dropout=0.25, weight_drop=0.5)

    Truncated BPTT: split a long stream into chunks and carry the state, detached, so
    that gradients stop at the chunk boundary while the state flows on::

        state = None
        for chunk in long_sequence.split(100, dim=1):      # (B, 100, I) each
            y, state = layer(chunk, state)
            loss_fn(y).backward()
            state = type(state)(*(s.detach() for s in state))
    """

    def __init__(
        self,
        cell: RecurrentCell,
        reverse: bool = False,
        batch_first: bool = False,
        name: str = "",
        zoneout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
    ) -> None:
        super().__init__(batch_first)
        if not isinstance(cell, RecurrentCell):
            raise ValueError(f"cell must be an rnnkit RecurrentCell, got {type(cell).__name__}")
        self.regularisers = Regularisers(zoneout, recurrent_dropout, weight_drop)
        check_regularisers(cell, self.regularisers)
        self.cell = cell
        self.reverse = reverse
        self.name = name or type(cell).__name__ + ("_reverse" if reverse else "")
        self.input_size = cell.input_size
        self.output_size = cell.output_size

    def __getstate__(self) -> dict:
        """Pickled as plain values, as ``rnnkit.nn``'s modules (see there)."""
        return {**self.__dict__, "regularisers": astuple(self.regularisers)}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__({**state, "regularisers": Regularisers(*state["regularisers"])})

    def run(self, x: Tensor, state: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
        batch = x.shape[1]
        if state is None:
            state0 = tuple(self.cell.init_state(batch, x.device, x.dtype))
        else:
            shapes = [(batch, n) for n in self.cell.state_sizes()]
            state0 = check_state(state, shapes, self.cell.weight_ih, "state")
        y, final = run_direction(self._engine, x, state0, lengths, self.reverse)
        return y, self.cell.State(*final)

    def stream(self, batch_size: int = 1, state: Any = None) -> Stream:
        """A ``Stream`` that runs this layer one step at a time (see ``rnnkit.layers.stream``)."""
        return Stream(
            [self._stepper(batch_size, state)],
            self.input_size,
            self.cell.weight_ih,
            lambda s: self.cell.State(*s[0]),
        )

    def _stepper(self, batch_size: int, state: Any) -> Stepper:
        if self.reverse:
            raise ValueError(
                "stream() needs a forward layer: a reversed one reads the sequence from its end"
            )
        check_batch_size(batch_size)
        like = self.cell.weight_ih
        if state is None:
            state0 = tuple(self.cell.init_state(batch_size, like.device, like.dtype))
        else:
            shapes = [(batch_size, n) for n in self.cell.state_sizes()]
            state0 = check_state(state, shapes, like, "state")
        return Stepper(
            None if self.cell.sequence else self.cell.pointwise,
            self.cell.weights,
            state0,
            cell=self.cell,
            params=self.cell.params,
            zoneout=self.regularisers.zoneout,
        )

    def _engine(self, x, state0, lengths):
        cell, regularisers = self.cell, self.regularisers
        if cell.sequence is not None:
            return run_sequence_cell(cell, regularisers, self.training, x, state0, lengths)
        if cell.pointwise is not None:
            return run_pointwise(
                cell.pointwise, cell.weights(), cell.params(), regularisers, self.training,
                self.name, x, state0, lengths,
            )  # fmt: skip
        return autograd_unroll(cell, x, state0, lengths, self.name)

    def extra_repr(self) -> str:
        text = f"reverse={self.reverse}, batch_first={self.batch_first}"
        return f"{text}, {self.regularisers}" if self.regularisers.any() else text
