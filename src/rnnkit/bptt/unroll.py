"""The reference path: a cell's own ``forward`` unrolled over time under autograd.

This is the oracle every hand-written backward is tested against, and the engine for
cells that have no ``Pointwise`` split. It is as simple as it can be on purpose: a
finished sequence keeps its state by masking, not by the batch-shrinking trick of the
explicit engine, so the two share no logic.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.bptt.gradient_flow import FlowRecord, new_record
from rnnkit.cells.base import RecurrentCell


def autograd_unroll(
    cell: RecurrentCell,
    x: Tensor,
    state0: tuple[Tensor, ...],
    lengths: list[int] | None = None,
    name: str = "recurrent",
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run ``cell`` over ``x`` (T, B, I) from ``state0``; same contract as ``explicit_bptt``
    except that ``lengths`` (each in [1, T]) may come in any order."""
    steps, batch, _ = x.shape
    record = new_record(name)
    state = cell.State(*state0)
    outputs, hidden = [], []
    for t in range(steps):
        y, new_state = cell(x[t], state)
        if lengths is not None:
            running = (torch.as_tensor(lengths, device=x.device) > t).unsqueeze(1)  # (B, 1)
            y = y * running
            new_state = cell.State(
                *(torch.where(running, n, s) for n, s in zip(new_state, state, strict=True))
            )
        state = new_state
        outputs.append(y)
        hidden.append(state[0])
    if record is not None:
        _watch(hidden, record)
    return torch.stack(outputs), tuple(state)


def _watch(hidden: list[Tensor], record: FlowRecord) -> None:
    """Fill ``record.norms`` with ||dL/dh_t|| as autograd computes each one."""
    if not hidden[0].requires_grad:
        return
    record.norms = hidden[0].new_zeros(len(hidden))

    def keep(t: int):
        def hook(grad: Tensor) -> None:
            record.norms[t] = torch.linalg.vector_norm(grad.detach())

        return hook

    for t, h in enumerate(hidden):
        h.register_hook(keep(t))
