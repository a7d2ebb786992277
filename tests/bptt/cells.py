"""Every cell configuration the engine tests run over."""

from __future__ import annotations

from rnnkit.cells import ElmanCell, GRUCell, LSTMCell

CELL_FACTORIES = {
    "elman_tanh": lambda: ElmanCell(3, 5),
    "elman_relu": lambda: ElmanCell(3, 5, nonlinearity="relu"),
    "elman_nobias": lambda: ElmanCell(3, 5, bias=False),
    "lstm": lambda: LSTMCell(3, 5),
    "lstm_proj": lambda: LSTMCell(3, 5, proj_size=2),
    "lstm_nobias": lambda: LSTMCell(3, 5, bias=False),
    "gru": lambda: GRUCell(3, 5),
    "gru_nobias": lambda: GRUCell(3, 5, bias=False),
}
