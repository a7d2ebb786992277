"""The sLSTM cell of xLSTM (Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory",
sec. 2.2): an exponential input gate, a normaliser state n_t and a stabiliser state m_t,
with block-diagonal recurrent weights, one block per head."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.functional import linear, logsigmoid

from rnnkit.cells.base import CellWeights, Pointwise, RecurrentCell, masked
from rnnkit.cells.lstm import sigmoid_backward, tanh_backward


class SLSTMState(NamedTuple):
    """The state of an ``SLSTMCell``: ``h``, ``c``, ``n``, ``m``, each (B, H)."""

    h: Tensor  # (B, H)
    c: Tensor  # (B, H) cell state, scaled by exp(-m_t)
    n: Tensor  # (B, H) normaliser, scaled the same way
    m: Tensor  # (B, H) stabiliser: the running log-scale of c and n


def stabilised_gates(i_pre: Tensor, f_pre: Tensor, m_prev: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """-> (i', f', m_t): the gates exp(i~) and sigmoid(f~) divided by exp(m_t - m_{t-1}),
    m_t = max(log sigmoid(f~) + m_{t-1}, i~). m_t carries no gradient (as in xLSTM's own
    kernels): c_t and n_t share its scale, so h_t does not depend on it."""
    log_f = logsigmoid(f_pre)
    m = torch.maximum(log_f + m_prev, i_pre).detach()
    return torch.exp(i_pre - m), torch.exp(log_f + m_prev - m), m


class SLSTMPointwise(Pointwise):
    """Gates i, f, z, o of a = gates_x + gates_h; state (h, c, n, m)."""

    name = "slstm"
    num_gates = 4

    def forward(self, gates_x, gates_h, prev, params=()):
        _, c_prev, n_prev, m_prev = prev
        i_pre, f_pre, z_pre, o_pre = (gates_x + gates_h).chunk(4, dim=1)
        i, f, m = stabilised_gates(i_pre, f_pre, m_prev)
        z, o = z_pre.tanh(), o_pre.sigmoid()
        c = f * c_prev + i * z
        n = f * n_prev + i
        h = o * c / n
        return (h, c, n, m), (i, f, z, o, torch.sigmoid(f_pre), c, n)

    def backward(self, grad, saved, prev, params=()):
        dh, dc, dn, _ = grad  # m_t carries no gradient
        i, f, z, o, f_sigmoid, c, n = saved
        _, c_prev, n_prev, _ = prev
        ratio = c / n
        d_ratio = dh * o
        dc = dc + d_ratio / n
        dn = dn - d_ratio * ratio / n
        d_i = (dc * z + dn) * i  # d exp(i~ - m)/d i~ = i'
        d_f_prime = dc * c_prev + dn * n_prev
        d_f = d_f_prime * f * (1 - f_sigmoid)  # d log sigmoid(x)/dx = 1 - sigmoid(x)
        d_z = tanh_backward(dc * i, z)
        d_o = sigmoid_backward(dh * ratio, o)
        d_gates = (d_i, d_f, d_z, d_o)
        # f' = exp(log sigmoid(f~) + m_{t-1} - m_t) also reads m_{t-1}: its gradient reaches
        # m_0, the one stabiliser that is an input rather than a detached output.
        return d_gates, d_gates, (None, dc * f, dn * f, d_f_prime * f), ()


class SLSTMCell(RecurrentCell):
    """One sLSTM step (Beck et al. 2024, eqs. 8-17), gate order i, f, z, o::

        a = W_ih x_t + b + R h_{t-1}          R block-diagonal: `heads` blocks of H/heads
        m_t = max(log sigmoid(a_f) + m_{t-1}, a_i)                    stabiliser
        i' = exp(a_i - m_t);  f' = exp(log sigmoid(a_f) + m_{t-1} - m_t)
        c_t = f' * c_{t-1} + i' * tanh(a_z)
        n_t = f' * n_{t-1} + i'                                       normaliser
        h_t = sigmoid(a_o) * c_t / n_t

    Shapes: x_t (B, I), every state entry (B, H); weight_ih (4H, I), bias (4H,),
    recurrent (4, heads, H/heads, H/heads): gate, head, out unit, in unit. All states
    start at 0 (n_1 = i' > 0, so h_1 is defined).
    """

    State = SLSTMState
    pointwise = SLSTMPointwise()

    def __init__(self, input_size: int, hidden_size: int, heads: int = 4) -> None:
        super().__init__(input_size, hidden_size)
        if (
            not isinstance(heads, int)
            or isinstance(heads, bool)
            or heads < 1
            or hidden_size % heads
        ):
            raise ValueError(
                f"heads must be a positive int that divides hidden_size={hidden_size}, "
                f"got {heads!r}"
            )
        self.heads = heads
        size = hidden_size // heads
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.recurrent = nn.Parameter(torch.empty(4, heads, size, size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for the input weights and bias, U(-1/sqrt(H/heads), ..)
        for each recurrent block (its fan-in)."""
        super().reset_parameters()
        bound = 1.0 / math.sqrt(self.hidden_size // self.heads)
        nn.init.uniform_(self.recurrent, -bound, bound)

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,) * 4

    def weights(self) -> CellWeights:
        """R as a dense (4H, H) matrix, under autograd: the engine's recurrent product is
        then a plain GEMM, and R's gradient is the dense one's blocks."""
        dense = torch.cat([torch.block_diag(*gate) for gate in self.recurrent])
        return CellWeights(self.weight_ih, dense, self.bias, None)

    def forward(self, x: Tensor, state: SLSTMState | None = None, recurrent_mask=None):
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        h_in = masked(state.h, recurrent_mask)
        per_head = h_in.unflatten(1, (self.heads, -1))  # (B, heads, H/heads)
        recurrent = torch.einsum("bkj,gkij->bgki", per_head, self.recurrent).flatten(1)
        a_i, a_f, a_z, a_o = (linear(x, self.weight_ih, self.bias) + recurrent).chunk(4, dim=1)
        i, f, m = stabilised_gates(a_i, a_f, state.m)
        c = f * state.c + i * torch.tanh(a_z)
        n = f * state.n + i
        h = torch.sigmoid(a_o) * c / n
        return h, SLSTMState(h, c, n, m)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, heads={self.heads}"
