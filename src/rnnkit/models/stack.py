"""A recurrent stack from a few settings, any cell of ``rnnkit.cells.make_cell``."""

from __future__ import annotations

from rnnkit.cells import make_cell
from rnnkit.layers import Bidirectional, Recurrent, Stacked


def recurrent_stack(
    input_size: int,
    cell: str = "lstm",
    hidden: int = 128,
    layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    cell_options: dict | None = None,
    regularisers: dict | None = None,
) -> Stacked:
    """``layers`` layers of ``cell`` (batch-first), each bidirectional or not, dropout
    between them; ``regularisers`` (zoneout, recurrent_dropout, weight_drop) on every one.
    Output size: ``hidden``, doubled when bidirectional."""
    if not isinstance(layers, int) or layers < 1:
        raise ValueError(f"layers must be a positive int, got {layers!r}")
    options, regs = cell_options or {}, regularisers or {}
    width = hidden * (2 if bidirectional else 1)
    built = []
    for k in range(layers):
        size = input_size if k == 0 else width
        if bidirectional:
            pair = (make_cell(cell, size, hidden, **options) for _ in range(2))
            built.append(Bidirectional(*pair, **regs))
        else:
            built.append(Recurrent(make_cell(cell, size, hidden, **options), **regs))
    return Stacked(built, dropout=dropout, batch_first=True)
