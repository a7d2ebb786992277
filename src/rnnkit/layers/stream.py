"""``layer.stream()``: run a layer on live data, one time step per call.

    stream = layer.stream(batch_size=1)
    for x_t in sensor:                 # (1, I) each, as it arrives
        y_t = stream.step(x_t)         # (1, P): the same as step t of layer(whole sequence)
    stream.state                       # the state after the last step (a copy)
    stream.reset()                     # back to the initial state

Unidirectional layers only (a reversed layer needs the end of the sequence first).
Streaming is inference: dropout between layers is off and no gradients flow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.bptt.step import Stepper
from rnnkit.layers.validation import check_like


class Stream:
    """Steppers of a stack of layers, fed one after the other at every step."""

    def __init__(
        self,
        steppers: Sequence[Stepper],
        input_size: int,
        like: Tensor,
        present: Callable[[list[tuple[Tensor, ...]]], Any],
    ) -> None:
        self._steppers = list(steppers)
        self._initial = [tuple(s.clone() for s in stepper.state) for stepper in self._steppers]
        self._input_size, self._like, self._present = input_size, like, present
        self.batch_size = self._steppers[0].state[0].shape[0]

    def step(self, x: Tensor) -> Tensor:
        """x (B, I) -> y (B, P) for the next time step."""
        if not isinstance(x, Tensor) or x.shape != (self.batch_size, self._input_size):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"x must have shape (B={self.batch_size}, I={self._input_size}), got {got}"
            )
        if not x.is_floating_point():
            raise ValueError(
                f"x must be a floating-point tensor ({self._like.dtype}), got {x.dtype}"
            )
        check_like(x, self._like, "x")
        for stepper in self._steppers:
            x = stepper.step(x)
        return x

    @property
    def state(self) -> Any:
        """The current state, copied, in the layer's own format."""
        return self._present(
            [tuple(s.clone() for s in stepper.state) for stepper in self._steppers]
        )

    def reset(self) -> None:
        """Back to the state the stream started from."""
        with torch.no_grad():
            for stepper, initial in zip(self._steppers, self._initial, strict=True):
                for buffer, value in zip(stepper.state, initial, strict=True):
                    buffer.copy_(value)
