"""The cells of the zoo, small, for the engine tests; and a reference unroll with
regularisers, written independently of the engines."""

from __future__ import annotations

import torch

from rnnkit.cells import (
    IndRNNCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    MinGRUCell,
    MinLSTMCell,
    PeepholeLSTMCell,
    SLSTMCell,
)
from tests.bptt.cells import CELL_FACTORIES

ZOO_FACTORIES = {
    "layernorm_lstm": lambda: LayerNormLSTMCell(3, 6),
    "layernorm_gru": lambda: LayerNormGRUCell(3, 6),
    "peephole_lstm": lambda: PeepholeLSTMCell(3, 6),
    "peephole_lstm_nobias": lambda: PeepholeLSTMCell(3, 6, bias=False),
    "slstm": lambda: SLSTMCell(3, 6, heads=2),
    "indrnn_relu": lambda: IndRNNCell(3, 6),
    "indrnn_tanh": lambda: IndRNNCell(3, 6, nonlinearity="tanh"),
    "mingru": lambda: MinGRUCell(3, 6),
    "minlstm": lambda: MinLSTMCell(3, 6),
}

#: Every cell, for the regulariser tests (LSTM without projection: zoneout needs P = H).
ALL_FACTORIES = {
    **{k: v for k, v in CELL_FACTORIES.items() if k in ("elman_tanh", "lstm", "gru")},
    **ZOO_FACTORIES,
}


def zoned_states(cell) -> int:
    return cell.pointwise.zoneout_states if cell.pointwise is not None else 1


def reference_unroll(cell, x, state0, lengths=None, zoneout=None, recurrent_mask=None):
    """The cell's own step under autograd, with zoneout mixing and the recurrent mask."""
    state, outputs = cell.State(*state0), []
    zoned = zoned_states(cell)
    for t in range(x.shape[0]):
        y, new = cell(x[t], state, recurrent_mask=recurrent_mask)
        if zoneout is not None:
            z = zoneout if zoneout.dim() == 0 else zoneout[t]
            mixed = [
                z * old + (1 - z) * n for old, n in zip(state[:zoned], new[:zoned], strict=False)
            ]
            new = cell.State(*mixed, *new[zoned:])
            y = new[0]
        if lengths is not None:
            running = (torch.as_tensor(lengths) > t).unsqueeze(1)
            y = y * running
            new = cell.State(*(torch.where(running, n, s) for n, s in zip(new, state, strict=True)))
        state = new
        outputs.append(y)
    return torch.stack(outputs), tuple(state)
