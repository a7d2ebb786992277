"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates that read only
x_t, so h_t = a_t * h_{t-1} + b_t is a linear recurrence, which a scan evaluates for
every step at once. Both use the paper's log-space form: the candidate goes through
g(v) = v + 0.5 (v >= 0), sigmoid(v) (v < 0), which is positive, so that b_t > 0.

A cell declares its recurrence, (log a_t, log b_t) from the input projection
(``MIN_COEFFICIENTS``); the engine (``rnnkit.bptt.diagonal``) picks the scan that runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.functional import linear, softplus

from rnnkit.cells.base import RecurrentCell


class MinState(NamedTuple):
    """The state of a ``MinGRUCell`` or a ``MinLSTMCell``: ``h`` (B, H)."""

    h: Tensor  # (B, H)


def g(v: Tensor) -> Tensor:
    """Feng et al.'s positive activation: v + 0.5 for v >= 0, sigmoid(v) below."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: Tensor) -> Tensor:
    """log g(v) without overflow: log(v + 0.5) for v >= 0, -softplus(-v) below."""
    return torch.where(v >= 0, torch.log(v.clamp(min=0) + 0.5), -softplus(-v))


def mingru_coefficients(projection: Tensor) -> tuple[Tensor, Tensor]:
    """(..., 2H) = [k, v] -> (log a, log b), each (..., H)::

    a = 1 - sigmoid(k),  b = sigmoid(k) * g(v)
    """
    k, v = projection.chunk(2, dim=-1)
    # log(1 - sigmoid(k)) = -softplus(k), log sigmoid(k) = -softplus(-k): finite even
    # where sigmoid(k) rounds to 1.
    return -softplus(k), -softplus(-k) + log_g(v)


def minlstm_coefficients(projection: Tensor) -> tuple[Tensor, Tensor]:
    """(..., 3H) = [k_f, k_i, v] -> (log a, log b), each (..., H)::

    f, i = sigmoid(k_f), sigmoid(k_i);  a = f / (f + i),  b = i / (f + i) * g(v)
    """
    k_f, k_i, v = projection.chunk(3, dim=-1)
    log_f, log_i = -softplus(-k_f), -softplus(-k_i)
    total = torch.logaddexp(log_f, log_i)
    return log_f - total, log_i - total + log_g(v)


#: Each min cell's coefficients by the name its ``sequence`` declares.
MIN_COEFFICIENTS: dict[str, Callable[[Tensor], tuple[Tensor, Tensor]]] = {
    "mingru": mingru_coefficients,
    "minlstm": minlstm_coefficients,
}


def with_zoneout(log_a: Tensor, log_b: Tensor, zoneout: Tensor | None) -> tuple[Tensor, Tensor]:
    """Zoneout on h_t = a h_{t-1} + b, z h_{t-1} + (1 - z) h_t, is the same recurrence with
    a' = z + (1 - z) a and b' = (1 - z) b: in training z in {0, 1} (1 keeps the previous
    state: a' = 1, b' = 0), at inference z is the rate p (a 0-d tensor, 0 < p < 1)."""
    if zoneout is None:
        return log_a, log_b
    if zoneout.dim() == 0:
        log_keep, log_update = torch.log(zoneout), torch.log1p(-zoneout)
        return torch.logaddexp(log_keep, log_update + log_a), log_update + log_b
    # Selected rather than logaddexp(log z, ...): its second derivative at log z = -inf
    # is NaN, and a gradient penalty needs it.
    keep = zoneout.bool()
    return torch.where(keep, 0.0, log_a), torch.where(keep, float("-inf"), log_b)


class _MinCell(RecurrentCell):
    """What minGRU and minLSTM share: parameters and the sequential step. Over a whole
    sequence the engine runs their recurrence, named by ``sequence``, as a scan."""

    State = MinState
    has_recurrent_weights = False
    num_blocks: int
    #: The element-wise recurrence the engine runs over a whole sequence: a key of
    #: ``MIN_COEFFICIENTS``, and the name the engine's ops know it by.
    sequence: str

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(self.num_blocks * hidden_size, input_size))
        self.bias_ih = nn.Parameter(torch.empty(self.num_blocks * hidden_size)) if bias else None
        self.reset_parameters()

    def coefficients(self, projection: Tensor) -> tuple[Tensor, Tensor]:
        """The input projection (..., blocks * H) -> (log a, log b), each (..., H)."""
        return MIN_COEFFICIENTS[self.sequence](projection)

    def forward(self, x: Tensor, state: MinState | None = None, recurrent_mask=None):
        """The sequential mode: one step, h_t = a_t * h_{t-1} + b_t."""
        if recurrent_mask is not None:
            raise ValueError(f"{type(self).__name__} has no recurrent weights to drop out")
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        log_a, log_b = self.coefficients(linear(x, self.weight_ih, self.bias_ih))
        h = log_a.exp() * state.h + log_b.exp()
        return h, MinState(h)


class MinGRUCell(_MinCell):
    """One minGRU step (Feng et al. 2024, sec. 3.1 and appendix, log-space version)::

        z_t = sigmoid(W_z x_t + b_z)           update gate: reads x_t only
        h~_t = g(W_h x_t + b_h)                candidate, g > 0
        h_t = (1 - z_t) * h_{t-1} + z_t * h~_t

    Shapes: x_t (B, I), h (B, H); weight_ih (2H, I) = [W_z; W_h], bias_ih (2H,).
    """

    num_blocks = 2
    sequence = "mingru"


class MinLSTMCell(_MinCell):
    """One minLSTM step (Feng et al. 2024, sec. 3.2, log-space version)::

        f_t = sigmoid(W_f x_t + b_f);  i_t = sigmoid(W_i x_t + b_i)
        f'_t, i'_t = f_t / (f_t + i_t), i_t / (f_t + i_t)     normalised: time-independent scale
        h_t = f'_t * h_{t-1} + i'_t * g(W_h x_t + b_h)

    Shapes: x_t (B, I), h (B, H); weight_ih (3H, I) = [W_f; W_i; W_h], bias_ih (3H,).
    """

    num_blocks = 3
    sequence = "minlstm"
