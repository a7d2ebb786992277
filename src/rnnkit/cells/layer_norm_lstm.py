"""LSTM with layer normalisation (Ba, Kiros & Hinton 2016, "Layer Normalization", sec. 3.1
and appendix): the input and the recurrent projections are normalised separately, and
so is the cell state before its tanh."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import layer_norm, linear

from rnnkit.cells.base import Pointwise, RecurrentCell, masked
from rnnkit.cells.layer_norm import (
    EPS,
    normalize,
    normalize_backward,
    normalized_projection,
    normalized_projection_backward,
)
from rnnkit.cells.lstm import LSTMState, sigmoid_backward, tanh_backward

#: The cell's layer-norm gains and shifts, in the order the pointwise part takes them.
LN_LSTM_PARAMS = (
    "ln_ih_weight",
    "ln_ih_bias",
    "ln_hh_weight",
    "ln_hh_bias",
    "ln_c_weight",
    "ln_c_bias",
)


def layer_norm_shapes(names: tuple[str, ...], gates: int, hidden_size: int) -> dict[str, tuple]:
    """(gates * H,) for the projections' norms, (H,) for the cell state's."""
    return {n: (hidden_size,) if n.startswith("ln_c") else (gates * hidden_size,) for n in names}


def reset_layer_norms(params: dict[str, Tensor]) -> None:
    """Gains (``ln_*_weight*``) 1, shifts (``ln_*_bias*``) 0, as torch.nn.LayerNorm starts."""
    with torch.no_grad():
        for name, p in params.items():
            p.fill_(1.0 if "_weight" in name else 0.0)


class LayerNormLSTMPointwise(Pointwise):
    """Gates i, f, g, o of a = LN_ih(gates_x) + LN_hh(gates_h); LN_ih runs over all steps
    at once in ``input_gates``, LN_hh and LN_c in the loop."""

    name = "layernorm_lstm"
    num_gates = 4
    separate_recurrent_grad = True
    input_params = 2
    zoneout_states = 2

    def input_gates(self, x, weight_ih, bias_ih, params):
        return normalized_projection(x, weight_ih, params[0], params[1])

    def input_gates_backward(self, x, weight_ih, bias_ih, params, d_gates):
        d_x, d_w_ih, d_g_ih, d_b_ih = normalized_projection_backward(
            x, weight_ih, params[0], d_gates
        )
        return d_x, d_w_ih, None, (d_g_ih, d_b_ih)

    def forward(self, gates_x, gates_h, prev, params=()):
        _, _, g_hh, b_hh, g_c, b_c = params
        norm_h, h_hat, h_rstd = normalize(gates_h, g_hh, b_hh)
        i, f, g, o = (gates_x + norm_h).chunk(4, dim=1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * prev[1] + i * g
        norm_c, c_hat, c_rstd = normalize(c, g_c, b_c)
        tanh_c = norm_c.tanh()
        return (o * tanh_c, c), (i, f, g, o, tanh_c, h_hat, h_rstd, c_hat, c_rstd)

    def backward(self, grad, saved, prev, params=()):
        dh, dc = grad
        i, f, g, o, tanh_c, h_hat, h_rstd, c_hat, c_rstd = saved
        _, _, g_hh, _, g_c, _ = params
        d_norm_c = tanh_backward(dh * o, tanh_c)
        d_c, d_g_c, d_b_c = normalize_backward(d_norm_c, c_hat, c_rstd, g_c)
        dc = dc + d_c
        d_a = torch.cat(
            (
                sigmoid_backward(dc * g, i),
                sigmoid_backward(dc * prev[1], f),
                tanh_backward(dc * i, g),
                sigmoid_backward(dh * tanh_c, o),
            ),
            dim=1,
        )
        d_gates_h, d_g_hh, d_b_hh = normalize_backward(d_a, h_hat, h_rstd, g_hh)
        d_params = (None, None, d_g_hh, d_b_hh, d_g_c, d_b_c)  # LN_ih's: autograd's
        return (d_a,), (d_gates_h,), (None, dc * f), d_params


class LayerNormLSTMCell(RecurrentCell):
    """One layer-normalised LSTM step (Ba et al. 2016)::

        a = LN(W_ih x_t; g_ih, b_ih) + LN(W_hh h_{t-1}; g_hh, b_hh)      (4H,), order i f g o
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), tanh(a_g), sigmoid(a_o)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(LN(c_t; g_c, b_c))

    LN(v; g, b) = g * (v - mean(v)) / sqrt(var(v) + 1e-5) + b over the vector; the shifts
    b_ih, b_hh act as the gate biases, so the projections have none. Shapes: x_t (B, I),
    h and c (B, H); weight_ih (4H, I), weight_hh (4H, H); ln_ih_*, ln_hh_* (4H,), ln_c_* (H,).
    """

    State = LSTMState
    pointwise = LayerNormLSTMPointwise()
    param_names = LN_LSTM_PARAMS

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self._make_parameters(num_gates=4, recurrent_size=hidden_size, bias=False)
        for name, shape in layer_norm_shapes(LN_LSTM_PARAMS, 4, hidden_size).items():
            setattr(self, name, nn.Parameter(torch.empty(shape)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        reset_layer_norms({n: getattr(self, n) for n in LN_LSTM_PARAMS})

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size, self.hidden_size)

    def forward(self, x: Tensor, state: LSTMState | None = None, recurrent_mask=None):
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        h_in = masked(state.h, recurrent_mask)
        norm = lambda v, g, b: layer_norm(v, g.shape, g, b, EPS)  # noqa: E731
        gates = norm(linear(x, self.weight_ih), self.ln_ih_weight, self.ln_ih_bias) + norm(
            linear(h_in, self.weight_hh), self.ln_hh_weight, self.ln_hh_bias
        )
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(norm(c, self.ln_c_weight, self.ln_c_bias))
        return h, LSTMState(h, c)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"
