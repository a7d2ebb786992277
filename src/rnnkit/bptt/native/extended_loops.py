"""The extended engine's native loops (csrc/extended.cpp) behind the same calls as
``rnnkit.bptt.extended_torch_loops``. Each supported ``Pointwise`` type maps to its C++
row struct by name (csrc/zoo_cells.h); only that exact type, float32/float64, the CPU."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.bptt.native.loops import weight_gradients  # noqa: F401  (the loops' API)
from rnnkit.cells import (
    ElmanPointwise,
    GRUPointwise,
    LayerNormGRUPointwise,
    LayerNormLSTMPointwise,
    LSTMPointwise,
    PeepholeLSTMPointwise,
    Pointwise,
    SLSTMPointwise,
)

ops = torch.ops.rnnkit
_DTYPES = (torch.float32, torch.float64)
#: Values each step keeps for backward per hidden unit and per row: csrc/zoo_cells.h's
#: ``saved_width(H)`` as (per unit, per row); tests/bptt check the two agree.
_SAVED_WIDTH = {
    "lstm": (5, 0),
    "gru": (4, 0),
    "elman_tanh": (1, 0),
    "elman_relu": (1, 0),
    "peephole_lstm": (6, 0),
    "slstm": (7, 0),
    "layernorm_lstm": (14, 3),
    "layernorm_gru": (10, 2),
}
_NAMES = {
    LSTMPointwise: "lstm",
    GRUPointwise: "gru",
    PeepholeLSTMPointwise: "peephole_lstm",
    SLSTMPointwise: "slstm",
    LayerNormLSTMPointwise: "layernorm_lstm",
    LayerNormGRUPointwise: "layernorm_gru",
}


def _name(pointwise: Pointwise) -> str:
    if type(pointwise) is ElmanPointwise:
        return f"elman_{pointwise.nonlinearity}"
    return _NAMES[type(pointwise)]


def supports(pointwise: Pointwise, x: Tensor) -> bool:
    known = type(pointwise) in _NAMES or type(pointwise) is ElmanPointwise
    return known and x.is_cpu and x.dtype in _DTYPES


def forward_loop(pointwise, x, weights, params, state0, batch_sizes, zoneout, recurrent_mask, keep):
    """The input gates are formed inside, a step of each thread's rows at a time, a layer
    norm on them included: x is always the input, never gates computed outside."""
    w_ih, b_ih, w_hh, b_hh = weights
    states, saved = ops.extended_forward(
        _name(pointwise), x, w_ih, b_ih, w_hh, b_hh, list(params), list(state0), batch_sizes,
        zoneout, recurrent_mask, pointwise.zoneout_states, keep,
    )  # fmt: skip
    return states, [saved] if keep else []  # an empty tensor when nothing was kept


def saved_like(pointwise, x, gates, state0, params, keep) -> list[Tensor]:
    """Empty tensors shaped as ``forward_loop``'s saved list (for the ops' fake kernels)."""
    per_unit, per_row = _SAVED_WIDTH[_name(pointwise)]
    width = per_unit * (gates // pointwise.num_gates) + per_row
    return [x.new_empty(*x.shape[:2], width)] if keep else []


def backward_loop(
    pointwise, grad_y, grad_final, state0, states, saved, w_ih, w_hh, params, batch_sizes,
    zoneout, recurrent_mask, keep_dh,
):  # fmt: skip
    """dL/dx is formed inside the loop, step by step, when ``w_ih`` is given."""
    d_gates_x, d_gates_h, d_params, d_h_all, carry, d_x = ops.extended_backward(
        _name(pointwise), grad_y, list(grad_final), list(state0), list(states), saved[0], w_ih,
        w_hh, list(params), batch_sizes, zoneout, recurrent_mask, pointwise.zoneout_states,
        keep_dh,
    )  # fmt: skip
    return (
        d_x if w_ih is not None else None,
        d_gates_x,
        d_gates_h if pointwise.separate_recurrent_grad else d_gates_x,
        d_params,
        d_h_all if keep_dh else None,
        carry,
    )
