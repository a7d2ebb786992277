"""IndRNN's element-wise recurrence over a whole sequence, with a hand-derived backward::

    h_t = act(pre_t + u * (h_{t-1} * d)),     act = relu or tanh, u (H,), d (B, H) or 1
    h_t = z_t * h_{t-1} + (1 - z_t) * h_t      zoneout (z_t (T, B, H), or its rate p)

Backward, in reverse with G_t = dL/dh_t (output and carry)::

    dL/d pre_t = (1 - z_t) G_t * act'_t;  dL/dh_{t-1} += u * d * dL/d pre_t + z_t G_t
    dL/du = sum_t,b dL/d pre_t * h_{t-1} * d

The loops run natively (``rnnkit.bptt.native.diagonal_loops``: float32 and float64 on
the CPU) or in PyTorch (``rnnkit.bptt.indrnn_torch_loops``: anything else, autocast's
bfloat16 included), as the backend named in the op's arguments says, behind the ops
``rnnkit::indrnn_scan_forward`` and ``rnnkit::indrnn_scan_backward`` (``op_rules`` says
what every op has). Variable lengths cross as a (B,) tensor sorted in decreasing order.
"""

from __future__ import annotations

from functools import partial
from types import ModuleType

import torch
from torch import Tensor

from rnnkit.bptt import indrnn_torch_loops, native
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
from rnnkit.bptt.zoneout import zoneout_at
from rnnkit.cells.base import masked


def indrnn_scan(
    backend: str,
    pre: Tensor,
    u: Tensor,
    h0: Tensor,
    lengths: Tensor | None,
    relu: bool,
    zoneout: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """pre (T, B, H) = x W_ih^T + b_ih, u (H,), h0 (B, H) -> (h (T, B, H), 0 past each
    sequence's end; each sequence's final state (B, H)). ``lengths`` (B,) int64, sorted in
    decreasing order, or None; ``zoneout`` (T, B, H) of 0/1 or the 0-d rate;
    ``recurrent_mask`` (B, H)."""
    tensors = (pre, u, h0)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        h, final, _ = _IndRNNScan.apply(backend, lengths, relu, zoneout, recurrent_mask, *tensors)
    else:  # no gradient: the op alone, without autograd.Function's cost per call
        h, final, _ = indrnn_scan_forward(
            backend, pre, u, h0, lengths, relu, zoneout, recurrent_mask
        )
    return h, final


def loops_for(x: Tensor, backend: str) -> ModuleType:
    """The loops for this input on ``backend`` where they can run it: a function of the
    arguments only, so that compiled and eager runs pick the same."""
    if backend == "native" and native.available() and diagonal_loops.supports(x):
        return diagonal_loops
    return indrnn_torch_loops


@engine_op("indrnn_scan_forward")
def indrnn_scan_forward(
    backend: str,
    pre: Tensor,
    u: Tensor,
    h0: Tensor,
    lengths: Tensor | None,
    relu: bool,
    zoneout: Tensor | None,
    recurrent_mask: Tensor | None,
) -> list[Tensor]:
    """-> [h (T, B, H), final state (B, H), act (T, B, H): act(...) before zoneout, which
    backward reads act' from]."""
    steps, batch, _ = pre.shape
    with torch.no_grad():
        h, act, final = loops_for(pre, backend).indrnn_forward(
            pre, u, h0, running_batch_sizes(lengths, steps, batch), relu, zoneout, recurrent_mask
        )
    return [h, final, act]


@torch.library.register_fake(indrnn_scan_forward)
def _(backend, pre, u, h0, lengths, relu, zoneout, recurrent_mask):
    return [pre.new_empty(pre.shape), h0.new_empty(h0.shape), pre.new_empty(pre.shape)]


@engine_op("indrnn_scan_backward")
def indrnn_scan_backward(
    backend: str,
    grad_h: Tensor,
    grad_final: Tensor,
    u: Tensor,
    h0: Tensor,
    h: Tensor,
    act: Tensor,
    lengths: Tensor | None,
    relu: bool,
    zoneout: Tensor | None,
    recurrent_mask: Tensor | None,
    needs: list[bool],
) -> list[Tensor]:
    """``h``, ``act``: what ``indrnn_scan_forward`` returned; ``needs``: which of (pre, u,
    h0) want a gradient. -> [dL/d pre, dL/du, dL/dh0], an empty tensor for each one not
    wanted."""
    steps, batch, _ = grad_h.shape
    with torch.no_grad():
        d_pre, d_h0 = loops_for(grad_h, backend).indrnn_backward(
            grad_h.contiguous(), grad_final, u, act, running_batch_sizes(lengths, steps, batch),
            relu, zoneout, recurrent_mask,
        )  # fmt: skip
        d_u = None
        if needs[1]:
            h_in = masked(torch.cat((h0.unsqueeze(0), h[:-1])), recurrent_mask)
            d_u = (d_pre * h_in).sum((0, 1))
    values = [d_pre, d_u, d_h0]
    return [empty_unless(w, v, grad_h) for w, v in zip(needs, values, strict=True)]


@torch.library.register_fake(indrnn_scan_backward)
def _(backend, grad_h, grad_final, u, h0, h, act, lengths, relu, zoneout, recurrent_mask, needs):
    likes = [grad_h, u, h0]
    return [
        t.new_empty(t.shape) if w else grad_h.new_empty(0)
        for w, t in zip(needs, likes, strict=True)
    ]


add_rules(indrnn_scan_forward)
add_rules(indrnn_scan_backward)


class _IndRNNScan(torch.autograd.Function):
    """Autograd of the two ops; asked for a graph of the gradient, the gradient of
    ``indrnn_unroll`` instead (see ``op_rules.with_graph_if_asked``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(backend, lengths, relu, zoneout, recurrent_mask, pre, u, h0):
        outputs = indrnn_scan_forward(backend, pre, u, h0, lengths, relu, zoneout, recurrent_mask)
        return tuple(outputs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        backend, lengths, relu, zoneout, recurrent_mask, pre, u, h0 = inputs
        h, _, act = output
        ctx.mark_non_differentiable(act)
        ctx.backend, ctx.relu = backend, relu
        ctx.save_for_backward(lengths, zoneout, recurrent_mask, h, act, pre, u, h0)

    @staticmethod
    def backward(ctx, grad_h, grad_final, _):
        lengths, zoneout, recurrent_mask, h, act, *inputs = ctx.saved_tensors
        needs = list(ctx.needs_input_grad[5:])
        grads = with_graph_if_asked(
            partial(_first_order, ctx.backend, ctx.relu, needs),
            partial(_unrolled_gradients, ctx.relu, needs),
            needs,
            (lengths, zoneout, recurrent_mask, h, act),
            (grad_h, grad_final, *inputs),
        )
        return (None,) * 5 + grads


def _first_order(backend, relu, needs, constants, tensors) -> tuple:
    """dL/d (pre, u, h0) from ``indrnn_scan_backward``, None where not needed.
    ``constants`` = (lengths, zoneout, recurrent_mask, h, act), ``tensors`` = (dL/dh,
    dL/d final state, pre, u, h0)."""
    lengths, zoneout, recurrent_mask, h, act = constants
    inputs = tensors[2:]
    grad_h, grad_final, _, u, h0 = in_dtype(tensors, h.dtype)
    zoneout, recurrent_mask = in_dtype([zoneout, recurrent_mask], h.dtype)
    grads = indrnn_scan_backward(
        backend, grad_h, grad_final, u, h0, h, act, lengths, relu, zoneout, recurrent_mask, needs
    )
    return grads_in_input_dtypes(grads, inputs, needs)


def _unrolled_gradients(relu, needs, constants, tensors) -> tuple:
    """The same gradients as ``_first_order``, through ``indrnn_unroll`` under autograd
    with ``create_graph``: a graph of them, to differentiate again."""
    lengths, zoneout, recurrent_mask = constants[:3]
    grad_h, grad_final, pre, u, h0 = tensors
    h, final = indrnn_unroll(pre, u, h0, lengths, relu, zoneout, recurrent_mask)
    return differentiate((h, [final]), (pre, u, h0), needs, grad_h, [grad_final])


def indrnn_unroll(
    pre: Tensor,
    u: Tensor,
    h0: Tensor,
    lengths: Tensor | None,
    relu: bool,
    zoneout: Tensor | None,
    recurrent_mask: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """The scan's math step by step under autograd, out of place (``lengths`` in any
    order): what the backward differentiates when a graph of the gradient is asked for."""
    state, outputs = h0, []
    for t in range(pre.shape[0]):
        a = pre[t] + u * masked(state, recurrent_mask)
        a = torch.relu(a) if relu else torch.tanh(a)
        z = zoneout_at(zoneout, t, pre.shape[1])
        new = a if z is None else a + z * (state - a)
        y = new
        if lengths is not None:
            running = (lengths.to(pre.device) > t).unsqueeze(1)  # (B, 1)
            new, y = torch.where(running, new, state), new * running
        state = new
        outputs.append(y)
    return torch.stack(outputs), state
