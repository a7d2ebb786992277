"""``Stacked``: layers on top of each other, with dropout between them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn
from torch.nn.functional import dropout

from rnnkit.layers.base import SequenceLayer
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.stream import Stream
from rnnkit.layers.validation import check_probability


class Stacked(SequenceLayer):
    """Layer k reads layer k-1's output; dropout (training mode only) is applied between
    layers, not after the last. State: a list with one entry per layer.

        stack = Stacked([Recurrent(LSTMCell(8, 64)), Recurrent(LSTMCell(64, 64))], dropout=0.2)
        y, states = stack(x)
    """

    def __init__(
        self, layers: Sequence[SequenceLayer], dropout: float = 0.0, batch_first: bool = False
    ) -> None:
        super().__init__(batch_first)
        if len(layers) == 0:
            raise ValueError("layers must hold at least one SequenceLayer, got none")
        for k in range(1, len(layers)):
            if layers[k].input_size != layers[k - 1].output_size:
                raise ValueError(
                    f"layers[{k}].input_size must equal layers[{k - 1}].output_size="
                    f"{layers[k - 1].output_size}, got {layers[k].input_size}"
                )
        self.layers = nn.ModuleList(layers)
        self.dropout = check_probability(dropout, "dropout")
        self.input_size = layers[0].input_size
        self.output_size = layers[-1].output_size

    def stream(self, batch_size: int = 1, state: Any = None) -> Stream:
        """A ``Stream`` through every layer, one step at a time (no dropout: inference)."""
        states = self._layer_states(state)
        steppers = []
        for k, (layer, layer_state) in enumerate(zip(self.layers, states, strict=True)):
            if not isinstance(layer, Recurrent):
                raise ValueError(
                    f"stream() needs Recurrent layers, layers[{k}] is {type(layer).__name__}"
                )
            steppers.append(layer._stepper(batch_size, layer_state))
        first = self.layers[0].cell.weight_ih
        cells = [layer.cell for layer in self.layers]
        return Stream(
            steppers,
            self.input_size,
            first,
            lambda s: [c.State(*e) for c, e in zip(cells, s, strict=True)],
        )

    def _layer_states(self, state: Any) -> list[Any]:
        if state is None:
            return [None] * len(self.layers)
        if not isinstance(state, (list, tuple)) or len(state) != len(self.layers):
            raise ValueError(f"state must be a list of {len(self.layers)} per-layer states or None")
        return list(state)

    def run(self, x: Tensor, state: Any, lengths: Tensor | None) -> tuple[Tensor, list[Any]]:
        finals = []
        for k, (layer, layer_state) in enumerate(
            zip(self.layers, self._layer_states(state), strict=True)
        ):
            if k > 0:
                x = dropout(x, self.dropout, self.training)
            x, final = layer.run(x, layer_state, lengths)
            finals.append(final)
        return x, finals
