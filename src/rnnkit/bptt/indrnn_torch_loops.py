"""IndRNN's time loops in PyTorch (the native ones: ``rnnkit.bptt.native.diagonal_loops``),
run without autograd by the ops of ``rnnkit.bptt.indrnn_scan``::

    h_t = act(pre_t + u * (h_{t-1} * d)),  then zoneout h_t = z_t h_{t-1} + (1 - z_t) h_t

Only the first ``batch_sizes[t]`` rows (sequences sorted by length) run at step t: a
finished row keeps its state and reads 0 in h.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.bptt.zoneout import zoneout_at


def indrnn_forward(
    pre: Tensor,
    u: Tensor,
    h0: Tensor,
    batch_sizes: list[int],
    relu: bool,
    zoneout: Tensor | None,
    recurrent_mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """-> (h (T, B, H), act (T, B, H): act(...) before zoneout, for act'; final state)."""
    h, act, final = torch.zeros_like(pre), torch.zeros_like(pre), h0.clone()
    for t, rows in enumerate(batch_sizes):
        prev = h0[:rows] if t == 0 else h[t - 1, :rows]
        h_in = prev if recurrent_mask is None else prev * recurrent_mask[:rows]
        a = pre[t, :rows] + u * h_in
        a = torch.relu(a) if relu else torch.tanh(a)
        act[t, :rows] = a
        z = zoneout_at(zoneout, t, rows)
        h[t, :rows] = final[:rows] = a if z is None else a + z * (prev - a)
    return h, act, final


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
    """-> (dL/d pre (T, B, H), dL/dh0); a row's dL/d(final state) joins at its last step."""
    d_pre = torch.zeros_like(grad_h)
    carry = grad_final.clone()
    for t in reversed(range(len(batch_sizes))):
        rows = batch_sizes[t]
        dh = carry[:rows] + grad_h[t, :rows]
        z = zoneout_at(zoneout, t, rows)
        direct = None if z is None else z * dh
        if z is not None:
            dh = dh - direct
        a = act[t, :rows]
        d = dh.masked_fill(a <= 0, 0) if relu else dh * (1 - a * a)  # relu': as ElmanPointwise
        d_pre[t, :rows] = d
        d_prev = u * d
        if recurrent_mask is not None:
            d_prev = d_prev * recurrent_mask[:rows]
        carry[:rows] = d_prev if direct is None else d_prev + direct
    return d_pre, carry
