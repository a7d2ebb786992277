"""The vanilla (Elman, 1990) recurrent cell."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.cells.base import Pointwise, RecurrentCell, masked

NONLINEARITIES = ("tanh", "relu")


class ElmanState(NamedTuple):
    """The state of an ``ElmanCell``: ``h`` (B, H)."""

    h: Tensor  # (B, H)


class ElmanPointwise(Pointwise):
    """h_t = act(a_t), a_t = gates_x + gates_h; act' is read off h_t itself."""

    num_gates = 1

    def __init__(self, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.name = f"elman_{nonlinearity}"

    def forward(self, gates_x, gates_h, prev, params=()):
        pre = gates_x + gates_h
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return (h,), (h,)

    def backward(self, grad, saved, prev, params=()):
        (dh,), (h,) = grad, saved
        if self.nonlinearity == "tanh":
            d_pre = dh * (1 - h * h)  # tanh' = 1 - tanh^2
        else:
            # relu' = 1 where the output is positive, as torch's threshold_backward: 0 (not
            # 0 * inf) where h <= 0, and dh passed on where h is NaN.
            d_pre = dh.masked_fill(h <= 0, 0)
        return (d_pre,), (d_pre,), (None,), ()


#: One pointwise part per nonlinearity, shared by every cell and layer that uses it.
ELMAN_POINTWISE = {n: ElmanPointwise(n) for n in NONLINEARITIES}


class ElmanCell(RecurrentCell):
    """Vanilla RNN step, torch.nn.RNNCell's parameters::

        h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act = tanh or relu

    Shapes: x_t (B, I), h (B, H); weight_ih (H, I), weight_hh (H, H), biases (H,).
    ``y_t = h_t``.
    """

    State = ElmanState

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.nonlinearity = ElmanPointwise(nonlinearity).nonlinearity  # checked there
        self._make_parameters(num_gates=1, recurrent_size=hidden_size, bias=bias)
        self.reset_parameters()

    @property
    def pointwise(self) -> ElmanPointwise:
        # Looked up, not held: a saved cell then pickles no rnnkit object but itself.
        return ELMAN_POINTWISE[self.nonlinearity]

    def forward(
        self, x: Tensor, state: ElmanState | None = None, recurrent_mask: Tensor | None = None
    ) -> tuple[Tensor, ElmanState]:
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        pre = torch.nn.functional.linear(x, self.weight_ih, self.bias_ih)
        pre = pre + torch.nn.functional.linear(
            masked(state.h, recurrent_mask), self.weight_hh, self.bias_hh
        )
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h, ElmanState(h)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"
