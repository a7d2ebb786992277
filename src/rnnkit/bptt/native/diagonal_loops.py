"""The native loops of the element-wise recurrences (csrc/diagonal.cpp), behind the same
calls as ``rnnkit.bptt.diagonal``'s PyTorch ones. The min cells' linear scan has no
native twin: natively they run whole (``fuses_min_cells``)."""

from __future__ import annotations

import torch
from torch import Tensor

ops = torch.ops.rnnkit
#: minGRU and minLSTM run whole, gates included (``rnnkit.bptt.diagonal.fused_min_scan``).
fuses_min_cells = True


def supports(x: Tensor) -> bool:
    return x.is_cpu and x.dtype in (torch.float32, torch.float64)


def indrnn_forward(pre, u, h0, batch_sizes, relu, zoneout, recurrent_mask):
    return ops.indrnn_forward(pre, u, h0, batch_sizes, relu, zoneout, recurrent_mask)


def indrnn_backward(grad_h, grad_final, u, act, batch_sizes, relu, zoneout, recurrent_mask):
    return ops.indrnn_backward(
        grad_h, grad_final, u, act, batch_sizes, relu, zoneout, recurrent_mask
    )
