"""The native loops of the element-wise recurrences (csrc/diagonal.cpp), behind the same
calls as the PyTorch ones (``rnnkit.bptt.indrnn_torch_loops``), plus the fused minGRU /
minLSTM pass, which has no PyTorch twin: on the PyTorch engine the min cells' gates are
formed under autograd and their recurrence runs as a log-space scan
(``rnnkit.bptt.linear_scan``). ``batch_sizes[t]``: how many sequences (the first rows,
sorted by length) still run at step t."""

from __future__ import annotations

import torch
from torch import Tensor

ops = torch.ops.rnnkit


def supports(x: Tensor) -> bool:
    return x.is_cpu and x.dtype in (torch.float32, torch.float64)


def indrnn_forward(
    pre: Tensor,
    u: Tensor,
    h0: Tensor,
    batch_sizes: list[int],
    relu: bool,
    zoneout: Tensor | None,
    recurrent_mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """-> (h (T, B, H), act (T, B, H) before zoneout, final state (B, H))."""
    return ops.indrnn_forward(pre, u, h0, batch_sizes, relu, zoneout, recurrent_mask)


def indrnn_backward(
    grad_h: Tensor,
    grad_final: Tensor,
    u: Tensor,
    act: Tensor,
    batch_sizes: list[int],
    relu: bool,
    zoneout: Tensor | None,
    recurrent_mask: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """-> (dL/d pre (T, B, H), dL/dh0 (B, H))."""
    return ops.indrnn_backward(
        grad_h, grad_final, u, act, batch_sizes, relu, zoneout, recurrent_mask
    )


def min_forward(
    cell: str, projection: Tensor, h0: Tensor, batch_sizes: list[int], zoneout: Tensor | None
) -> tuple[Tensor, Tensor]:
    """A whole minGRU / minLSTM layer (``cell`` = "mingru" or "minlstm") from its input
    projection (T, B, 2H or 3H): gates, zoneout and the scan in one pass.
    -> (h (T, B, H), 0 past each sequence's end; final state (B, H))."""
    return ops.min_rnn_forward(cell, projection, h0, batch_sizes, zoneout)


def min_backward(
    cell: str,
    grad_h: Tensor,
    grad_final: Tensor,
    projection: Tensor,
    h0: Tensor,
    h: Tensor,
    batch_sizes: list[int],
    zoneout: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """-> (dL/d projection, dL/dh0), ``h`` being ``min_forward``'s."""
    return ops.min_rnn_backward(cell, grad_h, grad_final, projection, h0, h, batch_sizes, zoneout)
