"""The element-wise recurrences (no recurrent GEMM), which a cell declares by name in its
``sequence`` and the engine runs over a whole sequence::

    "indrnn_relu", "indrnn_tanh":  h_t = act(pre_t + u * h_{t-1})       (IndRNN)
    "mingru", "minlstm":           h_t = a_t * h_{t-1} + b_t             (minGRU, minLSTM)
                                   a_t, b_t > 0 from x_t only (the cell's coefficients)

with pre = x W_ih^T + b_ih, or the min cells' gates, from one input projection of every
step at once (``rnnkit.bptt.projection``). The scans behind them:

* ``indrnn_scan``: a sequential pass, native or PyTorch;
* ``min_scan``: on the native engine one fused pass (gates, zoneout and the recurrence);
  on the PyTorch engine the log-space ``linear_scan``, all steps at once, which is the
  engine for parallel devices. The native engine runs sequential passes, vectorised over
  the batch and units: on a CPU with a few cores, B * H independent lanes are all the
  parallelism there is, and a pass does O(T) work where the log-space scan does several
  times that.

Each scan is a pair of ``torch.library`` ops under an autograd.Function with a
hand-derived backward (``rnnkit.bptt.op_rules`` says what they share), so these cells
compile, export, vmap and differentiate twice like the others.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.bptt.backend import get_backend
from rnnkit.bptt.indrnn_scan import indrnn_scan
from rnnkit.bptt.min_scan import min_scan
from rnnkit.bptt.projection import project
from rnnkit.cells.min_rnn import MIN_COEFFICIENTS

#: IndRNN's recurrences by name: whether act is relu (else tanh).
INDRNN_RELU = {"indrnn_relu": True, "indrnn_tanh": False}


def element_wise_recurrence(
    name: str,
    x: Tensor,
    weight_ih: Tensor,
    bias_ih: Tensor | None,
    weight_hh: Tensor | None,
    h0: Tensor,
    lengths: list[int] | Tensor | None = None,
    zoneout: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run the recurrence ``name`` over x (T, B, I) from h0 (B, H).

    ``weight_ih`` (G, I), ``bias_ih`` (G,): the input projection (G = H for IndRNN, 2H or
    3H for minGRU or minLSTM); ``weight_hh`` (H,): IndRNN's u, None for the min cells;
    ``lengths`` sorted in decreasing order, each in [1, T]; ``zoneout`` (T, B, H) of 0/1
    or the 0-d rate; ``recurrent_mask`` (B, H) (IndRNN only).
    Returns h (T, B, H), zero past each sequence's end, and each sequence's final state.
    """
    if lengths is not None:
        lengths = torch.as_tensor(lengths, dtype=torch.int64)
    projection = project(x, weight_ih, bias_ih)  # (T, B, G)
    if name in MIN_COEFFICIENTS:
        return min_scan(name, get_backend(), projection, h0, lengths, zoneout)
    if name in INDRNN_RELU:
        return indrnn_scan(
            get_backend(), projection, weight_hh, h0, lengths, INDRNN_RELU[name], zoneout,
            recurrent_mask,
        )  # fmt: skip
    raise ValueError(
        f"element-wise recurrence must be one of {sorted([*MIN_COEFFICIENTS, *INDRNN_RELU])}, "
        f"got {name!r}"
    )
