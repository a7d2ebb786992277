"""``Stacked``: layers on top of each other, with dropout between them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn
from torch.nn.functional import dropout

from rnnkit.layers.base import SequenceLayer
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

    def run(self, x: Tensor, state: Any, lengths: Tensor | None) -> tuple[Tensor, list[Any]]:
        if state is None:
            state = [None] * len(self.layers)
        elif not isinstance(state, (list, tuple)) or len(state) != len(self.layers):
            raise ValueError(f"state must be a list of {len(self.layers)} per-layer states or None")
        finals = []
        for k, (layer, layer_state) in enumerate(zip(self.layers, state, strict=True)):
            if k > 0:
                x = dropout(x, self.dropout, self.training)
            x, final = layer.run(x, layer_state, lengths)
            finals.append(final)
        return x, finals
