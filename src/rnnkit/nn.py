"""Drop-in replacements for torch.nn.RNN, torch.nn.LSTM and torch.nn.GRU.

Switching is one line::

    from rnnkit import nn as rnn          # was: from torch import nn as rnn
    lstm = rnn.LSTM(8, 64, num_layers=2, batch_first=True)
    output, (h_n, c_n) = lstm(x)

Same constructor arguments, forward signature, return values, parameter names and
``state_dict`` keys as torch.nn, so ``lstm.load_state_dict(torch_lstm.state_dict())``
works both ways. Additions:

* ``forward(x, hx, lengths=...)`` takes a padded batch with its lengths directly.
* Regularisers in the time loop, active in training mode (``rnnkit.layers.regularisers``):
  ``zoneout``, ``recurrent_dropout`` (variational, one mask per sequence) and
  ``weight_drop`` (DropConnect on the recurrent weights); they keep torch.nn's names.
* ``layer_norm=True`` (LSTM, GRU): Ba et al.'s layer-normalised cell
  (``rnnkit.cells.LayerNormLSTMCell``); its norms' gains and shifts, named
  ``ln_*_l{k}``, take the place of the biases.

    lstm = rnn.LSTM(8, 64, layer_norm=True, zoneout=0.1, recurrent_dropout=0.25, weight_drop=0.5)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import astuple
from functools import partial

import torch
from torch import Tensor
from torch.nn import Module, Parameter
from torch.nn.functional import dropout as apply_dropout
from torch.nn.utils.rnn import PackedSequence

from rnnkit.bptt.step import Stepper
from rnnkit.cells import (
    CellWeights,
    ElmanPointwise,
    GRUPointwise,
    LayerNormGRUPointwise,
    LayerNormLSTMPointwise,
    LSTMPointwise,
    Pointwise,
    pointwise_named,
)
from rnnkit.cells.layer_norm_gru import LN_GRU_PARAMS
from rnnkit.cells.layer_norm_lstm import LN_LSTM_PARAMS, layer_norm_shapes, reset_layer_norms
from rnnkit.layers.engine import run_pointwise
from rnnkit.layers.regularisers import Regularisers
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
        zoneout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        layer_norm_params: tuple[str, ...] = (),
        num_states: int = 1,
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
        self.regularisers = Regularisers(zoneout, recurrent_dropout, weight_drop)
        if proj_size and (self.regularisers.in_loop(training=True) or layer_norm_params):
            raise ValueError(
                "zoneout, recurrent_dropout and layer_norm need proj_size=0 "
                "(weight_drop is allowed)"
            )
        if layer_norm_params and not bias:
            raise ValueError("layer_norm=True needs bias=True: the norms' shifts are the biases")
        if self.dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} acts between layers, so it does nothing with num_layers=1",
                stacklevel=3,
            )
        self.pointwise = pointwise
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.proj_size = proj_size
        self.layer_norm = bool(layer_norm_params)
        self.num_states = num_states
        self.num_directions = 2 if bidirectional else 1
        output_size = proj_size or hidden_size
        gate_size = pointwise.num_gates * hidden_size
        factory = {"device": device, "dtype": dtype}
        self._weight_names: list[list[tuple[str | None, ...]]] = []  # CellWeights' order
        self._param_names: list[list[tuple[str, ...]]] = []
        bias = bias and not layer_norm_params
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else output_size * self.num_directions
            names, param_names = [], []
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
                names.append(tuple(n if s is not None else None for n, s in shapes.items()))
                extra = layer_norm_shapes(layer_norm_params, pointwise.num_gates, hidden_size)
                for name, shape in extra.items():
                    full = f"{name}_l{layer}{suffix}"
                    self.register_parameter(full, Parameter(torch.empty(shape, **factory)))
                param_names.append(tuple(f"{n}_l{layer}{suffix}" for n in extra))
            self._weight_names.append(names)
            self._param_names.append(param_names)
        self.reset_parameters()

    def __getstate__(self) -> dict:
        """Pickled as plain values (the cell by name, the regularisers' rates), so that a
        saved module loads with ``torch.load`` (weights_only) once its own class is
        allowlisted, as torch.nn's RNNs do."""
        state = self.__dict__.copy()
        state["pointwise"] = self.pointwise.name
        state["regularisers"] = astuple(self.regularisers)
        return state

    def __setstate__(self, state: dict) -> None:
        state = {
            **state,
            "pointwise": pointwise_named(state["pointwise"]),
            "regularisers": Regularisers(*state["regularisers"]),
        }
        super().__setstate__(state)

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias, as torch.nn does; layer
        norms start at gain 1 and shift 0."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        norms = {n for layer in self._param_names for names in layer for n in names}
        for name, weight in self.named_parameters():
            if name not in norms:
                torch.nn.init.uniform_(weight, -bound, bound)
        reset_layer_norms({n: self._parameters[n] for n in norms})

    def flatten_parameters(self) -> None:
        """Nothing to do: kept so that code written for torch.nn runs unchanged."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [
            [getattr(self, n) for n in (*names, *extra) if n is not None]
            for layer, layer_extra in zip(self._weight_names, self._param_names, strict=True)
            for names, extra in zip(layer, layer_extra, strict=True)
        ]

    def _weights(self, layer: int, direction: int) -> CellWeights:
        # Straight from _parameters: Module.__getattr__ costs microseconds per streamed step.
        p = self._parameters
        return CellWeights._make(
            [p[n] if n is not None else None for n in self._weight_names[layer][direction]]
        )

    def _params(self, layer: int, direction: int) -> tuple[Tensor, ...]:
        """The pointwise part's parameters (the layer norms'), in its order."""
        return tuple(self._parameters[n] for n in self._param_names[layer][direction])

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
                self.pointwise,
                partial(self._weights, layer, 0),
                tuple(s[layer] for s in state),
                params=partial(self._params, layer, 0) if self.layer_norm else tuple,
                zoneout=self.regularisers.zoneout,
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
        if self.num_states == 2:
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
                name = f"l{layer}" + ("_reverse" if direction else "")
                engine = partial(
                    run_pointwise, self.pointwise, self._weights(layer, direction),
                    self._params(layer, direction), self.regularisers, self.training, name,
                )  # fmt: skip
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
            ("layer_norm", False),
        ):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return f"{text}, {self.regularisers}" if self.regularisers.any() else text


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
        zoneout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
    ) -> None:
        super().__init__(
            ElmanPointwise(nonlinearity), input_size, hidden_size, num_layers, bias,
            batch_first, dropout, bidirectional, device=device, dtype=dtype, zoneout=zoneout,
            recurrent_dropout=recurrent_dropout, weight_drop=weight_drop,
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
        zoneout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        layer_norm: bool = False,
    ) -> None:
        super().__init__(
            LayerNormLSTMPointwise() if layer_norm else LSTMPointwise(), input_size,
            hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
            device, dtype, zoneout, recurrent_dropout, weight_drop,
            LN_LSTM_PARAMS if layer_norm else (), num_states=2,
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
        zoneout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        layer_norm: bool = False,
    ) -> None:
        super().__init__(
            LayerNormGRUPointwise() if layer_norm else GRUPointwise(), input_size,
            hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            device=device, dtype=dtype, zoneout=zoneout, recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop, layer_norm_params=LN_GRU_PARAMS if layer_norm else (),
        )  # fmt: skip
