"""The independently recurrent network (Li et al. 2018, "Independently Recurrent Neural
Network (IndRNN): Building A Longer and Deeper RNN"): each unit feeds back only its own
previous output, through one weight, so the recurrence has no matrix product. The cell
declares that recurrence (``sequence``); the engine (``rnnkit.bptt.diagonal``) runs it."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.functional import linear

from rnnkit.cells.base import RecurrentCell, masked
from rnnkit.cells.elman import NONLINEARITIES


class IndRNNState(NamedTuple):
    """The state of an ``IndRNNCell``: ``h`` (B, H)."""

    h: Tensor  # (B, H)


class IndRNNCell(RecurrentCell):
    """One IndRNN step::

        h_t = act(W_ih x_t + b_ih + u * h_{t-1}),   act = relu (default) or tanh

    ``u * h`` is element-wise: unit j sees only its own h_{t-1, j}. Shapes: x_t (B, I),
    h (B, H); weight_ih (H, I), bias_ih (H,), weight_hh = u (H,), which starts uniform in
    [0, 1] (Li et al. keep |u| small enough that u^T neither vanishes nor explodes).
    """

    State = IndRNNState
    has_recurrent_weights = True

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "relu"
    ) -> None:
        super().__init__(input_size, hidden_size)
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        if self.bias_ih is not None:
            nn.init.uniform_(self.bias_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, 0.0, 1.0)

    def _act(self, v: Tensor) -> Tensor:
        return torch.relu(v) if self.nonlinearity == "relu" else torch.tanh(v)

    def forward(self, x: Tensor, state: IndRNNState | None = None, recurrent_mask=None):
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        h_in = masked(state.h, recurrent_mask)
        h = self._act(linear(x, self.weight_ih, self.bias_ih) + self.weight_hh * h_in)
        return h, IndRNNState(h)

    @property
    def sequence(self) -> str:
        """The element-wise recurrence the engine runs over a whole sequence, by the name
        its ops know it by: "indrnn_relu" or "indrnn_tanh"."""
        return f"indrnn_{self.nonlinearity}"

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"
