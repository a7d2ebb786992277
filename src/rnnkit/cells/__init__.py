"""Recurrent cells: the math of one time step."""

from rnnkit.cells.base import CellWeights, Pointwise, RecurrentCell
from rnnkit.cells.elman import ElmanCell, ElmanPointwise, ElmanState
from rnnkit.cells.gru import GRUCell, GRUPointwise, GRUState
from rnnkit.cells.indrnn import IndRNNCell, IndRNNState
from rnnkit.cells.layer_norm_gru import LayerNormGRUCell, LayerNormGRUPointwise
from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell, LayerNormLSTMPointwise
from rnnkit.cells.lstm import LSTMCell, LSTMPointwise, LSTMState
from rnnkit.cells.min_rnn import MinGRUCell, MinLSTMCell, MinState
from rnnkit.cells.peephole_lstm import PeepholeLSTMCell, PeepholeLSTMPointwise
from rnnkit.cells.registry import CELLS, POINTWISE, make_cell, pointwise_named
from rnnkit.cells.slstm import SLSTMCell, SLSTMPointwise, SLSTMState

__all__ = [
    "CELLS",
    "CellWeights",
    "ElmanCell",
    "ElmanPointwise",
    "ElmanState",
    "GRUCell",
    "GRUPointwise",
    "GRUState",
    "IndRNNCell",
    "IndRNNState",
    "LSTMCell",
    "LSTMPointwise",
    "LSTMState",
    "LayerNormGRUCell",
    "LayerNormGRUPointwise",
    "LayerNormLSTMCell",
    "LayerNormLSTMPointwise",
    "MinGRUCell",
    "MinLSTMCell",
    "MinState",
    "PeepholeLSTMCell",
    "POINTWISE",
    "PeepholeLSTMPointwise",
    "Pointwise",
    "RecurrentCell",
    "SLSTMCell",
    "SLSTMPointwise",
    "SLSTMState",
    "make_cell",
    "pointwise_named",
]
