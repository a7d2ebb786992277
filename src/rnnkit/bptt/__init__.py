"""The engine: the only time loops in rnnkit.

* ``explicit_bptt``: forward over a sequence and backpropagation through time written
  out by hand, for any cell with a ``Pointwise`` split; its loops run natively (C++) or
  in PyTorch, as ``backend`` decides.
* ``extended.extended_bptt``: the same for cells with parameters in their pointwise part
  (layer norm, peepholes) and with zoneout or recurrent dropout in the loop.
* ``diagonal``: the element-wise recurrences (IndRNN, minGRU/minLSTM's scan).
* ``autograd_unroll``: the cell's own step unrolled under autograd; the test oracle and
  the fallback for cells without a hand-written derivative.
* ``record_gradient_flow``: keep ||dL/dh_t|| for every step during backward.
"""

from rnnkit.bptt import gemm
from rnnkit.bptt.explicit import explicit_bptt
from rnnkit.bptt.gradient_flow import FlowRecord, GradientFlow, record_gradient_flow
from rnnkit.bptt.unroll import autograd_unroll

__all__ = [
    "FlowRecord",
    "GradientFlow",
    "autograd_unroll",
    "explicit_bptt",
    "gemm",
    "record_gradient_flow",
]
