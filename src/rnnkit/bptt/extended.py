"""Explicit BPTT extended to what the plain engine (``explicit.py``) leaves out: cells
with parameters in their pointwise part (layer norm, peepholes), zoneout and
variational recurrent dropout. The input gates are x @ W_ih.T + b_ih, formed by the loops
as in the plain engine, or, where ``Pointwise.input_gates`` is more than that (layer
norm), computed for every step at once under autograd and handed in as x with no W_ih::

    for t in 0..T-1, on the b_t sequences still running:
        gates_h = (h_{t-1} * d) @ W_hh.T + b_hh            d: recurrent-dropout mask (B, P)
        s_t = pointwise(gates_x[t], gates_h, s_{t-1}; params)
        s_t = z_t * s_{t-1} + (1 - z_t) * s_t              zoneout, first k state entries

Zoneout (Krueger et al. 2017) keeps each unit's previous state with probability p, one
mask z_t (B, H) per step shared by h and c; at inference the expectation
p * s_{t-1} + (1 - p) * s_t is used. Recurrent dropout (Gal & Ghahramani 2016) drops the
same units of h_{t-1} at every step of a sequence, d = Bernoulli(1 - p) / (1 - p).
Backward, per step in reverse, with dL/ds_t coming in::

    dL/d(s_t before zoneout) = (1 - z_t) dL/ds_t;   direct part of dL/ds_{t-1} = z_t dL/ds_t
    dL/dh_{t-1} += (dL/d gates_h @ W_hh) * d

and dL/dW_hh = sum_t dL/d gates_h_t.T @ (h_{t-1} * d) once the loop is done.

The ops ``rnnkit::extended_bptt_forward`` and ``rnnkit::extended_bptt_backward`` call the
loops (see ``op_rules`` for what every op has).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from rnnkit.bptt import extended_torch_loops
from rnnkit.bptt.backend import extended_loops_for, get_backend
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


def extended_bptt(
    pointwise: Pointwise,
    weights: CellWeights,
    x: Tensor,
    params: tuple[Tensor, ...],
    state0: tuple[Tensor, ...],
    lengths: list[int] | Tensor | None = None,
    zoneout: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
    name: str = "recurrent",
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run ``pointwise`` over x (T, B, I) from ``state0``; with ``weights.weight_ih`` None,
    x holds the input gates (T, B, G). No output projection (``weight_hr`` must be None).

    ``zoneout``: None, a (T, B, H) mask of 0/1 (1 keeps the previous state) or a 0-d
    tensor p (inference); ``recurrent_mask``: None or (B, P). ``lengths`` sorted in
    decreasing order. Returns y (T, B, P), zero past each sequence's end, and each
    sequence's final state.
    """
    if lengths is not None:
        lengths = torch.as_tensor(lengths, dtype=torch.int64)
    w_ih, w_hh, b_ih, b_hh, _ = weights
    tensors = (x, w_ih, b_ih, w_hh, b_hh, *params, *state0)
    # Inference keeps nothing per step, so a long stream costs only its outputs.
    keep = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    if keep:
        y, *rest = apply_function(
            _ExtendedBPTT,
            pointwise.name, get_backend(), lengths, zoneout, recurrent_mask, new_record(name),
            keep, len(params), *tensors,
        )  # fmt: skip
    else:  # no gradient: the op alone, without autograd.Function's cost per call
        y, *rest = extended_bptt_forward(
            pointwise.name, get_backend(), x, w_ih, b_ih, w_hh, b_hh, list(params),
            list(state0), lengths, zoneout, recurrent_mask, keep,
        )  # fmt: skip
    return y, tuple(rest[: len(state0)])  # the rest is for backward


@engine_op("extended_bptt_forward")
def extended_bptt_forward(
    cell: str,
    backend: str,
    x: Tensor,
    w_ih: Tensor | None,
    b_ih: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    params: list[Tensor],
    state0: list[Tensor],
    lengths: Tensor | None,
    zoneout: Tensor | None,
    recurrent_mask: Tensor | None,
    keep: bool,
) -> list[Tensor]:
    """-> [y (T, B, P), final state (B, size) per entry, the other states of every step
    (T, B, size), with ``keep`` what the loops keep for backward]."""
    pointwise = pointwise_named(cell)
    loops = extended_loops_for(pointwise, x, w_ih is not None, backend)
    steps, batch, _ = x.shape
    with torch.no_grad():
        if _gates_outside(pointwise, loops, w_ih):
            x, w_ih, b_ih = pointwise.input_gates(x, w_ih, b_ih, tuple(params)), None, None
        states, saved = loops.forward_loop(
            pointwise, x, (w_ih, b_ih, w_hh, b_hh), tuple(params), tuple(state0),
            running_batch_sizes(lengths, steps, batch), zoneout, recurrent_mask, keep,
        )  # fmt: skip
    return [states[0], *final_states(states, lengths), *states[1:], *saved]


@torch.library.register_fake(extended_bptt_forward)
def _(cell, backend, x, w_ih, b_ih, w_hh, b_hh, params, state0, lengths, zoneout,
      recurrent_mask, keep):  # fmt: skip
    pointwise = pointwise_named(cell)
    saved = extended_loops_for(pointwise, x, w_ih is not None, backend).saved_like(
        pointwise, x, w_hh.shape[0], state0, tuple(params), keep
    )
    return forward_outputs_like(x, w_hh.shape[1], state0, saved)


@engine_op("extended_bptt_backward")
def extended_bptt_backward(
    cell: str,
    backend: str,
    grad_y: Tensor,
    grad_final: list[Tensor],
    x: Tensor,
    w_ih: Tensor | None,
    b_ih: Tensor | None,
    w_hh: Tensor,
    params: list[Tensor],
    state0: list[Tensor],
    y: Tensor,
    extras: list[Tensor],
    lengths: Tensor | None,
    zoneout: Tensor | None,
    recurrent_mask: Tensor | None,
    needs: list[bool],
    keep_dh: bool,
) -> list[Tensor]:
    """``extras``: what ``extended_bptt_forward`` returned after the final state;
    ``needs``: which of (x, w_ih, b_ih, w_hh, b_hh, *params, *state0) want a gradient.
    -> [their gradients in that order, dL/dh of every step (with ``keep_dh``)], an empty
    tensor for each one not wanted."""
    pointwise = pointwise_named(cell)
    loops = extended_loops_for(pointwise, x, w_ih is not None, backend)
    steps, batch, _ = x.shape
    states, saved = [y, *extras[: len(state0) - 1]], extras[len(state0) - 1 :]
    need_x, need_w_ih, need_b_ih, need_w_hh, need_b_hh = needs[:5]
    outside = _gates_outside(pointwise, loops, w_ih)
    if outside:  # the loops see the gates; what made them gets its gradient after
        inputs, params_in = (x, w_ih, b_ih), tuple(params[: pointwise.input_params])
        x, w_ih = pointwise.input_gates(x, w_ih, b_ih, params_in), None
        need_w_ih = need_b_ih = False
    with torch.no_grad():
        d_x, d_gates_x, d_gates_h, d_params, d_h_all, grad_state0 = loops.backward_loop(
            pointwise, grad_y.contiguous(), tuple(grad_final), tuple(state0), states, saved,
            w_ih if need_x else None, w_hh, tuple(params),
            running_batch_sizes(lengths, steps, batch), zoneout, recurrent_mask, keep_dh,
        )  # fmt: skip
        if w_ih is None:  # x held the input gates
            d_x = d_gates_x
        # h_{t-1} as the recurrent weights saw it: times the recurrent-dropout mask.
        h0, h = state0[0], y
        if recurrent_mask is not None:
            h0, h = h0 * recurrent_mask, h * recurrent_mask
        d_w_ih, d_w_hh, d_b_ih, d_b_hh, _ = loops.weight_gradients(
            (need_w_ih, need_w_hh, need_b_ih, need_b_hh, False), x, h, (w_ih, w_hh, None),
            h0, d_gates_x, d_gates_h, None, None, need_b_ih or need_b_hh,
        )  # fmt: skip
        # The native loops hand the params' gradients out as views of one buffer, which an
        # op must not return: a copy of each (they are vectors).
        d_params = [
            torch.zeros_like(p) if d is None else d.clone()
            for d, p in zip(d_params, params, strict=True)
        ]
        if outside:
            d_x, d_w_ih, d_b_ih, d_input = pointwise.input_gates_backward(
                *inputs, params_in, d_gates_x
            )
            d_params[: len(d_input)] = [a + b for a, b in zip(d_params, d_input, strict=False)]
    values = [d_x, d_w_ih, d_b_ih, d_w_hh, d_b_hh, *d_params, *grad_state0, d_h_all]
    return [empty_unless(w, v, x) for w, v in zip([*needs, keep_dh], values, strict=True)]


@torch.library.register_fake(extended_bptt_backward)
def _(cell, backend, grad_y, grad_final, x, w_ih, b_ih, w_hh, params, state0, y, extras,
      lengths, zoneout, recurrent_mask, needs, keep_dh):  # fmt: skip
    bias = w_hh.new_empty(w_hh.shape[0])
    likes = [x, w_ih, b_ih, w_hh, bias, *params, *state0, grad_y]
    return [
        t.new_empty(t.shape) if w else x.new_empty(0)
        for w, t in zip([*needs, keep_dh], likes, strict=True)
    ]


def _gates_outside(pointwise: Pointwise, loops, w_ih: Tensor | None) -> bool:
    """The PyTorch loops form x @ W_ih.T + b_ih and nothing more: a cell whose input
    gates are more (a layer norm, ``input_params``) has them formed for all steps at once
    before the loop, and their gradient taken by autograd after it."""
    return w_ih is not None and pointwise.input_params > 0 and loops is extended_torch_loops


add_rules(extended_bptt_forward)
add_rules(extended_bptt_backward)


@with_eager_twin
class _ExtendedBPTT(torch.autograd.Function):
    """Autograd of the two ops, as ``explicit._ExplicitBPTT``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(cell, backend, lengths, zoneout, recurrent_mask, record, keep, num_params,
                x, w_ih, b_ih, w_hh, b_hh, *rest):  # fmt: skip
        params, state0 = list(rest[:num_params]), list(rest[num_params:])
        outputs = extended_bptt_forward(
            cell, backend, x, w_ih, b_ih, w_hh, b_hh, params, state0, lengths, zoneout,
            recurrent_mask, keep,
        )  # fmt: skip
        return tuple(outputs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        cell, backend, lengths, zoneout, recurrent_mask, record, keep, num_params = inputs[:8]
        tensors = inputs[8:]
        ctx.num_params, ctx.num_states = num_params, len(tensors) - 5 - num_params
        extras = output[1 + ctx.num_states :]
        ctx.mark_non_differentiable(*extras)
        ctx.cell, ctx.backend, ctx.record = cell, backend, record
        ctx.save_for_backward(lengths, zoneout, recurrent_mask, output[0], *tensors, *extras)

    @staticmethod
    def backward(ctx, grad_y, *grads):
        lengths, zoneout, mask, y, *rest = ctx.saved_tensors
        count = 5 + ctx.num_params + ctx.num_states
        tensors, extras = rest[:count], rest[count:]
        state0 = tensors[5 + ctx.num_params :]
        grad_y = torch.zeros_like(y) if grad_y is None else grad_y
        grad_final = [
            torch.zeros_like(s) if g is None else g for g, s in zip(grads, state0, strict=False)
        ]
        needs = list(ctx.needs_input_grad[8:])
        meta = (ctx.cell, ctx.backend, needs, ctx.num_params, ctx.num_states)
        grads = with_graph_if_asked(
            partial(_first_order, *meta, ctx.record),
            partial(_unrolled_gradients, *meta),
            needs,
            (lengths, zoneout, mask, y, *extras),
            (grad_y, *grad_final, *tensors),
        )
        return (None,) * 8 + grads


def _first_order(cell, backend, needs, num_params, num_states, record, constants, tensors):
    """dL/d (x, w_ih, b_ih, w_hh, b_hh, *params, *state0) from ``extended_bptt_backward``,
    None where not needed. ``constants`` = (lengths, zoneout, recurrent_mask, y, *extras),
    ``tensors`` = (dL/dy, *dL/d final state, *those inputs)."""
    lengths, zoneout, mask, y, *extras = constants
    grad_y, *grad_final = in_dtype(tensors[: 1 + num_states], y.dtype)
    inputs = tensors[1 + num_states :]
    x, w_ih, b_ih, w_hh, _, *more = in_dtype(inputs, y.dtype)
    zoneout, mask = in_dtype([zoneout, mask], y.dtype)
    *grads, d_h_all = extended_bptt_backward(
        cell, backend, grad_y, grad_final, x, w_ih, b_ih, w_hh, more[:num_params],
        more[num_params:], y, extras, lengths, zoneout, mask, needs, record is not None,
    )  # fmt: skip
    if record is not None:
        record.norms = step_norms(d_h_all)
    return grads_in_input_dtypes(grads, inputs, needs)


def _unrolled_gradients(cell, backend, needs, num_params, num_states, constants, tensors):
    """The same gradients as ``_first_order``, through ``pointwise_unroll`` under autograd
    with ``create_graph``: a graph of them, to differentiate again."""
    lengths, zoneout, mask = constants[:3]
    grad_y, grad_final, inputs = tensors[0], tensors[1 : 1 + num_states], tensors[1 + num_states :]
    x, w_ih, b_ih, w_hh, b_hh, *more = inputs
    unrolled = pointwise_unroll(
        pointwise_named(cell), CellWeights(w_ih, w_hh, b_ih, b_hh), tuple(more[:num_params]), x,
        tuple(more[num_params:]), lengths, zoneout, mask,
    )  # fmt: skip
    return differentiate(unrolled, inputs, needs, grad_y, grad_final)
