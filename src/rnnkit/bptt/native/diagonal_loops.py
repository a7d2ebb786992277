"""The native loops of the element-wise recurrences (csrc/diagonal.cpp), behind the same
calls as ``rnnkit.bptt.diagonal``'s PyTorch ones."""

from __future__ import annotations

import torch
from torch import Tensor

ops = torch.ops.rnnkit


def supports(x: Tensor) -> bool:
    return x.is_cpu and x.dtype in (torch.float32, torch.float64)


def linear_scan_forward(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    return ops.linear_scan_forward(log_a, log_b, h0)


def linear_scan_backward(log_a: Tensor, grad_h: Tensor) -> Tensor:
    return ops.linear_scan_backward(log_a, grad_h)


def indrnn_forward(pre, u, h0, batch_sizes, relu, zoneout, recurrent_mask):
    return ops.indrnn_forward(pre, u, h0, batch_sizes, relu, zoneout, recurrent_mask)


def indrnn_backward(grad_h, u, act, batch_sizes, relu, zoneout, recurrent_mask):
    return ops.indrnn_backward(grad_h, u, act, batch_sizes, relu, zoneout, recurrent_mask)
