"""Streaming: one cell run one time step at a time, its state kept between calls.

For online prediction on live data, where each input arrives alone: ``Stepper.step(x_t)``
costs one step, not a sequence. The native kernel runs the step where it can (weights
prepared once, state updated in place); otherwise the cell's own math runs in PyTorch.
Streaming is inference: no gradients flow through it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnkit.bptt import backend
from rnnkit.cells.base import CellWeights, Pointwise, RecurrentCell


class Stepper:
    """One layer's step with its state.

    ``weights`` returns the layer's current weights, so that training between steps (or
    ``load_state_dict``) is seen: the prepared copy is remade when any weight changes.
    ``cell`` runs the step for cells without a ``Pointwise``. With zoneout, the step is
    its inference form: s_t = p * s_{t-1} + (1 - p) * s_t on the zoned state entries.
    """

    def __init__(
        self,
        pointwise: Pointwise | None,
        weights: Callable[[], CellWeights],
        state: tuple[Tensor, ...],
        cell: RecurrentCell | None = None,
        params: Callable[[], tuple[Tensor, ...]] = tuple,
        zoneout: float = 0.0,
    ) -> None:
        self.pointwise, self.weights, self.cell, self.params = pointwise, weights, cell, params
        self.zoneout = zoneout
        self._zoned = pointwise.zoneout_states if pointwise is not None else 1
        self.state = tuple(s.detach().clone().contiguous() for s in state)
        self._prepared: tuple | None = None
        self._prepared_for: tuple = ()

    def step(self, x: Tensor) -> Tensor:
        """x (B, I) -> y (B, P); the state moves one step on."""
        if torch.is_grad_enabled():  # entering no_grad costs a microsecond: only when needed
            with torch.no_grad():
                return self._step(x)
        return self._step(x)

    def _step(self, x: Tensor) -> Tensor:
        if not self.zoneout:
            return self._cell_step(x)
        before = [s.clone() for s in self.state[: self._zoned]]
        self._cell_step(x)
        for buffer, previous in zip(self.state, before, strict=False):
            buffer.lerp_(previous, self.zoneout)
        return self.state[0].clone()

    def _cell_step(self, x: Tensor) -> Tensor:
        if self.pointwise is None:
            y, new = self.cell(x, self.cell.State(*self.state))
            self._store(new)
            return y
        loops = backend.loops_for(self.pointwise, x)
        prepared = self._prepare(loops, self.weights(), self.params())
        return loops.step(self.pointwise, prepared, x.contiguous(), self.state)

    def _store(self, new: tuple[Tensor, ...]) -> None:
        for buffer, value in zip(self.state, new, strict=True):
            buffer.copy_(value)

    def _prepare(self, loops, weights: CellWeights, params: tuple[Tensor, ...]) -> tuple:
        tensors = (*weights, *params) if params else weights
        key = (loops, *map(id, tensors), _versions(tensors))
        if key != self._prepared_for:
            self._prepared = loops.prepare_step(self.pointwise, weights, params)
            self._prepared_for = key
        return self._prepared


def _versions(weights: tuple[Tensor | None, ...]) -> object:
    """What changes when a weight is changed in place. Inference tensors keep no version
    counter, so for them every call counts as a change (correct, if slower)."""
    try:
        return tuple([w._version for w in weights if w is not None])
    except RuntimeError:  # "Inference tensors do not track version counter"
        return object()
