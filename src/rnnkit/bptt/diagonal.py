"""Explicit BPTT for cells whose recurrence is element-wise (no recurrent GEMM):

* ``indrnn_scan``:  h_t = act(pre_t + u * h_{t-1})                 (IndRNN)
* ``linear_scan``:  h_t = a_t * h_{t-1} + b_t, a_t, b_t > 0 given in log space
                    (minGRU, minLSTM: a_t and b_t depend on x_t only)
* ``fused_min_scan``: a whole minGRU or minLSTM layer from its input projection

Each is an autograd.Function with a hand-derived backward. The linear scan has a
closed form, h_t = A_t h_0 + sum_{k<=t} (A_t / A_k) b_k with A_t = prod_{j<=t} a_j, which
the PyTorch engine evaluates for all steps at once in log space (Heinsen 2023, as Feng
et al. 2024 do): a cumulative sum and a log-cumsum-exp, scans of O(log T) depth on a
parallel device. Its backward is the same kind of scan run from the end,
G_t = dL/dh_t + a_{t+1} G_{t+1}, evaluated the same way, split into its positive and
negative parts (log space needs positive terms). That is the engine for parallel
devices. The native engine instead runs IndRNN and the min cells as sequential passes
over time, vectorised over the batch and units, a min cell's gates computed in the same
pass: on a CPU with a few cores, B * H independent lanes are all the parallelism there
is, and a pass does O(T) work where the log-space scan does several times that.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.bptt import backend
from rnnkit.bptt.zoneout import zoneout_at


def linear_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """h (T, B, H) of h_t = exp(log_a_t) * h_{t-1} + exp(log_b_t) from h0 (B, H)."""
    return _LinearScan.apply(log_a, log_b, h0)


def indrnn_scan(
    pre: Tensor,
    u: Tensor,
    h0: Tensor,
    batch_sizes: list[int],
    relu: bool,
    zoneout: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """(h (T, B, H), final state (B, H)) of h_t = act(pre_t + u * (h_{t-1} * recurrent_mask)),
    then zoneout h_t = z_t * h_{t-1} + (1 - z_t) * h_t; only the first ``batch_sizes[t]``
    rows run at step t (a finished row keeps its state and reads 0 in h). ``zoneout`` is
    (T, B, H) or a 0-d tensor (its expectation, at inference)."""
    return _IndRNNScan.apply(pre, u, h0, batch_sizes, relu, zoneout, recurrent_mask)


def fused_min_scan(
    cell: str, projection: Tensor, h0: Tensor, batch_sizes: list[int], zoneout: Tensor | None
) -> Tensor | None:
    """A whole minGRU/minLSTM layer (``cell`` = "mingru" or "minlstm") from its input
    projection (T, B, 2H or 3H) in one native pass per direction -- gates, zoneout and
    the sequential scan -- or None where the native engine does not run (the caller then
    takes the log-space scan). -> (h (T, B, H), 0 past each sequence's end; final state).
    The final state is an output of its own, so its gradient costs no (T, B, H) tensor."""
    if not getattr(backend.diagonal_loops_for(projection), "fuses_min_cells", False):
        return None
    return _FusedMinScan.apply(cell, projection, h0, batch_sizes, zoneout)


class _FusedMinScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cell, projection, h0, batch_sizes, zoneout):
        ops = torch.ops.rnnkit
        h, final = ops.min_rnn_forward(cell, projection, h0, batch_sizes, zoneout)
        ctx.cell, ctx.batch_sizes = cell, batch_sizes
        ctx.save_for_backward(projection, h0, h, zoneout)
        return h, final

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h, grad_final):
        projection, h0, h, zoneout = ctx.saved_tensors
        d_projection, d_h0 = torch.ops.rnnkit.min_rnn_backward(
            ctx.cell, grad_h.contiguous(), grad_final, projection, h0, h, ctx.batch_sizes, zoneout
        )
        return None, d_projection, d_h0, None, None


def _reverse_logcumsumexp(v: Tensor) -> Tensor:
    return torch.logcumsumexp(v.flip(0), 0).flip(0)


class _LinearScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, log_a, log_b, h0):
        h = linear_scan_forward(log_a, log_b, h0)
        ctx.save_for_backward(log_a, log_b, h0, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h):
        log_a, log_b, h0, h = ctx.saved_tensors
        G = linear_scan_backward(log_a, grad_h.contiguous())
        h_prev = torch.cat((h0.unsqueeze(0), h[:-1]))
        a = log_a.exp()
        return G * a * h_prev, G * log_b.exp(), a[0] * G[0]


def linear_scan_forward(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """All steps at once: h_t = exp(S_t) h0 + exp(S_t + logcumsumexp(log_b - S)_t),
    S = cumsum(log_a)."""
    S = torch.cumsum(log_a, 0)
    return S.exp() * h0 + torch.exp(S + torch.logcumsumexp(log_b - S, 0))


def linear_scan_backward(log_a: Tensor, grad_h: Tensor) -> Tensor:
    """G_t = sum_{k>=t} exp(S_k - S_t) g_k for g = dL/dh, as two positive scans."""
    S = torch.cumsum(log_a, 0)

    def part(g: Tensor) -> Tensor:
        return torch.exp(_reverse_logcumsumexp(S + torch.log(g)) - S)

    return part(grad_h.clamp(min=0)) - part((-grad_h).clamp(min=0))


class _IndRNNScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, u, h0, batch_sizes, relu, zoneout, recurrent_mask):
        loops = backend.diagonal_loops_for(pre)
        h, act, final = loops.indrnn_forward(pre, u, h0, batch_sizes, relu, zoneout, recurrent_mask)
        ctx.loops, ctx.batch_sizes, ctx.relu = loops, batch_sizes, relu
        ctx.save_for_backward(u, h0, h, act, zoneout, recurrent_mask)
        return h, final

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h, grad_final):
        u, h0, h, act, zoneout, recurrent_mask = ctx.saved_tensors
        d_pre, d_h0 = ctx.loops.indrnn_backward(
            grad_h.contiguous(), grad_final, u, act, ctx.batch_sizes, ctx.relu, zoneout,
            recurrent_mask,
        )  # fmt: skip
        h_in = torch.cat((h0.unsqueeze(0), h[:-1]))
        if recurrent_mask is not None:
            h_in = h_in * recurrent_mask
        d_u = (d_pre * h_in).sum((0, 1))
        return d_pre, d_u, d_h0, None, None, None, None


def indrnn_forward(pre, u, h0, batch_sizes, relu, zoneout, recurrent_mask):
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


def indrnn_backward(grad_h, grad_final, u, act, batch_sizes, relu, zoneout, recurrent_mask):
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
        d = dh * (a > 0) if relu else dh * (1 - a * a)
        d_pre[t, :rows] = d
        d_prev = u * d
        if recurrent_mask is not None:
            d_prev = d_prev * recurrent_mask[:rows]
        carry[:rows] = d_prev if direct is None else d_prev + direct
    return d_pre, carry
