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
whole (T, B, G) projection at once) and its own ``weight_gradients``. This file holds the
two ops that call them, ``rnnkit::bptt_forward`` and ``rnnkit::bptt_backward`` (see
``op_rules`` for what every op has), and the autograd.Function that ties them together.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from rnnkit.bptt.backend import get_backend, loops_for
from rnnkit.bptt.gradient_flow import new_record, step_norms
from rnnkit.bptt.op_rules import (
    add_rules,
    apply_function,
    differentiate,
    empty_unless,
    engine_op,
    final_states,
    forward_outputs_like,
    grads_in_input_dtypes,
    in_dtype,
    running_batch_sizes,
    with_eager_twin,
    with_graph_if_asked,
)
from rnnkit.bptt.unroll import pointwise_unroll
from rnnkit.cells.base import CellWeights, Pointwise
from rnnkit.cells.registry import pointwise_named


def explicit_bptt(
    pointwise: Pointwise,
    weights: CellWeights,
    x: Tensor,
    state0: tuple[Tensor, ...],
    lengths: list[int] | Tensor | None = None,
    name: str = "recurrent",
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run a cell over ``x`` (T, B, I) from ``state0`` (tuple of (B, size)).

    ``lengths``, if given, must be sorted in decreasing order, each in [1, T].
    Returns y (T, B, P), zero past each sequence's end, and each sequence's final state.
    """
    if lengths is not None:
        lengths = torch.as_tensor(lengths, dtype=torch.int64)
    tensors = (x, *weights, *state0)
    # Inference keeps nothing per step, so a long stream costs only its outputs.
    keep = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    if keep:
        y, *rest = apply_function(
            _ExplicitBPTT, pointwise.name, get_backend(), lengths, new_record(name), keep, *tensors
        )
    else:  # no gradient: the op alone, without autograd.Function's cost per call
        y, *rest = bptt_forward(
            pointwise.name, get_backend(), x, *weights, list(state0), lengths, keep
        )
    return y, tuple(rest[: len(state0)])  # the rest is for backward


@engine_op("bptt_forward")
def bptt_forward(
    cell: str,
    backend: str,
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    w_hr: Tensor | None,
    state0: list[Tensor],
    lengths: Tensor | None,
    keep: bool,
) -> list[Tensor]:
    """-> [y (T, B, P), final state (B, size) per entry, the other states of every step
    (T, B, size), with ``keep``: the pre-projection outputs (with ``w_hr``) and what the
    loops keep for backward]."""
    pointwise = pointwise_named(cell)
    loops = loops_for(pointwise, x, backend)
    steps, batch, _ = x.shape
    with torch.no_grad():
        states, pre_projection, saved = loops.forward_loop(
            pointwise, x, (w_ih, w_hh, b_ih, b_hh, w_hr), tuple(state0),
            running_batch_sizes(lengths, steps, batch), keep,
        )  # fmt: skip
    pre = [pre_projection] if keep and w_hr is not None else []
    return [states[0], *final_states(states, lengths), *states[1:], *pre, *saved]


@torch.library.register_fake(bptt_forward)
def _(cell, backend, x, w_ih, w_hh, b_ih, b_hh, w_hr, state0, lengths, keep):
    pointwise = pointwise_named(cell)
    steps, batch, _ = x.shape
    pre = [x.new_empty(steps, batch, w_hr.shape[1])] if keep and w_hr is not None else []
    saved = loops_for(pointwise, x, backend).saved_like(
        pointwise, x, w_hh.shape[0], state0, (), keep
    )
    return forward_outputs_like(x, w_hh.shape[1], state0, [*pre, *saved])


@engine_op("bptt_backward")
def bptt_backward(
    cell: str,
    backend: str,
    grad_y: Tensor,
    grad_final: list[Tensor],
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    w_hr: Tensor | None,
    state0: list[Tensor],
    y: Tensor,
    extras: list[Tensor],
    lengths: Tensor | None,
    needs: list[bool],
    keep_dh: bool,
) -> list[Tensor]:
    """``extras``: what ``bptt_forward`` returned after the final state; ``needs``: which
    of (x, w_ih, w_hh, b_ih, b_hh, w_hr, *state0) want a gradient. -> [dL/dx, dL/dW_ih,
    dL/dW_hh, dL/db_ih, dL/db_hh, dL/dW_hr, dL/d state0 per entry, dL/dh of every step
    (with ``keep_dh``)], an empty tensor for each one not wanted."""
    pointwise = pointwise_named(cell)
    loops = loops_for(pointwise, x, backend)
    steps, batch, _ = x.shape
    more_states = len(state0) - 1
    states = [y, *extras[:more_states]]
    pre_projection = extras[more_states] if w_hr is not None else None
    saved = extras[more_states + (w_hr is not None) :]
    keep_dh = keep_dh or w_hr is not None  # the projection's gradient needs dL/dh
    with torch.no_grad():
        d_x, d_gates_x, d_gates_h, d_h_all, grad_state0 = loops.backward_loop(
            pointwise, grad_y.contiguous(), tuple(grad_final), tuple(state0), states, saved,
            w_ih if needs[0] else None, w_hh, w_hr, running_batch_sizes(lengths, steps, batch),
            keep_dh,
        )  # fmt: skip
        weight_grads = loops.weight_gradients(
            tuple(needs[1:6]), x, y, (w_ih, w_hh, w_hr), state0[0], d_gates_x, d_gates_h,
            d_h_all, pre_projection, needs[3] or needs[4],
        )  # fmt: skip
    values = [d_x, *weight_grads, *grad_state0, d_h_all]
    return [empty_unless(w, v, x) for w, v in zip([*needs, keep_dh], values, strict=True)]


@torch.library.register_fake(bptt_backward)
def _(cell, backend, grad_y, grad_final, x, w_ih, w_hh, w_hr, state0, y, extras, lengths,
      needs, keep_dh):  # fmt: skip
    bias = w_hh.new_empty(w_hh.shape[0])
    likes = [x, w_ih, w_hh, bias, bias, w_hr, *state0, grad_y]
    wanted = [*needs, keep_dh or w_hr is not None]
    return [
        t.new_empty(t.shape) if w else x.new_empty(0) for w, t in zip(wanted, likes, strict=True)
    ]


add_rules(bptt_forward)
add_rules(bptt_backward)


@with_eager_twin
class _ExplicitBPTT(torch.autograd.Function):
    """Autograd of the two ops: ``bptt_forward``, then ``bptt_backward``; asked for a
    graph of the gradient, the gradient of ``pointwise_unroll`` instead."""

    generate_vmap_rule = True

    @staticmethod
    def forward(cell, backend, lengths, record, keep, x, w_ih, w_hh, b_ih, b_hh, w_hr, *state0):
        outputs = bptt_forward(
            cell, backend, x, w_ih, w_hh, b_ih, b_hh, w_hr, list(state0), lengths, keep
        )
        return tuple(outputs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        cell, backend, lengths, record, keep, *tensors = inputs
        ctx.num_states = len(tensors) - 6
        extras = output[1 + ctx.num_states :]
        ctx.mark_non_differentiable(*extras)
        ctx.cell, ctx.backend, ctx.record = cell, backend, record
        ctx.save_for_backward(lengths, output[0], *tensors, *extras)

    @staticmethod
    def backward(ctx, grad_y, *grads):
        lengths, y, *rest = ctx.saved_tensors
        tensors, extras = rest[: 6 + ctx.num_states], rest[6 + ctx.num_states :]
        state0 = tensors[6:]
        grad_y = torch.zeros_like(y) if grad_y is None else grad_y
        grad_final = [
            torch.zeros_like(s) if g is None else g for g, s in zip(grads, state0, strict=False)
        ]
        needs = list(ctx.needs_input_grad[5:])
        meta = (ctx.cell, ctx.backend, needs, ctx.num_states)
        grads = with_graph_if_asked(
            partial(_first_order, *meta, ctx.record),
            partial(_unrolled_gradients, *meta),
            needs,
            (lengths, y, *extras),
            (grad_y, *grad_final, *tensors),
        )
        return (None,) * 5 + grads


def _first_order(cell, backend, needs, num_states, record, constants, tensors) -> tuple:
    """dL/d (x, w_ih, w_hh, b_ih, b_hh, w_hr, *state0) from ``bptt_backward``, None where
    not needed. ``constants`` = (lengths, y, *extras), ``tensors`` = (dL/dy, *dL/d final
    state, *those inputs)."""
    lengths, y, *extras = constants
    grad_y, *grad_final = in_dtype(tensors[: 1 + num_states], y.dtype)
    inputs = tensors[1 + num_states :]
    x, w_ih, w_hh, _, _, w_hr, *state0 = in_dtype(inputs, y.dtype)
    *grads, d_h_all = bptt_backward(
        cell, backend, grad_y, grad_final, x, w_ih, w_hh, w_hr, state0, y, extras, lengths,
        needs, record is not None,
    )  # fmt: skip
    if record is not None:
        record.norms = step_norms(d_h_all)
    return grads_in_input_dtypes(grads, inputs, needs)


def _unrolled_gradients(cell, backend, needs, num_states, constants, tensors) -> tuple:
    """The same gradients as ``_first_order``, through ``pointwise_unroll`` under autograd
    with ``create_graph``: a graph of them, to differentiate again."""
    lengths = constants[0]
    grad_y, grad_final, inputs = tensors[0], tensors[1 : 1 + num_states], tensors[1 + num_states :]
    x, w_ih, w_hh, b_ih, b_hh, w_hr, *state0 = inputs
    weights = CellWeights(w_ih, w_hh, b_ih, b_hh, w_hr)
    unrolled = pointwise_unroll(pointwise_named(cell), weights, (), x, tuple(state0), lengths)
    return differentiate(unrolled, inputs, needs, grad_y, grad_final)
