"""Drop-in replacements for torch.nn.RNN, torch.nn.LSTM and torch.nn.GRU.

Switching is one line::

    from rnnkit import nn as rnn          # was: from torch import nn as rnn
    lstm = rnn.LSTM(8, 64, num_layers=2, batch_first=True)
    output, (h_n, c_n) = lstm(x)

Same constructor arguments, forward signature, return values, parameter names and
``state_dict`` keys as torch.nn, so ``lstm.load_state_dict(torch_lstm.state_dict())``
works both ways. One addition: ``forward(x, hx, lengths=...)`` takes a padded batch with
its lengths directly, without packing.
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import torch
from torch import Tensor
from torch.nn import Module, Parameter
from torch.nn.functional import dropout as apply_dropout
from torch.nn.utils.rnn import PackedSequence

from rnnkit.bptt import explicit_bptt
from rnnkit.bptt.step import Stepper
from rnnkit.cells import CellWeights, ElmanPointwise, GRUPointwise, LSTMPointwise, Pointwise
from rnnkit.layers.sequence import from_time_major, run_direction, to_time_major
from rnnkit.layers.stream import Stream
from rnnkit.layers.validation import (
    check_batch_size,
    check_input,
    check_probability,
    check_state,
)

__all__ = ["GRU", "LSTM", "RNN"]


class _StackedRecurrent(Module):
    """torch.nn.RNNBase's parameters and forward, computed by rnnkit's engine."""

    def __init__(
        self,
        pointwise: Pointwise,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("input_size", input_size, 1),
            ("hidden_size", hidden_size, 1),
            ("num_layers", num_layers, 1),
            ("proj_size", proj_size, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if proj_size >= hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size={hidden_size}, got {proj_size}"
            )
        self.dropout = check_probability(dropout, "dropout", allow_one=True)
        if self.dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} acts between layers, so it does nothing with num_layers=1",
                stacklevel=3,
            )
        self.pointwise = pointwise
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.proj_size = proj_size
        self.num_directions = 2 if bidirectional else 1
        output_size = proj_size or hidden_size
        gate_size = pointwise.num_gates * hidden_size
        factory = {"device": device, "dtype": dtype}
        self._weight_names: list[list[CellWeights]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else output_size * self.num_directions
            names = []
            for suffix in [""] + (["_reverse"] if bidirectional else []):
                shapes = {
                    f"weight_ih_l{layer}{suffix}": (gate_size, layer_input),
                    f"weight_hh_l{layer}{suffix}": (gate_size, output_size),
                    f"bias_ih_l{layer}{suffix}": (gate_size,) if bias else None,
                    f"bias_hh_l{layer}{suffix}": (gate_size,) if bias else None,
                    f"weight_hr_l{layer}{suffix}": (proj_size, hidden_size) if proj_size else None,
                }
                for name, shape in shapes.items():
                    if shape is not None:
                        self.register_parameter(name, Parameter(torch.empty(shape, **factory)))
                names.append(
                    CellWeights(*(n if s is not None else None for n, s in shapes.items()))
                )
            self._weight_names.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch.nn does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            torch.nn.init.uniform_(weight, -bound, bound)

    def flatten_parameters(self) -> None:
        """Nothing to do: kept so that code written for torch.nn runs unchanged."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [
            [getattr(self, n) for n in names if n is not None]
            for layer in self._weight_names
            for names in layer
        ]

    def _weights(self, layer: int, direction: int) -> CellWeights:
        # Straight from _parameters: Module.__getattr__ costs microseconds per streamed step.
        p = self._parameters
        return CellWeights._make(
            [p[n] if n is not None else None for n in self._weight_names[layer][direction]]
        )

    def stream(
        self, batch_size: int = 1, hx: Tensor | tuple[Tensor, Tensor] | None = None
    ) -> Stream:
        """Run one time step per call on live data (see ``rnnkit.layers.stream``)::

        stream = lstm.stream(batch_size=1)
        y_t = stream.step(x_t)          # x_t (1, I) -> y_t (1, P)
        h_n, c_n = stream.state         # torch.nn's (num_layers, B, size) layout
        """
        if self.bidirectional:
            raise ValueError(
                "stream() needs bidirectional=False: the reverse direction reads from the end"
            )
        check_batch_size(batch_size)
        shapes = self._state_shapes(batch_size)
        weight = self.weight_ih_l0
        state = (
            [weight.new_zeros(s) for s in shapes]
            if hx is None
            else check_state(hx, shapes, weight, "hx")
        )
        steppers = [
            Stepper(
                self.pointwise, partial(self._weights, layer, 0), tuple(s[layer] for s in state)
            )
            for layer in range(self.num_layers)
        ]

        def torch_layout(states: list[tuple[Tensor, ...]]) -> Tensor | tuple[Tensor, ...]:
            entries = [torch.stack(entry) for entry in zip(*states, strict=True)]
            return entries[0] if len(entries) == 1 else tuple(entries)

        return Stream(steppers, self.input_size, weight, torch_layout)

    def _state_shapes(self, batch: int) -> list[tuple[int, ...]]:
        rows = self.num_layers * self.num_directions
        shapes = [(rows, batch, self.proj_size or self.hidden_size)]
        if isinstance(self.pointwise, LSTMPointwise):
            shapes.append((rows, batch, self.hidden_size))
        return shapes

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | list[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        x, lengths, layout = to_time_major(input, lengths, self.batch_first)
        weight = self.weight_ih_l0
        unbatched = isinstance(x, Tensor) and x.dim() == 2 and layout.packed is None
        if unbatched:  # (T, I), as torch.nn allows; state is then (L * D, size)
            if lengths is not None:
                raise ValueError(
                    "lengths must be None for unbatched (T, I) input: it is one sequence"
                )
            x = x.unsqueeze(1)
        shape = (
            "(B, T, I) or unbatched (T, I)" if self.batch_first else "(T, B, I) or unbatched (T, I)"
        )
        check_input(x, self.input_size, weight, "input", shape)
        shapes = self._state_shapes(x.shape[1])
        if hx is None:
            state = [x.new_zeros(s) for s in shapes]
        else:
            if unbatched:
                shapes = [(s[0], s[2]) for s in shapes]
            state = check_state(hx, shapes, weight, "hx")
            state = [s.unsqueeze(1) if unbatched else s for s in state]

        finals = []
        for layer in range(self.num_layers):
            if layer > 0:
                x = apply_dropout(x, self.dropout, self.training)
            outputs = []
            for direction in range(self.num_directions):
                row = layer * self.num_directions + direction
                weights = self._weights(layer, direction)
                name = f"l{layer}" + ("_reverse" if direction else "")
                engine = partial(_run_engine, self.pointwise, weights, name)
                y, final = run_direction(
                    engine, x, tuple(s[row] for s in state), lengths, reverse=direction == 1
                )
                outputs.append(y)
                finals.append(final)
            x = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)

        final_state = [
            torch.stack(entry) for entry in zip(*finals, strict=True)
        ]  # (L * D, B, size) each
        if unbatched:
            x = x.squeeze(1)
            final_state = [s.squeeze(1) for s in final_state]
        output = x if unbatched else from_time_major(x, lengths, layout)
        return output, final_state[0] if len(final_state) == 1 else tuple(final_state)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        for name, default in (
            ("proj_size", 0),
            ("num_layers", 1),
            ("bias", True),
            ("batch_first", False),
            ("dropout", 0.0),
            ("bidirectional", False),
        ):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


def _run_engine(pointwise, weights, name, x, state0, lengths):
    return explicit_bptt(pointwise, weights, x, state0, lengths, name)


class RNN(_StackedRecurrent):
    """Elman RNN, h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu:
    torch.nn.RNN's interface on rnnkit's engine. Returns ``(output, h_n)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            ElmanPointwise(nonlinearity), input_size, hidden_size, num_layers, bias,
            batch_first, dropout, bidirectional, device=device, dtype=dtype,
        )  # fmt: skip
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return (
            text if self.nonlinearity == "tanh" else f"{text}, nonlinearity={self.nonlinearity!r}"
        )


class LSTM(_StackedRecurrent):
    """LSTM with torch.nn.LSTM's interface (gate order i, f, g, o; ``proj_size``) on
    rnnkit's engine. Returns ``(output, (h_n, c_n))``; equations in ``rnnkit.cells.LSTMCell``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            LSTMPointwise(), input_size, hidden_size, num_layers, bias,
            batch_first, dropout, bidirectional, proj_size, device, dtype,
        )  # fmt: skip


class GRU(_StackedRecurrent):
    """GRU with torch.nn.GRU's interface (gate order r, z, n) on rnnkit's engine.
    Returns ``(output, h_n)``; equations in ``rnnkit.cells.GRUCell``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            GRUPointwise(), input_size, hidden_size, num_layers, bias,
            batch_first, dropout, bidirectional, device=device, dtype=dtype,
        )  # fmt: skip
