"""Gated recurrent unit (Cho et al. 2014), in torch.nn.GRU's formulation."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn.functional import linear

from rnnkit.cells.base import Pointwise, RecurrentCell, masked
from rnnkit.cells.lstm import sigmoid_backward, tanh_backward


class GRUState(NamedTuple):
    """The state of a ``GRUCell`` or a ``LayerNormGRUCell``: ``h`` (B, H)."""

    h: Tensor  # (B, H)


class GRUPointwise(Pointwise):
    """Gates in torch order r, z, n. The reset gate multiplies the recurrent part of n,
    so dL/d gates_h differs from dL/d gates_x in its n block."""

    name = "gru"
    num_gates = 3
    separate_recurrent_grad = True

    def forward(self, gates_x, gates_h, prev, params=()):
        h_prev = prev[0]
        x_r, x_z, x_n = gates_x.chunk(3, dim=1)
        h_r, h_z, h_n = gates_h.chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = n + z * (h_prev - n)  # = (1 - z) * n + z * h_prev
        return (h,), (r, z, n, h_n)

    def backward(self, grad, saved, prev, params=()):
        (dh,), (r, z, n, h_n), h_prev = grad, saved, prev[0]
        d_n = tanh_backward(dh * (1 - z), n)
        d_r = sigmoid_backward(d_n * h_n, r)
        d_z = sigmoid_backward(dh * (h_prev - n), z)
        return (d_r, d_z, d_n), (d_r, d_z, d_n * r), (dh * z,), ()


class GRUCell(RecurrentCell):
    """One GRU step, torch.nn.GRUCell's parameters and gate order (r, z, n)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)          reset gate
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)          update gate
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))       candidate
        h_t = (1 - z) * n + z * h_{t-1}

    Shapes: x_t (B, I), h (B, H); weight_ih (3H, I), weight_hh (3H, H), biases (3H,).
    ``y_t = h_t``.
    """

    State = GRUState
    pointwise = GRUPointwise()

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        self._make_parameters(num_gates=3, recurrent_size=hidden_size, bias=bias)
        self.reset_parameters()

    def forward(
        self, x: Tensor, state: GRUState | None = None, recurrent_mask: Tensor | None = None
    ) -> tuple[Tensor, GRUState]:
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        x_r, x_z, x_n = linear(x, self.weight_ih, self.bias_ih).chunk(3, dim=1)
        h_r, h_z, h_n = linear(masked(state.h, recurrent_mask), self.weight_hh, self.bias_hh).chunk(
            3, dim=1
        )
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * state.h
        return h, GRUState(h)
