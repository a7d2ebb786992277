"""Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate of
Gers et al. 2000), optionally with the output projection of Sak et al. 2014."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.functional import linear

from rnnkit.cells.base import Pointwise, RecurrentCell, masked

# d/dx of sigmoid and tanh written in terms of their outputs y: g * y * (1 - y) and
# g * (1 - y^2), each one fused kernel instead of three element-wise ops.
sigmoid_backward = torch.ops.aten.sigmoid_backward
tanh_backward = torch.ops.aten.tanh_backward


class LSTMState(NamedTuple):
    """The state of the LSTM cells (plain, layer-norm, peephole): ``h`` (B, P), ``c`` (B, H)."""

    h: Tensor  # (B, P), P = proj_size or hidden_size
    c: Tensor  # (B, H)


class LSTMPointwise(Pointwise):
    """Gates in torch order i, f, g, o; returns (o * tanh(c_t), c_t) before projection."""

    name = "lstm"
    num_gates = 4
    zoneout_states = 2

    def forward(self, gates_x, gates_h, prev, params=()):
        c_prev = prev[1]
        i, f, g, o = (gates_x + gates_h).chunk(4, dim=1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c_prev + i * g
        tanh_c = c.tanh()
        return (o * tanh_c, c), (i, f, g, o, tanh_c)

    def backward(self, grad, saved, prev, params=()):
        dm, dc = grad  # dL/d(o * tanh c_t), dL/dc_t from step t+1
        i, f, g, o, tanh_c = saved
        dc = dc + tanh_backward(dm * o, tanh_c)
        d_gates = (
            sigmoid_backward(dc * g, i),
            sigmoid_backward(dc * prev[1], f),
            tanh_backward(dc * i, g),
            sigmoid_backward(dm * tanh_c, o),
        )
        return d_gates, d_gates, (None, dc * f), ()


class LSTMCell(RecurrentCell):
    """One LSTM step, torch.nn.LSTM's parameters and gate order (i, f, g, o)::

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)      input gate
        f = sigmoid(W_if x + b_if + W_hf h + b_hf)      forget gate
        g = tanh   (W_ig x + b_ig + W_hg h + b_hg)      candidate
        o = sigmoid(W_io x + b_io + W_ho h + b_ho)      output gate
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)          (times W_hr when proj_size > 0)

    Shapes: x_t (B, I), h (B, P), c (B, H) with P = proj_size or H; weight_ih (4H, I),
    weight_hh (4H, P), biases (4H,), weight_hr (P, H). ``y_t = h_t``.
    """

    State = LSTMState
    pointwise = LSTMPointwise()

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, proj_size: int = 0
    ) -> None:
        super().__init__(input_size, hidden_size)
        if not isinstance(proj_size, int) or not 0 <= proj_size < hidden_size:
            raise ValueError(
                f"proj_size must be an int in [0, hidden_size={hidden_size}), got {proj_size!r}"
            )
        self.proj_size = proj_size
        self._make_parameters(num_gates=4, recurrent_size=self.output_size, bias=bias)
        if proj_size:
            self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size))
        else:
            self.register_parameter("weight_hr", None)
        self.reset_parameters()

    @property
    def output_size(self) -> int:
        return self.proj_size or self.hidden_size

    def state_sizes(self) -> tuple[int, ...]:
        return (self.output_size, self.hidden_size)

    def forward(
        self, x: Tensor, state: LSTMState | None = None, recurrent_mask: Tensor | None = None
    ) -> tuple[Tensor, LSTMState]:
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        gates = linear(x, self.weight_ih, self.bias_ih) + linear(
            masked(state.h, recurrent_mask), self.weight_hh, self.bias_hh
        )
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        if self.weight_hr is not None:
            h = linear(h, self.weight_hr)
        return h, LSTMState(h, c)

    def extra_repr(self) -> str:
        proj = f", proj_size={self.proj_size}" if self.proj_size else ""
        return super().extra_repr() + proj
