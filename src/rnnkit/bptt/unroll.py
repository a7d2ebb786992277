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
from rnnkit.bptt.zoneout import zoneout_at
from rnnkit.cells.base import CellWeights, Pointwise, RecurrentCell, masked


def autograd_unroll(
    cell: RecurrentCell,
    x: Tensor,
    state0: tuple[Tensor, ...],
    lengths: Tensor | None = None,
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


def pointwise_unroll(
    pointwise: Pointwise,
    weights: CellWeights,
    params: tuple[Tensor, ...],
    x: Tensor,
    state0: tuple[Tensor, ...],
    lengths: Tensor | None = None,
    zoneout: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The engine's math, step by step under autograd, out of place: what the engine's
    backward differentiates when a graph of the gradient is asked for (double backward,
    ``torch.func.grad``). Same arguments as the engine (``weights.weight_ih`` None: x
    holds the input gates) except that ``lengths`` is a (B,) tensor in any order::

        s_t = pointwise(x_t W_ih^T + b_ih, (h_{t-1} * d) W_hh^T + b_hh, s_{t-1})
        s_t = z_t * s_{t-1} + (1 - z_t) * s_t;   h_t = h_t W_hr^T (LSTM projection)
    """
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    gates_x = x if w_ih is None else pointwise.input_gates(x, w_ih, b_ih, params)
    zoned = pointwise.zoneout_states
    state, outputs = tuple(state0), []
    for t in range(x.shape[0]):
        gates_h = torch.nn.functional.linear(masked(state[0], recurrent_mask), w_hh, b_hh)
        new, _ = pointwise.forward(gates_x[t], gates_h, state, params)
        if w_hr is not None:
            new = (new[0] @ w_hr.T, *new[1:])
        z = zoneout_at(zoneout, t, x.shape[1])
        if z is not None:
            new = (
                tuple(n + z * (s - n) for n, s in zip(new[:zoned], state, strict=False))
                + new[zoned:]
            )
        y = new[0]
        if lengths is not None:
            running = (lengths.to(x.device) > t).unsqueeze(1)  # (B, 1)
            new = tuple(torch.where(running, n, s) for n, s in zip(new, state, strict=True))
            y = y * running
        state = new
        outputs.append(y)
    return torch.stack(outputs), state
