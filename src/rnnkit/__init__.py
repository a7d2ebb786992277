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
* ``rnnkit.load(run_dir)``: a run of ``rnnkit train`` as a predictor (``rnnkit.tasks``).
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
    "load",
    "nn",
    "record_gradient_flow",
]


def __getattr__(name: str):
    """``rnnkit.load`` (``rnnkit.tasks.registry.load``), imported on first use: the tasks
    bring in their data and training code, which ``import rnnkit`` alone does not need."""
    if name == "load":
        from rnnkit.tasks.registry import load

        return load
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
