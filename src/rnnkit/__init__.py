"""rnnkit: recurrent neural networks on PyTorch, trained by explicit backpropagation
through time.

* ``rnnkit.cells``: one time step of each cell family (``ElmanCell``, ``LSTMCell``, ``GRUCell``
  and the zoo: layer-norm LSTM/GRU, peephole LSTM, IndRNN, sLSTM, minGRU, minLSTM).
* ``rnnkit.bptt``: the engine (explicit BPTT on native C++ or PyTorch loops, autograd
  unroll, gradient-flow recording, the streaming step).
* ``rnnkit.layers``: ``Recurrent(cell)``, ``Bidirectional``, ``Stacked``, ``layer.stream()``,
  zoneout, recurrent dropout and weight drop.
* ``rnnkit.nn``: drop-in ``RNN``, ``LSTM``, ``GRU`` for torch.nn's.
* ``rnnkit.train``: the training loop, checkpoints, truncated BPTT streams, diagnostics.
"""

from rnnkit import bptt, cells, layers, nn
from rnnkit.bptt import record_gradient_flow
from rnnkit.cells import ElmanCell, GRUCell, LSTMCell
from rnnkit.layers import Bidirectional, Recurrent, Stacked

__version__ = "0.1.0"

__all__ = [
    "Bidirectional",
    "ElmanCell",
    "GRUCell",
    "LSTMCell",
    "Recurrent",
    "Stacked",
    "bptt",
    "cells",
    "layers",
    "nn",
    "record_gradient_flow",
]
