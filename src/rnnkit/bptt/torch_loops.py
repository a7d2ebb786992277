"""The time loops of the explicit-BPTT engine in plain PyTorch: any cell with a
``Pointwise``, any device, any dtype. About twenty eager ops per step, so at small sizes
Python's dispatch cost dominates; the native loops (``rnnkit.bptt.native``) remove it."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.bptt.gemm import linear, matmul
from rnnkit.bptt.weight_gradients import weight_gradients  # noqa: F401  (the loops' API)
from rnnkit.cells.base import CellWeights, Pointwise


def forward_loop(
    pointwise: Pointwise,
    x: Tensor,
    weights: CellWeights,
    state0: tuple[Tensor, ...],
    batch_sizes: list[int],
    keep: bool,
):
    """x (T, B, I) -> (state of every step [(T, B, size) per entry], pre-projection outputs
    or None, what ``backward_loop`` needs). Entry 0 of the states (h, after projection) is y."""
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    gates_x = linear(x, w_ih, b_ih)  # (T, B, G): all steps in one GEMM
    steps, batch, _ = gates_x.shape
    alloc = allocator(gates_x, batch_sizes)
    states = [alloc(steps, *s.shape) for s in state0]
    pre_projection = alloc(steps, batch, w_hr.shape[1]) if w_hr is not None else None
    saved: list[Tensor] = []
    for t, rows in enumerate(batch_sizes):
        prev = previous(state0, states, t, rows)
        gates_h = linear(prev[0], w_hh, b_hh)
        new, kept = pointwise.forward(gates_x[t, :rows], gates_h, prev)
        if keep:  # inference keeps nothing per step: a long stream costs only its outputs
            saved = keep_step(saved, kept, t, rows, alloc, steps, batch)
        if w_hr is not None:
            pre_projection[t, :rows] = new[0]
            new = (linear(new[0], w_hr), *new[1:])
        for buffer, value in zip(states, new, strict=True):
            buffer[t, :rows] = value
    return states, pre_projection if keep else None, saved


def backward_loop(
    pointwise: Pointwise,
    grad_y: Tensor,
    grad_final: tuple[Tensor, ...],
    state0: tuple[Tensor, ...],
    states: list[Tensor],
    saved: list,
    w_ih: Tensor | None,
    w_hh: Tensor,
    w_hr: Tensor | None,
    batch_sizes: list[int],
    keep_dh: bool,
):
    """-> (dL/dx or None, dL/d gates_x, dL/d gates_h (T, B, G), dL/dh of every step or None,
    dL/d state0); ``w_ih`` is given when dL/dx is wanted."""
    steps = grad_y.shape[0]
    carry, d_gates_x, d_gates_h, d_h_all = gradient_buffers(
        pointwise, grad_y, grad_final, w_hh.shape[0], batch_sizes, keep_dh
    )
    for t in reversed(range(steps)):
        rows = batch_sizes[t]
        prev = previous(state0, states, t, rows)
        d_h = carry[0][:rows] + grad_y[t, :rows]
        if d_h_all is not None:
            d_h_all[t, :rows] = d_h
        d_out = matmul(d_h, w_hr) if w_hr is not None else d_h
        grad = (d_out, *(c[:rows] for c in carry[1:]))
        d_gx, d_gh, d_prev, _ = pointwise.backward(grad, saved_at(saved, t, rows), prev)
        torch.cat(d_gx, dim=1, out=d_gates_x[t, :rows])
        if d_gates_h is not d_gates_x:
            torch.cat(d_gh, dim=1, out=d_gates_h[t, :rows])
        d_h_prev = matmul(d_gates_h[t, :rows], w_hh)
        if d_prev[0] is not None:
            d_h_prev += d_prev[0]
        carry[0][:rows] = d_h_prev
        for buffer, value in zip(carry[1:], d_prev[1:], strict=True):
            buffer[:rows] = 0 if value is None else value
    d_x = matmul(d_gates_x, w_ih) if w_ih is not None else None
    return d_x, d_gates_x, d_gates_h, d_h_all, carry


def keep_step(saved, kept, t, rows, alloc, steps, batch) -> list[Tensor]:
    """Write what step t keeps for backward into (T, B, ...) buffers, one per entry of
    ``kept``, made at step 0 (where every sequence runs): fixed shapes, which the engine's
    ops return as tensors."""
    if t == 0:
        saved = [alloc(steps, batch, *k.shape[1:]) for k in kept]
    for buffer, value in zip(saved, kept, strict=True):
        buffer[t, :rows] = value
    return saved


def saved_at(saved: list[Tensor], t: int, rows: int) -> tuple[Tensor, ...]:
    """What step t kept, for its first ``rows`` sequences."""
    return tuple(s[t, :rows] for s in saved)


def saved_like(pointwise, x, gates, state0, params, keep) -> list[Tensor]:
    """Empty tensors shaped as ``forward_loop``'s saved list (for the ops' fake kernels):
    one step of the pointwise math on empty (B, G) gates tells each entry's shape."""
    if not keep:
        return []
    gates_row = x.new_empty(x.shape[1], gates)
    _, kept = pointwise.forward(gates_row, gates_row, tuple(state0), params)
    return [x.new_empty(x.shape[0], *k.shape) for k in kept]


def gradient_buffers(pointwise, grad_y, grad_final, gates, batch_sizes, keep_dh):
    """What a backward loop fills: (the running dL/d(state_t) of every sequence, dL/d
    gates_x (T, B, G), dL/d gates_h (the same tensor unless the cell keeps it apart),
    dL/dh of every step or None). A finished sequence keeps dL/d(final state) in the
    running gradient until the loop reaches its last step."""
    steps, batch, _ = grad_y.shape
    alloc = allocator(grad_y, batch_sizes)
    d_gates_x = alloc(steps, batch, gates)
    d_gates_h = alloc(d_gates_x.shape) if pointwise.separate_recurrent_grad else d_gates_x
    d_h_all = alloc(grad_y.shape) if keep_dh else None
    return [g.clone() for g in grad_final], d_gates_x, d_gates_h, d_h_all


def prepare_step(pointwise: Pointwise, weights: CellWeights, params: tuple[Tensor, ...]) -> tuple:
    """Nothing to prepare: the step reads the weights as they are."""
    return weights, params


def step(pointwise: Pointwise, prepared: tuple, x: Tensor, state: tuple[Tensor, ...]) -> Tensor:
    """One step from x (B, I); ``state`` is updated in place; returns y (B, P)."""
    weights, params = prepared
    gates_x = pointwise.input_gates(x, weights.weight_ih, weights.bias_ih, params)
    gates_h = linear(state[0], weights.weight_hh, weights.bias_hh)
    new, _ = pointwise.forward(gates_x, gates_h, state, params)
    if weights.weight_hr is not None:
        new = (linear(new[0], weights.weight_hr), *new[1:])
    for buffer, value in zip(state, new, strict=True):
        buffer.copy_(value)
    return new[0].clone()


def allocator(like: Tensor, batch_sizes: list[int]):
    """Buffers are written in full when every sequence runs all T steps; otherwise
    the rows past a sequence's end must read as zero."""
    full = all(rows == like.shape[1] for rows in batch_sizes)
    return like.new_empty if full else like.new_zeros


def previous(state0, states, t: int, rows: int) -> tuple[Tensor, ...]:
    """State_{t-1} of the first ``rows`` sequences."""
    if t == 0:
        return tuple(s[:rows] for s in state0)
    return tuple(s[t - 1, :rows] for s in states)
