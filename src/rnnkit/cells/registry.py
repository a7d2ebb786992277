"""Cells by name, for configuration files and the command line::

make_cell("slstm", input_size=8, hidden_size=64, heads=4)

and their pointwise parts by name, for the engine's ops (``pointwise_named("lstm")``).
"""

from __future__ import annotations

from rnnkit.cells.base import Pointwise, RecurrentCell
from rnnkit.cells.elman import ELMAN_POINTWISE, ElmanCell
from rnnkit.cells.gru import GRUCell, GRUPointwise
from rnnkit.cells.indrnn import IndRNNCell
from rnnkit.cells.layer_norm_gru import LayerNormGRUCell, LayerNormGRUPointwise
from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell, LayerNormLSTMPointwise
from rnnkit.cells.lstm import LSTMCell, LSTMPointwise
from rnnkit.cells.min_rnn import MinGRUCell, MinLSTMCell
from rnnkit.cells.peephole_lstm import PeepholeLSTMCell, PeepholeLSTMPointwise
from rnnkit.cells.slstm import SLSTMCell, SLSTMPointwise

CELLS: dict[str, type[RecurrentCell]] = {
    "elman": ElmanCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
    "layernorm_lstm": LayerNormLSTMCell,
    "layernorm_gru": LayerNormGRUCell,
    "peephole_lstm": PeepholeLSTMCell,
    "indrnn": IndRNNCell,
    "slstm": SLSTMCell,
    "mingru": MinGRUCell,
    "minlstm": MinLSTMCell,
}


def make_cell(name: str, input_size: int, hidden_size: int, **options) -> RecurrentCell:
    """The cell called ``name`` (one of ``CELLS``), built with its own keyword options."""
    if name not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {name!r}")
    return CELLS[name](input_size, hidden_size, **options)


POINTWISE: dict[str, Pointwise] = {
    p.name: p
    for p in (
        *ELMAN_POINTWISE.values(),
        LSTMPointwise(),
        GRUPointwise(),
        LayerNormLSTMPointwise(),
        LayerNormGRUPointwise(),
        PeepholeLSTMPointwise(),
        SLSTMPointwise(),
    )
}


def pointwise_named(name: str) -> Pointwise:
    """The pointwise part called ``name`` (``Pointwise.name``, one of ``POINTWISE``)."""
    if name not in POINTWISE:
        raise ValueError(f"cell must be one of {sorted(POINTWISE)}, got {name!r}")
    return POINTWISE[name]
