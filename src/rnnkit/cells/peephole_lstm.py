"""LSTM with peephole connections (Gers & Schmidhuber 2000, "Recurrent nets that time
and count"): the gates also see the cell state, through one weight per unit."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import linear

from rnnkit.cells.base import Pointwise, RecurrentCell, masked
from rnnkit.cells.lstm import LSTMState, sigmoid_backward, tanh_backward


class PeepholeLSTMPointwise(Pointwise):
    """Gates i, f, g, o of a = gates_x + gates_h; params = (peephole (3H,): p_i, p_f, p_o)."""

    name = "peephole_lstm"
    num_gates = 4
    zoneout_states = 2

    def forward(self, gates_x, gates_h, prev, params=()):
        p_i, p_f, p_o = params[0].chunk(3)
        c_prev = prev[1]
        a_i, a_f, a_g, a_o = (gates_x + gates_h).chunk(4, dim=1)
        i = torch.sigmoid(a_i + p_i * c_prev)
        f = torch.sigmoid(a_f + p_f * c_prev)
        g = torch.tanh(a_g)
        c = f * c_prev + i * g
        o = torch.sigmoid(a_o + p_o * c)
        tanh_c = c.tanh()
        return (o * tanh_c, c), (i, f, g, o, c, tanh_c)

    def backward(self, grad, saved, prev, params=()):
        dh, dc = grad
        i, f, g, o, c, tanh_c = saved
        p_i, p_f, p_o = params[0].chunk(3)
        c_prev = prev[1]
        d_o = sigmoid_backward(dh * tanh_c, o)
        dc = dc + tanh_backward(dh * o, tanh_c) + d_o * p_o
        d_i = sigmoid_backward(dc * g, i)
        d_f = sigmoid_backward(dc * c_prev, f)
        d_g = tanh_backward(dc * i, g)
        d_c_prev = dc * f + d_i * p_i + d_f * p_f
        d_peephole = torch.cat(((d_i * c_prev).sum(0), (d_f * c_prev).sum(0), (d_o * c).sum(0)))
        d_gates = (d_i, d_f, d_g, d_o)
        return d_gates, d_gates, (None, d_c_prev), (d_peephole,)


class PeepholeLSTMCell(RecurrentCell):
    """One peephole-LSTM step (Gers & Schmidhuber 2000), torch's gate order i, f, g, o::

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi + p_i * c_{t-1})
        f = sigmoid(W_if x + b_if + W_hf h + b_hf + p_f * c_{t-1})
        g = tanh   (W_ig x + b_ig + W_hg h + b_hg)
        c_t = f * c_{t-1} + i * g
        o = sigmoid(W_io x + b_io + W_ho h + b_ho + p_o * c_t)
        h_t = o * tanh(c_t)

    Shapes: x_t (B, I), h and c (B, H); weight_ih (4H, I), weight_hh (4H, H), biases (4H,),
    peephole (3H,) = [p_i, p_f, p_o].
    """

    State = LSTMState
    pointwise = PeepholeLSTMPointwise()
    param_names = ("peephole",)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        self._make_parameters(num_gates=4, recurrent_size=hidden_size, bias=bias)
        self.peephole = nn.Parameter(torch.empty(3 * hidden_size))
        self.reset_parameters()

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size, self.hidden_size)

    def forward(self, x: Tensor, state: LSTMState | None = None, recurrent_mask=None):
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        h_in = masked(state.h, recurrent_mask)
        gates = linear(x, self.weight_ih, self.bias_ih) + linear(h_in, self.weight_hh, self.bias_hh)
        a_i, a_f, a_g, a_o = gates.chunk(4, dim=1)
        p_i, p_f, p_o = self.peephole.chunk(3)
        i = torch.sigmoid(a_i + p_i * state.c)
        f = torch.sigmoid(a_f + p_f * state.c)
        c = f * state.c + i * torch.tanh(a_g)
        h = torch.sigmoid(a_o + p_o * c) * torch.tanh(c)
        return h, LSTMState(h, c)
