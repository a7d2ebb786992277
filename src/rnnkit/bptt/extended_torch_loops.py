"""The loops of the extended explicit-BPTT engine (``extended.py``) in plain PyTorch: any
pointwise part, any device, any dtype."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.bptt.gemm import linear, matmul
from rnnkit.bptt.torch_loops import (  # noqa: F401  (saved_like: the loops' API)
    allocator,
    gradient_buffers,
    keep_step,
    previous,
    saved_at,
    saved_like,
)
from rnnkit.bptt.weight_gradients import weight_gradients  # noqa: F401  (the loops' API)
from rnnkit.bptt.zoneout import zoneout_at


def forward_loop(pointwise, x, weights, params, state0, batch_sizes, zoneout, recurrent_mask, keep):
    """weights = (w_ih or None, b_ih, w_hh, b_hh) -> (state of every step [(T, B, size) per
    entry], what ``backward_loop`` needs)."""
    w_ih, b_ih, w_hh, b_hh = weights
    gates_x = x if w_ih is None else linear(x, w_ih, b_ih)  # all steps in one GEMM
    steps, batch = gates_x.shape[:2]
    alloc = allocator(gates_x, batch_sizes)
    states = [alloc(steps, *s.shape) for s in state0]
    saved: list[Tensor] = []
    zoned = pointwise.zoneout_states
    for t, rows in enumerate(batch_sizes):
        prev = previous(state0, states, t, rows)
        h_in = prev[0] if recurrent_mask is None else prev[0] * recurrent_mask[:rows]
        new, kept = pointwise.forward(gates_x[t, :rows], linear(h_in, w_hh, b_hh), prev, params)
        if keep:
            saved = keep_step(saved, kept, t, rows, alloc, steps, batch)
        z = zoneout_at(zoneout, t, rows)
        if z is not None:
            new = (
                tuple(n + z * (p - n) for n, p in zip(new[:zoned], prev, strict=False))
                + new[zoned:]
            )
        for buffer, value in zip(states, new, strict=True):
            buffer[t, :rows] = value
    return states, saved


def backward_loop(
    pointwise, grad_y, grad_final, state0, states, saved, w_ih, w_hh, params, batch_sizes,
    zoneout, recurrent_mask, keep_dh,
):  # fmt: skip
    """-> (dL/dx or None, dL/d gates_x, dL/d gates_h (T, B, G), dL/d params (None where
    the loop adds nothing), dL/dh of every step or None, dL/d state0); ``w_ih`` is given
    when dL/dx is wanted."""
    steps = grad_y.shape[0]
    carry, d_gates_x, d_gates_h, d_h_all = gradient_buffers(
        pointwise, grad_y, grad_final, w_hh.shape[0], batch_sizes, keep_dh
    )
    d_params: list[Tensor | None] = [None] * len(params)
    zoned = pointwise.zoneout_states
    for t in reversed(range(steps)):
        rows = batch_sizes[t]
        prev = previous(state0, states, t, rows)
        grad = [carry[0][:rows] + grad_y[t, :rows], *(c[:rows] for c in carry[1:])]
        if d_h_all is not None:
            d_h_all[t, :rows] = grad[0]
        z = zoneout_at(zoneout, t, rows)
        direct = [None] * len(grad)
        if z is not None:
            direct[:zoned] = [z * g for g in grad[:zoned]]
            grad[:zoned] = [g - d for g, d in zip(grad[:zoned], direct[:zoned], strict=True)]
        d_gx, d_gh, d_prev, d_p = pointwise.backward(
            tuple(grad), saved_at(saved, t, rows), prev, params
        )
        torch.cat(d_gx, dim=1, out=d_gates_x[t, :rows])
        if d_gates_h is not d_gates_x:
            torch.cat(d_gh, dim=1, out=d_gates_h[t, :rows])
        d_h_prev = matmul(d_gates_h[t, :rows], w_hh)
        if recurrent_mask is not None:
            d_h_prev = d_h_prev * recurrent_mask[:rows]
        d_prev = (d_h_prev if d_prev[0] is None else d_h_prev + d_prev[0], *d_prev[1:])
        for k, value in enumerate(d_prev):
            if direct[k] is not None:
                value = direct[k] if value is None else value + direct[k]
            carry[k][:rows] = 0 if value is None else value
        for k, d in enumerate(d_p):
            if d is not None:
                d_params[k] = d if d_params[k] is None else d_params[k] + d
    d_x = matmul(d_gates_x, w_ih) if w_ih is not None else None
    return d_x, d_gates_x, d_gates_h, d_params, d_h_all, carry
