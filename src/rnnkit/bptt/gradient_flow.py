"""Recording ||dL/dh_t|| during backpropagation through time.

The engine computes dL/dh_t at every step of its backward pass anyway; inside
``record_gradient_flow()`` it also keeps the norm of each one::

    with rnnkit.bptt.record_gradient_flow() as flow:
        y, state = model(x)
        loss_fn(y).backward()
    for record in flow.records:
        print(record.name, record.norms)   # (T,) tensor: ||dL/dh_t|| over the batch

Outside the context manager nothing is recorded and nothing is paid.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class FlowRecord:
    """The gradient norms of one layer (one direction) over one forward/backward pass.

    ``norms[k]`` is ||dL/dh|| (Frobenius norm over batch and features) after the layer
    has taken k + 1 steps, in the order the layer processes time: for a reversed layer,
    k = 0 is the last time step. It is None until backward has run.
    """

    name: str
    norms: Tensor | None = None


@dataclass
class GradientFlow:
    """All records made while the context manager was active, in forward order."""

    records: list[FlowRecord] = field(default_factory=list)

    def new_record(self, name: str) -> FlowRecord:
        record = FlowRecord(name)
        self.records.append(record)
        return record

    def norms(self, name: str) -> list[Tensor]:
        """The recorded norms of every pass through the layer called ``name``."""
        return [r.norms for r in self.records if r.name == name and r.norms is not None]


_active: ContextVar[GradientFlow | None] = ContextVar("rnnkit_gradient_flow", default=None)


@contextmanager
def record_gradient_flow() -> Iterator[GradientFlow]:
    """Record ||dL/dh_t|| for every recurrent layer run forward inside the block."""
    flow = GradientFlow()
    token = _active.set(flow)
    try:
        yield flow
    finally:
        _active.reset(token)


def new_record(name: str) -> FlowRecord | None:
    """A record to fill in backward, or None when nobody is recording. Recording is an
    eager diagnostic: code being compiled (``torch.compile``, ``torch.export``) records
    nothing, since its backward does not run this Python."""
    if torch.compiler.is_compiling():
        return None
    flow = _active.get()
    return None if flow is None else flow.new_record(name)


def step_norms(grads: Tensor) -> Tensor:
    """(T, B, H) -> (T,): the norm of each step's gradient over batch and features."""
    return torch.linalg.vector_norm(grads.detach().flatten(1), dim=1)
