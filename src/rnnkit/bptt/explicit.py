"""Explicit backpropagation through time for any cell with a ``Pointwise``.

Forward, for a batch sorted by length (longest first), time-major::

    gates_x = x @ W_ih.T + b_ih                          (T, B, G)  large GEMMs
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

The loops themselves run natively (``rnnkit.bptt.native``) or in PyTorch
(``rnnkit.bptt.torch_loops``), as ``rnnkit.bptt.backend`` decides, each with the input
projection and dL/dx (the native loops form both a chunk of steps at a time, never the
whole (T, B, G) projection at once) and its own ``weight_gradients``; this file holds
the autograd.Function that ties them together.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.bptt.backend import loops_for
from rnnkit.bptt.gradient_flow import new_record, step_norms
from rnnkit.bptt.saving import load, save
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
    First-order gradients only (no double backward).
    """
    record = new_record(name)
    tensors = (x, *weights, *state0)
    # Inference keeps nothing per step, so a long stream costs only its outputs.
    keep = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    y, *state = _ExplicitBPTT.apply(pointwise, lengths, record, keep, *tensors)
    return y, tuple(state)


def running_batch_sizes(lengths: list[int] | None, steps: int, batch: int) -> list[int]:
    """b_t: how many sequences are still running at step t."""
    if lengths is None:
        return [batch] * steps
    counts = torch.as_tensor(lengths).unsqueeze(0) > torch.arange(steps).unsqueeze(1)
    return counts.sum(1).tolist()


class _ExplicitBPTT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pointwise, lengths, record, keep, x, w_ih, w_hh, b_ih, b_hh, w_hr, *state0):
        steps, batch, _ = x.shape
        batch_sizes = running_batch_sizes(lengths, steps, batch)
        loops = loops_for(pointwise, x)
        states, pre_projection, saved = loops.forward_loop(
            pointwise, x, (w_ih, w_hh, b_ih, b_hh, w_hr), state0, batch_sizes, keep
        )
        if lengths is None:
            final = [s[-1].clone() for s in states]
        else:
            last = torch.as_tensor(lengths, device=x.device) - 1
            every = torch.arange(batch, device=x.device)
            final = [s[last, every] for s in states]

        ctx.pointwise, ctx.loops, ctx.record = pointwise, loops, record
        ctx.batch_sizes = batch_sizes
        save(ctx, (x, w_ih, w_hh, w_hr, states[0], *state0), (saved, states[1:], pre_projection))
        ctx.has_bias = b_ih is not None
        return (states[0], *final)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, *grad_final):
        (x, w_ih, w_hh, w_hr, y, *state0), (saved, extra_states, pre_projection) = load(ctx)
        keep_dh = w_hr is not None or ctx.record is not None
        # apply's arguments: pointwise, lengths, record, keep, x, w_ih, w_hh, b_ih, b_hh, w_hr, ...
        need_x, *needs = ctx.needs_input_grad[4:10]
        d_x, d_gates_x, d_gates_h, d_h_all, grad_state0 = ctx.loops.backward_loop(
            ctx.pointwise, grad_y, grad_final, tuple(state0), [y, *extra_states], saved,
            w_ih if need_x else None, w_hh, w_hr, ctx.batch_sizes, keep_dh,
        )  # fmt: skip
        if ctx.record is not None:
            ctx.record.norms = step_norms(d_h_all)
        grads = ctx.loops.weight_gradients(
            needs, x, y, (w_ih, w_hh, w_hr), state0[0], d_gates_x, d_gates_h, d_h_all,
            pre_projection, ctx.has_bias,
        )  # fmt: skip
        return (None, None, None, None, d_x, *grads, *grad_state0)
