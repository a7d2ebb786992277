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
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.bptt import backend
from rnnkit.bptt.explicit import running_batch_sizes
from rnnkit.bptt.gradient_flow import new_record, step_norms
from rnnkit.bptt.saving import load, save
from rnnkit.cells.base import CellWeights, Pointwise


def extended_bptt(
    pointwise: Pointwise,
    weights: CellWeights,
    x: Tensor,
    params: tuple[Tensor, ...],
    state0: tuple[Tensor, ...],
    lengths: list[int] | None = None,
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
    record = new_record(name)
    w_ih, w_hh, b_ih, b_hh, _ = weights
    tensors = (x, w_ih, b_ih, w_hh, b_hh, *params, *state0)
    # Inference keeps nothing per step, so a long stream costs only its outputs.
    keep = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    y, *state = _ExtendedBPTT.apply(
        pointwise, lengths, record, keep, zoneout, recurrent_mask, len(params), *tensors
    )
    return y, tuple(state)


class _ExtendedBPTT(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, pointwise, lengths, record, keep, zoneout, recurrent_mask, num_params,
        x, w_ih, b_ih, w_hh, b_hh, *rest,
    ):  # fmt: skip
        params, state0 = rest[:num_params], rest[num_params:]
        steps, batch, _ = x.shape
        batch_sizes = running_batch_sizes(lengths, steps, batch)
        loops = backend.extended_loops_for(pointwise, x, w_ih is not None)
        states, saved = loops.forward_loop(
            pointwise, x, (w_ih, b_ih, w_hh, b_hh), params, state0, batch_sizes, zoneout,
            recurrent_mask, keep,
        )  # fmt: skip
        if lengths is None:
            final = [s[-1].clone() for s in states]
        else:
            last = torch.as_tensor(lengths, device=x.device) - 1
            final = [s[last, torch.arange(batch, device=x.device)] for s in states]
        ctx.pointwise, ctx.loops, ctx.record = pointwise, loops, record
        ctx.batch_sizes, ctx.num_params, ctx.has_bias = batch_sizes, num_params, b_ih is not None
        save(ctx, (x, w_ih, w_hh, zoneout, recurrent_mask, *params, *state0), (states, saved))
        return (states[0], *final)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, *grad_final):
        (x, w_ih, w_hh, zoneout, recurrent_mask, *rest), (states, saved) = load(ctx)
        params, state0 = tuple(rest[: ctx.num_params]), tuple(rest[ctx.num_params :])
        keep_dh = ctx.record is not None
        # apply's arguments: ..., num_params (6), x, w_ih, b_ih, w_hh, b_hh, params, state0
        need_x, need_w_ih, need_b_ih, need_w_hh, need_b_hh = ctx.needs_input_grad[7:12]
        d_x, d_gates_x, d_gates_h, d_params, d_h_all, grad_state0 = ctx.loops.backward_loop(
            ctx.pointwise, grad_y.contiguous(), grad_final, state0, states, saved,
            w_ih if need_x else None, w_hh, params, ctx.batch_sizes, zoneout, recurrent_mask,
            keep_dh,
        )  # fmt: skip
        if w_ih is None:  # x held the input gates
            d_x = d_gates_x
        if keep_dh:
            ctx.record.norms = step_norms(d_h_all)
        # h_{t-1} as the recurrent weights saw it: times the recurrent-dropout mask.
        h0, y = state0[0], states[0]
        if recurrent_mask is not None:
            h0, y = h0 * recurrent_mask, y * recurrent_mask
        d_w_ih, d_w_hh, d_b_ih, d_b_hh, _ = ctx.loops.weight_gradients(
            (need_w_ih, need_w_hh, need_b_ih, need_b_hh, False), x, y, (w_ih, w_hh, None), h0,
            d_gates_x, d_gates_h, None, None, ctx.has_bias,
        )  # fmt: skip
        return (None,) * 7 + (d_x, d_w_ih, d_b_ih, d_w_hh, d_b_hh, *d_params, *grad_state0)
