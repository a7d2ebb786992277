"""``Bidirectional``: one cell reads each sequence forwards, another backwards."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.cells.base import RecurrentCell
from rnnkit.layers.base import SequenceLayer
from rnnkit.layers.recurrent import Recurrent


class Bidirectional(SequenceLayer):
    """y_t = [forward y_t, backward y_t] (features concatenated), where the backward cell
    starts at each sequence's own last step. State: ``(forward_state, backward_state)``.

        layer = Bidirectional(GRUCell(8, 64), GRUCell(8, 64))
        y, (state_fwd, state_bwd) = layer(x)   # y (T, B, 128)

    ``regularisers`` (zoneout, recurrent_dropout, weight_drop) go to both directions,
    each drawing its own masks.
    """

    def __init__(
        self,
        forward_cell: RecurrentCell,
        backward_cell: RecurrentCell,
        batch_first: bool = False,
        **regularisers: float,
    ) -> None:
        super().__init__(batch_first)
        if forward_cell.input_size != backward_cell.input_size:
            raise ValueError(
                f"backward_cell.input_size must equal forward_cell.input_size="
                f"{forward_cell.input_size}, got {backward_cell.input_size}"
            )
        self.forward_layer = Recurrent(
            forward_cell, name=type(forward_cell).__name__, **regularisers
        )
        self.backward_layer = Recurrent(backward_cell, reverse=True, **regularisers)
        self.input_size = forward_cell.input_size
        self.output_size = forward_cell.output_size + backward_cell.output_size

    def run(self, x: Tensor, state: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
        if state is None:
            state = (None, None)
        elif not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError("state must be a pair (forward_state, backward_state) or None")
        y_fwd, state_fwd = self.forward_layer.run(x, state[0], lengths)
        y_bwd, state_bwd = self.backward_layer.run(x, state[1], lengths)
        return torch.cat((y_fwd, y_bwd), dim=-1), (state_fwd, state_bwd)
