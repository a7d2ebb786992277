"""The protocol every recurrent cell follows.

A cell is the math of ONE time step. It comes in two pieces:

* ``RecurrentCell`` (an ``nn.Module``) owns the parameters and defines the step as a
  plain, readable ``forward(x_t, state) -> (y_t, new_state)``. Run under autograd, this
  is the reference every fast path is tested against.
* ``Pointwise`` is the part of the step that the engine cannot do as a GEMM, with its
  hand-derived derivative. A cell that has one runs on the explicit-BPTT engine:

      gates_x = x_t     @ weight_ih.T + bias_ih        # all steps at once: one GEMM
      gates_h = h_{t-1} @ weight_hh.T + bias_hh        # one GEMM per step
      new_state, saved = pointwise.forward(gates_x, gates_h, prev_state)

  A cell without one (``pointwise is None``) still works through the autograd unroll.

Cells that have parameters besides the GEMM weights (layer-norm gains, peepholes) hand
them to the pointwise object as ``params``, and get their gradients back from
``backward``. The pointwise object itself holds no parameters, so ``rnnkit.nn``'s drop-in
modules, which keep their weights flat under torch.nn's names, use the same math as the
cells.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn


def masked(h: Tensor, recurrent_mask: Tensor | None) -> Tensor:
    """h_{t-1} as the recurrent weights see it: times Gal & Ghahramani's per-sequence
    dropout mask (B, P) in training with recurrent dropout."""
    return h if recurrent_mask is None else h * recurrent_mask


class CellWeights(NamedTuple):
    """The weights the engine multiplies with; G = gates * hidden_size, P = output size."""

    weight_ih: Tensor  # (G, I)
    weight_hh: Tensor  # (G, P)
    bias_ih: Tensor | None  # (G,)
    bias_hh: Tensor | None  # (G,)
    weight_hr: Tensor | None = None  # (P, H): LSTM's output projection, else None


class Pointwise(ABC):
    """The non-GEMM part of one step and its derivative.

    States are tuples of (batch, size) tensors whose first entry ``h`` is the recurrent
    input and the output. ``forward`` returns the first entry *before* any output
    projection (the engine applies ``weight_hr``).
    """

    #: The name the engine's ops know this math by (``pointwise_named`` gives it back):
    #: what crosses an op boundary is this string, never the object.
    name: str
    #: G = num_gates * hidden_size columns in weight_ih / weight_hh.
    num_gates: int
    #: True when d(gates_h) differs from d(gates_x) (GRU's reset gate multiplies gates_h).
    separate_recurrent_grad: bool = False
    #: Zoneout acts on the first this many state entries (h, and c where there is one).
    zoneout_states: int = 1
    #: How many leading ``params`` only ``input_gates`` uses. On the PyTorch engine such a
    #: cell's input gates are formed under autograd, outside the loop, which then gets no
    #: gradient for them; the native loops form them (layer norm included) themselves.
    input_params: int = 0

    def input_gates(
        self, x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, params: tuple[Tensor, ...]
    ) -> Tensor:
        """gates_x of every step at once, (T, B, I) -> (T, B, G), under autograd."""
        return torch.nn.functional.linear(x, weight_ih, bias_ih)

    def input_gates_backward(
        self,
        x: Tensor,
        weight_ih: Tensor,
        bias_ih: Tensor | None,
        params: tuple[Tensor, ...],
        d_gates: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor | None, tuple[Tensor, ...]]:
        """dL/d gates_x (T, B, G) -> (dL/dx, dL/d weight_ih, dL/d bias_ih, dL/d the first
        ``input_params`` params) of ``input_gates``; for the product, the usual GEMMs."""
        rows, d_rows = x.reshape(-1, x.shape[-1]), d_gates.reshape(-1, d_gates.shape[-1])
        d_bias = None if bias_ih is None else d_rows.sum(0)
        return (d_gates @ weight_ih), d_rows.T @ rows, d_bias, ()

    @abstractmethod
    def forward(
        self, gates_x: Tensor, gates_h: Tensor, prev: tuple[Tensor, ...], params=()
    ) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """(B, G), (B, G), state -> (new state, tensors that ``backward`` needs)."""

    @abstractmethod
    def backward(
        self,
        grad: tuple[Tensor, ...],
        saved: tuple[Tensor, ...],
        prev: tuple[Tensor, ...],
        params=(),
    ) -> tuple[
        tuple[Tensor, ...], tuple[Tensor, ...], tuple[Tensor | None, ...], tuple[Tensor, ...]
    ]:
        """dL/d(new state) -> (dL/d gates_x, dL/d gates_h, pointwise part of dL/d prev,
        dL/d params summed over the batch).

        The gate gradients come as their per-gate (B, H) blocks, which the engine writes
        side by side into its (T, B, G) buffer without an intermediate copy. An entry of
        the third tuple may be None for zero; the engine adds ``dL/d gates_h @ weight_hh``
        to the ``h`` entry itself.
        """


class RecurrentCell(nn.Module):
    """Base class: sizes, the state layout, zero initial state and the fast split."""

    State: type[Any]  # a NamedTuple whose first field is h
    pointwise: Pointwise | None = None
    #: Attribute names of the parameters ``pointwise`` takes as ``params``, in order.
    param_names: tuple[str, ...] = ()
    #: False where h_{t-1} reaches h_t without weights (minGRU, minLSTM): nothing for
    #: recurrent dropout or weight drop to act on.
    has_recurrent_weights: bool = True
    #: Cells with an element-wise recurrence name it here ("mingru", "indrnn_relu", ...);
    #: the engine (``rnnkit.bptt.diagonal``) runs it over the whole sequence.
    sequence: str | None = None

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size

    @property
    def output_size(self) -> int:
        """Size of y_t and of h (the projection size where there is one)."""
        return self.hidden_size

    def state_sizes(self) -> tuple[int, ...]:
        """Feature size of each state entry, in ``State`` order."""
        return (self.output_size,)

    def init_state(
        self,
        batch_size: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Any:
        """Zeros of shape (batch_size, size) for every state entry."""
        dtype = dtype or self.weight_ih.dtype
        device = device or self.weight_ih.device
        return self.State(
            *(torch.zeros(batch_size, n, device=device, dtype=dtype) for n in self.state_sizes())
        )

    def weights(self) -> CellWeights:
        # Straight from _parameters: Module.__getattr__ costs microseconds per streamed step.
        p = self._parameters
        return CellWeights(
            p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], p.get("weight_hr")
        )

    def params(self) -> tuple[Tensor, ...]:
        """The ``params`` of ``pointwise``."""
        return tuple(getattr(self, name) for name in self.param_names)

    def reset_parameters(self) -> None:
        """torch.nn's initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every parameter."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def _make_parameters(self, num_gates: int, recurrent_size: int, bias: bool) -> None:
        gate_size = num_gates * self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gate_size, self.input_size))
        self.weight_hh = nn.Parameter(torch.empty(gate_size, recurrent_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gate_size))
            self.bias_hh = nn.Parameter(torch.empty(gate_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"
