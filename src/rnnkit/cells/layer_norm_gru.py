"""GRU with layer normalisation of the input and the recurrent projections (Ba, Kiros &
Hinton 2016), in torch.nn.GRU's formulation: the reset gate multiplies the normalised
recurrent part of the candidate."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import layer_norm, linear

from rnnkit.cells.base import Pointwise, RecurrentCell, masked
from rnnkit.cells.gru import GRUState
from rnnkit.cells.layer_norm import (
    EPS,
    normalize,
    normalize_backward,
    normalized_projection,
    normalized_projection_backward,
)
from rnnkit.cells.layer_norm_lstm import layer_norm_shapes, reset_layer_norms
from rnnkit.cells.lstm import sigmoid_backward, tanh_backward

LN_GRU_PARAMS = ("ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias")


class LayerNormGRUPointwise(Pointwise):
    """Gates r, z, n from LN_ih(gates_x) (all steps at once, in ``input_gates``) and
    LN_hh(gates_h) (in the loop)."""

    name = "layernorm_gru"
    num_gates = 3
    separate_recurrent_grad = True
    input_params = 2

    def input_gates(self, x, weight_ih, bias_ih, params):
        return normalized_projection(x, weight_ih, params[0], params[1])

    def input_gates_backward(self, x, weight_ih, bias_ih, params, d_gates):
        d_x, d_w_ih, d_g_ih, d_b_ih = normalized_projection_backward(
            x, weight_ih, params[0], d_gates
        )
        return d_x, d_w_ih, None, (d_g_ih, d_b_ih)

    def forward(self, gates_x, gates_h, prev, params=()):
        _, _, g_hh, b_hh = params
        norm_h, h_hat, h_rstd = normalize(gates_h, g_hh, b_hh)
        x_r, x_z, x_n = gates_x.chunk(3, dim=1)
        h_r, h_z, h_n = norm_h.chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = n + z * (prev[0] - n)
        return (h,), (r, z, n, h_n, h_hat, h_rstd)

    def backward(self, grad, saved, prev, params=()):
        (dh,), (r, z, n, h_n, h_hat, h_rstd) = grad, saved
        g_hh = params[2]
        d_n = tanh_backward(dh * (1 - z), n)
        d_r = sigmoid_backward(d_n * h_n, r)
        d_z = sigmoid_backward(dh * (prev[0] - n), z)
        d_norm_h = torch.cat((d_r, d_z, d_n * r), dim=1)
        d_gates_h, d_g_hh, d_b_hh = normalize_backward(d_norm_h, h_hat, h_rstd, g_hh)
        return (d_r, d_z, d_n), (d_gates_h,), (dh * z,), (None, None, d_g_hh, d_b_hh)


class LayerNormGRUCell(RecurrentCell):
    """One layer-normalised GRU step::

        u = LN(W_ih x_t; g_ih, b_ih),  v = LN(W_hh h_{t-1}; g_hh, b_hh)      (3H,) each, r z n
        r = sigmoid(u_r + v_r);  z = sigmoid(u_z + v_z);  n = tanh(u_n + r * v_n)
        h_t = (1 - z) * n + z * h_{t-1}

    The shifts act as the biases. Shapes: x_t (B, I), h (B, H); weight_ih (3H, I),
    weight_hh (3H, H); ln_* (3H,).
    """

    State = GRUState
    pointwise = LayerNormGRUPointwise()
    param_names = LN_GRU_PARAMS

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self._make_parameters(num_gates=3, recurrent_size=hidden_size, bias=False)
        for name, shape in layer_norm_shapes(LN_GRU_PARAMS, 3, hidden_size).items():
            setattr(self, name, nn.Parameter(torch.empty(shape)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        reset_layer_norms({n: getattr(self, n) for n in LN_GRU_PARAMS})

    def forward(self, x: Tensor, state: GRUState | None = None, recurrent_mask=None):
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        h_in = masked(state.h, recurrent_mask)
        norm = lambda v, g, b: layer_norm(v, g.shape, g, b, EPS)  # noqa: E731
        x_r, x_z, x_n = norm(linear(x, self.weight_ih), self.ln_ih_weight, self.ln_ih_bias).chunk(
            3, 1
        )
        h_r, h_z, h_n = norm(
            linear(h_in, self.weight_hh), self.ln_hh_weight, self.ln_hh_bias
        ).chunk(3, 1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * state.h
        return h, GRUState(h)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"
