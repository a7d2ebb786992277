"""The linear recurrence h_t = a_t * h_{t-1} + b_t, with a_t, b_t > 0 given in log space
(minGRU and minLSTM on the PyTorch engine), for every step at once.

It has a closed form, h_t = A_t h_0 + sum_{k<=t} (A_t / A_k) b_k with A_t = prod_{j<=t}
a_j, which is evaluated in log space (Heinsen 2023, as Feng et al. 2024 do)::

    S = cumsum(log a);   h_t = exp(S_t) h_0 + exp(S_t + logcumsumexp(log b - S)_t)

a cumulative sum and a log-cumsum-exp, scans of O(log T) depth on a parallel device.
Backward is the same kind of scan run from the end, G_t = dL/dh_t + a_{t+1} G_{t+1}, i.e.
G_t = sum_{k>=t} exp(S_k - S_t) dL/dh_k, split into its positive and negative parts (log
space needs positive terms); then dL/d log a_t = G_t a_t h_{t-1}, dL/d log b_t = G_t b_t
and dL/dh_0 = a_1 G_1.

The ops ``rnnkit::linear_scan_forward`` and ``rnnkit::linear_scan_backward`` (see
``op_rules``) take and return any floating dtype but compute in float32 at least: under
autocast a cumulative sum of T logs in bfloat16 (8 bits of mantissa) would be off by
whole units of log, a factor e in h.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from rnnkit.bptt.op_rules import (
    add_rules,
    differentiate,
    empty_unless,
    engine_op,
    grads_in_input_dtypes,
    in_dtype,
    with_graph_if_asked,
)


def linear_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """h (T, B, H) of h_t = exp(log_a_t) * h_{t-1} + exp(log_b_t) from h0 (B, H)."""
    tensors = (log_a, log_b, h0)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _LinearScan.apply(*tensors)
    return linear_scan_forward(*tensors)[0]  # no gradient: without autograd.Function's cost


def _at_least_float32(*tensors: Tensor) -> list[Tensor]:
    dtype = torch.promote_types(tensors[0].dtype, torch.float32)
    return in_dtype(tensors, dtype)


@engine_op("linear_scan_forward")
def linear_scan_forward(log_a: Tensor, log_b: Tensor, h0: Tensor) -> list[Tensor]:
    """-> [h (T, B, H)] in ``log_a``'s dtype."""
    dtype = log_a.dtype
    log_a, log_b, h0 = _at_least_float32(log_a, log_b, h0)
    S = torch.cumsum(log_a, 0)
    if not S[-1].isfinite().all() or log_b.isposinf().any():
        # An a_t of 0 or a b_t of inf (an infinite input): the closed form would meet
        # -inf + inf where the recurrence itself gives 0 or inf. Step by step instead.
        return [_sequential(log_a.exp(), log_b.exp(), h0).to(dtype)]
    h = S.exp() * h0 + torch.exp(S + torch.logcumsumexp(log_b - S, 0))
    return [h.to(dtype)]


def _sequential(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """h_t = a_t h_{t-1} + b_t, one step at a time: (T, B, H)."""
    h, previous = torch.empty_like(a), h0
    for t in range(a.shape[0]):
        h[t] = previous = torch.addcmul(b[t], a[t], previous)
    return h


@torch.library.register_fake(linear_scan_forward)
def _(log_a, log_b, h0):
    return [log_a.new_empty(log_a.shape)]


@engine_op("linear_scan_backward")
def linear_scan_backward(
    grad_h: Tensor, log_a: Tensor, log_b: Tensor, h0: Tensor, h: Tensor, needs: list[bool]
) -> list[Tensor]:
    """``h``: what ``linear_scan_forward`` returned; ``needs``: which of (log_a, log_b, h0)
    want a gradient. -> [dL/d log_a, dL/d log_b, dL/dh0] in ``log_a``'s dtype, an empty
    tensor for each one not wanted."""
    like = log_a
    grad_h, log_a, log_b, h0, h = _at_least_float32(grad_h, log_a, log_b, h0, h)
    G = suffix_scan(log_a, grad_h)
    a = log_a.exp()
    h_prev = torch.cat((h0.unsqueeze(0), h[:-1]))
    values = [G * a * h_prev, G * log_b.exp(), a[0] * G[0]]
    return [empty_unless(w, v.to(like.dtype), like) for w, v in zip(needs, values, strict=True)]


@torch.library.register_fake(linear_scan_backward)
def _(grad_h, log_a, log_b, h0, h, needs):
    shapes = [log_a.shape, log_b.shape, h0.shape]
    return [log_a.new_empty(s if w else 0) for w, s in zip(needs, shapes, strict=True)]


add_rules(linear_scan_forward)
add_rules(linear_scan_backward)


def suffix_scan(log_a: Tensor, grad_h: Tensor) -> Tensor:
    """G_t = sum_{k>=t} exp(S_k - S_t) g_k for g = dL/dh, S = cumsum(log_a), as two
    positive scans."""
    S = torch.cumsum(log_a, 0)

    def part(g: Tensor) -> Tensor:
        return torch.exp(_reverse_logcumsumexp(S + torch.log(g)) - S)

    return part(grad_h.clamp(min=0)) - part((-grad_h).clamp(min=0))


def _reverse_logcumsumexp(v: Tensor) -> Tensor:
    return torch.logcumsumexp(v.flip(0), 0).flip(0)


class _LinearScan(torch.autograd.Function):
    """Autograd of the two ops; asked for a graph of the gradient, the gradient of
    ``linear_unroll`` instead (see ``op_rules.with_graph_if_asked``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(log_a, log_b, h0):
        return linear_scan_forward(log_a, log_b, h0)[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output, *inputs)

    @staticmethod
    def backward(ctx, grad_h):
        h, *inputs = ctx.saved_tensors
        needs = list(ctx.needs_input_grad)
        return with_graph_if_asked(
            partial(_first_order, needs),
            partial(_unrolled_gradients, needs),
            needs,
            (h,),
            (grad_h, *inputs),
        )


def _first_order(needs, constants, tensors) -> tuple:
    """dL/d (log_a, log_b, h0) from ``linear_scan_backward``, None where not needed.
    ``constants`` = (h,), ``tensors`` = (dL/dh, log_a, log_b, h0)."""
    (h,) = constants
    grad_h, log_a, log_b, h0 = in_dtype(tensors, h.dtype)
    grads = linear_scan_backward(grad_h, log_a, log_b, h0, h, needs)
    return grads_in_input_dtypes(grads, tensors[1:], needs)


def _unrolled_gradients(needs, constants, tensors) -> tuple:
    """The same gradients through ``linear_unroll`` under autograd with ``create_graph``."""
    grad_h, *inputs = tensors
    return differentiate((linear_unroll(*inputs), []), inputs, needs, grad_h, [])


def linear_unroll(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """The recurrence step by step under autograd: h (T, B, H)."""
    state, outputs = h0, []
    for t in range(log_a.shape[0]):
        state = log_a[t].exp() * state + log_b[t].exp()
        outputs.append(state)
    return torch.stack(outputs)
