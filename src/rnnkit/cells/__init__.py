"""Recurrent cells: the math of one time step."""

from rnnkit.cells.base import CellWeights, Pointwise, RecurrentCell
from rnnkit.cells.elman import ElmanCell, ElmanPointwise, ElmanState
from rnnkit.cells.gru import GRUCell, GRUPointwise, GRUState
from rnnkit.cells.lstm import LSTMCell, LSTMPointwise, LSTMState

__all__ = [
    "CellWeights",
    "ElmanCell",
    "ElmanPointwise",
    "ElmanState",
    "GRUCell",
    "GRUPointwise",
    "GRUState",
    "LSTMCell",
    "LSTMPointwise",
    "LSTMState",
    "Pointwise",
    "RecurrentCell",
]
