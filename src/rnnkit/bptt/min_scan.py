"""minGRU and minLSTM over a whole sequence, from their input projection (T, B, 2H or 3H):

    log a_t, log b_t = coefficients(projection_t)        the cell's own math
    a_t, b_t -> z_t + (1 - z_t) a_t, (1 - z_t) b_t        zoneout
    h_t = a_t * h_{t-1} + b_t

On the native engine (CPU) all of it is one fused pass per direction (csrc/diagonal.cpp),
in float32 for autocast's bfloat16, behind the ops ``rnnkit::min_scan_forward`` and
``rnnkit::min_scan_backward`` (see ``op_rules``). On the PyTorch engine the coefficients
are formed under autograd and the recurrence runs as the log-space scan of
``rnnkit.bptt.linear_scan``. A finished sequence keeps its state: a = 1, b = 0 past its
end.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from rnnkit.bptt import native
from rnnkit.bptt.linear_scan import linear_scan, linear_unroll
from rnnkit.bptt.native import diagonal_loops
from rnnkit.bptt.op_rules import (
    add_rules,
    differentiate,
    empty_unless,
    engine_op,
    grads_in_input_dtypes,
    in_dtype,
    running_batch_sizes,
    with_graph_if_asked,
)
from rnnkit.cells.min_rnn import MIN_COEFFICIENTS, with_zoneout


def min_scan(
    cell: str,
    backend: str,
    projection: Tensor,
    h0: Tensor,
    lengths: Tensor | None,
    zoneout: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """The min cell ``cell`` ("mingru" or "minlstm") over its projection (T, B, blocks * H)
    from h0 (B, H) -> (h (T, B, H), 0 past each sequence's end; final state (B, H)).
    ``lengths`` (B,) int64 sorted in decreasing order or None; ``zoneout`` (T, B, H) of 0/1
    or the 0-d rate."""
    if backend == "native" and native.available() and projection.is_cpu:
        tensors = (projection, h0)
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            h, final = _FusedMinScan.apply(cell, lengths, zoneout, *tensors)
        else:  # no gradient: the op alone, without autograd.Function's cost per call
            h, final = min_scan_forward(cell, projection, h0, lengths, zoneout)
        return h, final
    log_a, log_b, running = log_coefficients(cell, projection, zoneout, lengths)
    h = linear_scan(log_a, log_b, h0)
    if running is None:
        return h, h[-1]
    return h * running, h[-1]  # past its end a row keeps its state: h[-1] is its last


def log_coefficients(
    cell: str, projection: Tensor, zoneout: Tensor | None, lengths: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """(log a, log b) of every step (T, B, H), zoneout included, under autograd, and where
    ``lengths`` are given which steps run, (T, B, 1) (past its end a = 1, b = 0)."""
    log_a, log_b = with_zoneout(*MIN_COEFFICIENTS[cell](projection), zoneout)
    if lengths is None:
        return log_a, log_b, None
    steps = torch.arange(projection.shape[0], device=projection.device).unsqueeze(1)  # (T, 1)
    running = (steps < lengths.to(projection.device)).unsqueeze(-1)  # (T, B, 1)
    log_a = torch.where(running, log_a, 0.0)
    log_b = torch.where(running, log_b, float("-inf"))
    return log_a, log_b, running


def _in_native_dtype(tensors: list[Tensor | None]) -> list[Tensor | None]:
    """The native pass runs float32 and float64: anything else (autocast's bfloat16)
    runs in float32, as the PyTorch engine's log-space scan does, and returns to its
    dtype afterwards."""
    native_dtype = torch.float64 if tensors[0].dtype == torch.float64 else torch.float32
    return in_dtype(tensors, native_dtype)


@engine_op("min_scan_forward")
def min_scan_forward(
    cell: str, projection: Tensor, h0: Tensor, lengths: Tensor | None, zoneout: Tensor | None
) -> list[Tensor]:
    """-> [h (T, B, H), 0 past each sequence's end; final state (B, H)], in the
    projection's dtype."""
    steps, batch, _ = projection.shape
    dtype = projection.dtype
    projection, h0, zoneout = _in_native_dtype([projection, h0, zoneout])
    h, final = diagonal_loops.min_forward(
        cell, projection, h0, running_batch_sizes(lengths, steps, batch), zoneout
    )
    return [h.to(dtype), final.to(dtype)]


@torch.library.register_fake(min_scan_forward)
def _(cell, projection, h0, lengths, zoneout):
    steps, batch, _ = projection.shape
    return [projection.new_empty(steps, batch, h0.shape[1]), projection.new_empty(h0.shape)]


@engine_op("min_scan_backward")
def min_scan_backward(
    cell: str,
    grad_h: Tensor,
    grad_final: Tensor,
    projection: Tensor,
    h0: Tensor,
    h: Tensor,
    lengths: Tensor | None,
    zoneout: Tensor | None,
    needs: list[bool],
) -> list[Tensor]:
    """``h``: what ``min_scan_forward`` returned; ``needs``: which of (projection, h0) want
    a gradient. -> [dL/d projection, dL/dh0], an empty tensor for each one not wanted."""
    steps, batch, _ = projection.shape
    like = projection
    grad_h, grad_final, projection, h0, h, zoneout = _in_native_dtype(
        [grad_h, grad_final, projection, h0, h, zoneout]
    )
    d_projection, d_h0 = diagonal_loops.min_backward(
        cell, grad_h.contiguous(), grad_final, projection, h0, h,
        running_batch_sizes(lengths, steps, batch), zoneout,
    )  # fmt: skip
    values = [d_projection, d_h0]
    return [empty_unless(w, v.to(like.dtype), like) for w, v in zip(needs, values, strict=True)]


@torch.library.register_fake(min_scan_backward)
def _(cell, grad_h, grad_final, projection, h0, h, lengths, zoneout, needs):
    shapes = [projection.shape, h0.shape]
    return [projection.new_empty(s if w else 0) for w, s in zip(needs, shapes, strict=True)]


add_rules(min_scan_forward)
add_rules(min_scan_backward)


class _FusedMinScan(torch.autograd.Function):
    """Autograd of the two ops; asked for a graph of the gradient, the gradient of the
    cell's coefficients and ``linear_unroll`` instead (see ``op_rules.with_graph_if_asked``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(cell, lengths, zoneout, projection, h0):
        return tuple(min_scan_forward(cell, projection, h0, lengths, zoneout))

    @staticmethod
    def setup_context(ctx, inputs, output):
        cell, lengths, zoneout, projection, h0 = inputs
        ctx.cell = cell
        ctx.save_for_backward(lengths, zoneout, output[0], projection, h0)

    @staticmethod
    def backward(ctx, grad_h, grad_final):
        lengths, zoneout, h, *inputs = ctx.saved_tensors
        needs = list(ctx.needs_input_grad[3:])
        grads = with_graph_if_asked(
            partial(_first_order, ctx.cell, needs),
            partial(_unrolled_gradients, ctx.cell, needs),
            needs,
            (lengths, zoneout, h),
            (grad_h, grad_final, *inputs),
        )
        return (None,) * 3 + grads


def _first_order(cell, needs, constants, tensors) -> tuple:
    """dL/d (projection, h0) from ``min_scan_backward``, None where not needed.
    ``constants`` = (lengths, zoneout, h), ``tensors`` = (dL/dh, dL/d final state,
    projection, h0)."""
    lengths, zoneout, h = constants
    grad_h, grad_final, projection, h0, zoneout = in_dtype([*tensors, zoneout], h.dtype)
    grads = min_scan_backward(cell, grad_h, grad_final, projection, h0, h, lengths, zoneout, needs)
    return grads_in_input_dtypes(grads, tensors[2:], needs)


def _unrolled_gradients(cell, needs, constants, tensors) -> tuple:
    """The same gradients through the coefficients and ``linear_unroll`` under autograd
    with ``create_graph``: a graph of them, to differentiate again."""
    lengths, zoneout = constants[:2]
    grad_h, grad_final, projection, h0 = tensors
    log_a, log_b, running = log_coefficients(cell, projection, zoneout, lengths)
    h = linear_unroll(log_a, log_b, h0)
    y = h if running is None else h * running
    return differentiate((y, [h[-1]]), (projection, h0), needs, grad_h, [grad_final])
