"""Explicit backpropagation through time for any cell with a ``Pointwise``.

Forward, for a batch sorted by length (longest first), time-major::

    gates_x = x @ W_ih.T + b_ih                          (T, B, G)  one GEMM
    for t in 0..T-1, on the b_t sequences still running:
        gates_h = h_{t-1} @ W_hh.T + b_hh                (b_t, G)   one GEMM
        state_t = pointwise(gates_x[t], gates_h, state_{t-1})
        h_t = m_t @ W_hr.T                               (LSTM projection only)

Backward runs the same loop in reverse with one GEMM per step,
``dL/dh_{t-1} = dL/d gates_h_t @ W_hh + (pointwise part)``, and keeps dL/d gates for
every step so that dL/dx, dL/dW_ih, dL/dW_hh, dL/dW_hr and the biases are single GEMMs
(or sums) over all T * B rows once the loop is done, as cuDNN does.

Variable lengths: since the batch is sorted, the sequences still running at step t are
the first b_t rows, and a finished row is simply not touched again: its outputs stay 0,
its final state is read at its own last step, and in backward its running gradient holds
dL/d(final state) untouched until the loop reaches that step.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.bptt.gemm import contract_rows, linear, matmul
from rnnkit.bptt.gradient_flow import new_record, step_norms
from rnnkit.cells.base import CellWeights, Pointwise


def explicit_bptt(
    pointwise: Pointwise,
    weights: CellWeights,
    x: Tensor,
    state0: tuple[Tensor, ...],
    lengths: list[int] | None = None,
    name: str = "recurrent",
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run a cell over ``x`` (T, B, I) from ``state0`` (tuple of (B, size)).

    ``lengths``, if given, must be sorted in decreasing order, each in [1, T].
    Returns y (T, B, P), zero past each sequence's end, and each sequence's final state.
    """
    record = new_record(name)
    y, *state = _ExplicitBPTT.apply(pointwise, lengths, record, x, *weights, *state0)
    return y, tuple(state)


def _batch_sizes(lengths: list[int] | None, steps: int, batch: int) -> list[int]:
    """b_t: how many sequences are still running at step t."""
    if lengths is None:
        return [batch] * steps
    counts = torch.as_tensor(lengths).unsqueeze(0) > torch.arange(steps).unsqueeze(1)
    return counts.sum(1).tolist()


class _ExplicitBPTT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pointwise, lengths, record, x, w_ih, w_hh, b_ih, b_hh, w_hr, *state0):
        steps, batch, _ = x.shape
        batch_sizes = _batch_sizes(lengths, steps, batch)
        gates_x = linear(x, w_ih, b_ih)  # (T, B, G)
        # Every state entry of every step, zero where a sequence has ended.
        # Entry 0 (h, after projection) is also the output y.
        alloc = _allocator(x, lengths)
        states = [alloc(steps, *s.shape) for s in state0]
        pre_projection = alloc(steps, batch, w_hr.shape[1]) if w_hr is not None else None
        # Inference keeps nothing per step: a long stream costs only its outputs.
        keeping, saved = any(ctx.needs_input_grad), []
        for t, rows in enumerate(batch_sizes):
            prev = _previous(state0, states, t, rows)
            gates_h = linear(prev[0], w_hh, b_hh)
            new, keep = pointwise.forward(gates_x[t, :rows], gates_h, prev)
            if keeping:
                saved.append(keep)
            if w_hr is not None:
                pre_projection[t, :rows] = new[0]
                new = (linear(new[0], w_hr), *new[1:])
            for buffer, value in zip(states, new, strict=True):
                buffer[t, :rows] = value

        if lengths is None:
            final = [s[-1].clone() for s in states]
        else:
            last = torch.as_tensor(lengths, device=x.device) - 1
            every = torch.arange(batch, device=x.device)
            final = [s[last, every] for s in states]

        ctx.pointwise, ctx.lengths, ctx.batch_sizes = pointwise, lengths, batch_sizes
        ctx.record = record
        ctx.steps_saved, ctx.extra_states = saved, states[1:]
        ctx.pre_projection = pre_projection
        # y goes through save_for_backward so that changing it in place is caught.
        ctx.save_for_backward(x, w_ih, w_hh, w_hr, states[0], *state0)
        ctx.has_bias = b_ih is not None
        return (states[0], *final)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, *grad_final):
        x, w_ih, w_hh, w_hr, y, *state0 = ctx.saved_tensors
        pointwise, batch_sizes = ctx.pointwise, ctx.batch_sizes
        states = [y, *ctx.extra_states]
        steps = x.shape[0]
        gates = w_ih.shape[0]
        # Running dL/d(state_t) for every sequence; a finished sequence keeps
        # dL/d(final state) here until the backward loop reaches its last step.
        carry = [g.clone() for g in grad_final]
        alloc = _allocator(x, ctx.lengths)
        d_gates_x = alloc(steps, x.shape[1], gates)
        d_gates_h = alloc(d_gates_x.shape) if pointwise.separate_recurrent_grad else d_gates_x
        keep_dh = w_hr is not None or ctx.record is not None
        d_h_all = alloc(states[0].shape) if keep_dh else None

        for t in reversed(range(steps)):
            rows = batch_sizes[t]
            prev = _previous(state0, states, t, rows)
            d_h = carry[0][:rows] + grad_y[t, :rows]
            if d_h_all is not None:
                d_h_all[t, :rows] = d_h
            d_out = matmul(d_h, w_hr) if w_hr is not None else d_h
            grad = (d_out, *(c[:rows] for c in carry[1:]))
            d_gx, d_gh, d_prev = pointwise.backward(grad, ctx.steps_saved[t], prev)
            torch.cat(d_gx, dim=1, out=d_gates_x[t, :rows])
            if d_gates_h is not d_gates_x:
                torch.cat(d_gh, dim=1, out=d_gates_h[t, :rows])
            d_h_prev = matmul(d_gates_h[t, :rows], w_hh)
            if d_prev[0] is not None:
                d_h_prev += d_prev[0]
            carry[0][:rows] = d_h_prev
            for buffer, value in zip(carry[1:], d_prev[1:], strict=True):
                buffer[:rows] = 0 if value is None else value

        if ctx.record is not None:
            ctx.record.norms = step_norms(d_h_all)
        grads = _weight_gradients(
            ctx, x, y, w_ih, w_hh, w_hr, state0[0], d_gates_x, d_gates_h, d_h_all
        )
        return (None, None, None, *grads, *carry)


def _allocator(x: Tensor, lengths: list[int] | None):
    """Buffers are written in full when every sequence runs all T steps; otherwise
    the rows past a sequence's end must read as zero."""
    return x.new_empty if lengths is None else x.new_zeros


def _previous(state0, states, t: int, rows: int) -> tuple[Tensor, ...]:
    """State_{t-1} of the first ``rows`` sequences."""
    if t == 0:
        return tuple(s[:rows] for s in state0)
    return tuple(s[t - 1, :rows] for s in states)


def _weight_gradients(ctx, x, y, w_ih, w_hh, w_hr, h0, d_gates_x, d_gates_h, d_h_all):
    """dL/dx and every weight gradient as one GEMM over all T * B rows each."""
    need = (
        ctx.needs_input_grad
    )  # (pointwise, lengths, record, x, w_ih, w_hh, b_ih, b_hh, w_hr, ...)
    flat_dgx = d_gates_x.flatten(0, 1)  # (T*B, G)
    d_x = matmul(d_gates_x, w_ih) if need[3] else None
    d_w_ih = contract_rows(flat_dgx, x.flatten(0, 1)) if need[4] else None
    d_w_hh = None
    if need[5]:
        # h_{t-1} is h0 for t = 0 and y_{t-1} after that.
        h_prev = y[:-1].flatten(0, 1)
        d_w_hh = d_gates_h[0].T @ h0 + contract_rows(d_gates_h[1:].flatten(0, 1), h_prev)
    d_b_ih = d_gates_x.sum((0, 1)) if ctx.has_bias and need[6] else None
    d_b_hh = d_gates_h.sum((0, 1)) if ctx.has_bias and need[7] else None
    d_w_hr = None
    if w_hr is not None and need[8]:
        d_w_hr = contract_rows(d_h_all.flatten(0, 1), ctx.pre_projection.flatten(0, 1))
    return d_x, d_w_ih, d_w_hh, d_b_ih, d_b_hh, d_w_hr
