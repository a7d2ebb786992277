"""Explicit BPTT extended to what the plain engine (``explicit.py``) leaves out: cells
with parameters in their pointwise part (layer norm, peepholes), zoneout and
variational recurrent dropout. The input gates arrive computed, for every step at once,
under autograd (``Pointwise.input_gates``: a GEMM, for layer-norm cells followed by the
norm); the loop does the rest::

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
from rnnkit.bptt.explicit import _batch_sizes
from rnnkit.bptt.gemm import contract_rows
from rnnkit.bptt.gradient_flow import new_record, step_norms
from rnnkit.bptt.saving import load, save
from rnnkit.cells.base import Pointwise


def extended_bptt(
    pointwise: Pointwise,
    gates_x: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    params: tuple[Tensor, ...],
    state0: tuple[Tensor, ...],
    lengths: list[int] | None = None,
    zoneout: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
    name: str = "recurrent",
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run ``pointwise`` over ``gates_x`` (T, B, G) from ``state0``.

    ``zoneout``: None, a (T, B, H) mask of 0/1 (1 keeps the previous state) or a 0-d
    tensor p (inference); ``recurrent_mask``: None or (B, P). ``lengths`` sorted in
    decreasing order. Returns y (T, B, P), zero past each sequence's end, and each
    sequence's final state.
    """
    record = new_record(name)
    tensors = (gates_x, weight_hh, bias_hh, *params, *state0)
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
        gates_x, w_hh, b_hh, *rest,
    ):  # fmt: skip
        params, state0 = rest[:num_params], rest[num_params:]
        steps, batch, _ = gates_x.shape
        batch_sizes = _batch_sizes(lengths, steps, batch)
        loops = backend.extended_loops_for(pointwise, gates_x)
        states, saved = loops.forward_loop(
            pointwise, gates_x, w_hh, b_hh, params, state0, batch_sizes, zoneout,
            recurrent_mask, keep,
        )  # fmt: skip
        if lengths is None:
            final = [s[-1].clone() for s in states]
        else:
            last = torch.as_tensor(lengths, device=gates_x.device) - 1
            final = [s[last, torch.arange(batch, device=gates_x.device)] for s in states]
        ctx.pointwise, ctx.loops, ctx.record, ctx.batch_sizes = (
            pointwise,
            loops,
            record,
            batch_sizes,
        )
        ctx.num_params = num_params
        ctx.has_bias = b_hh is not None
        save(ctx, (w_hh, zoneout, recurrent_mask, *params, *state0), (states, saved))
        return (states[0], *final)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, *grad_final):
        (w_hh, zoneout, recurrent_mask, *rest), (states, saved) = load(ctx)
        params, state0 = tuple(rest[: ctx.num_params]), tuple(rest[ctx.num_params :])
        keep_dh = ctx.record is not None
        d_gates_x, d_gates_h, d_params, d_h_all, grad_state0 = ctx.loops.backward_loop(
            ctx.pointwise, grad_y.contiguous(), grad_final, state0, states, saved,
            w_hh, params, ctx.batch_sizes, zoneout, recurrent_mask, keep_dh,
        )  # fmt: skip
        if keep_dh:
            ctx.record.norms = step_norms(d_h_all)
        needs = ctx.needs_input_grad  # apply's arguments, w_hh at 8
        d_w_hh = d_b_hh = None
        if needs[8]:
            h_in = torch.cat((state0[0].unsqueeze(0), states[0][:-1]))
            if recurrent_mask is not None:
                h_in = h_in * recurrent_mask
            d_w_hh = contract_rows(d_gates_h.flatten(0, 1), h_in.flatten(0, 1))
        if ctx.has_bias and needs[9]:
            d_b_hh = d_gates_h.sum((0, 1))
        return (None,) * 7 + (d_gates_x, d_w_hh, d_b_hh, *d_params, *grad_state0)
