"""A cell's time loop as a scan, for exporters that know no rnnkit op.

ONNX has operators for the plain LSTM, GRU and RNN (``onnx_loops``), but not for the cell
zoo. For those the loop is written with torch's ``scan`` higher-order op, which
``torch.onnx.export(..., dynamo=True)`` turns into ONNX's ``Scan`` whose body is the
cell's pointwise math; the input gates of every step are formed before it, in one
product::

    gates_x = input_gates(x)                                 (T, B, G), all steps at once
    scan over t, carrying s:
        s_t = pointwise(gates_x[t], h_{t-1} @ W_hh.T + b_hh, s_{t-1})
        h_t = h_t @ W_hr.T                                   LSTM's projection, if any
        s_t = p * s_{t-1} + (1 - p) * s_t                    zoneout at inference (rate p)
        s_t = s_t where t < length, else s_{t-1}             a finished sequence keeps it
        y_t = h_t where t < length, else 0

Inference only: no training regularisers.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch._higher_order_ops.scan import scan

from rnnkit.cells.base import CellWeights, Pointwise


def scan_recurrent(
    pointwise: Pointwise,
    weights: CellWeights,
    params: tuple[Tensor, ...],
    x: Tensor,
    state0: tuple[Tensor, ...],
    zoneout: float = 0.0,
    lengths: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """x (T, B, I), lengths (B,) or None -> (y (T, B, P), final state), the math of the
    engine's loops."""
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    gates_x = pointwise.input_gates(x, w_ih, b_ih, params)
    zoned = pointwise.zoneout_states
    if lengths is None:
        running = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)  # (T, B)
    else:
        steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)  # (T, 1)
        running = steps < lengths.to(x.device)

    def step(state: tuple[Tensor, ...], inputs: tuple[Tensor, Tensor]):
        gates_x_t, running_t = inputs
        running_t = running_t.unsqueeze(1)  # (B, 1)
        gates_h = torch.nn.functional.linear(state[0], w_hh, b_hh)
        new, _ = pointwise.forward(gates_x_t, gates_h, state, params)
        if w_hr is not None:  # LSTM's output projection
            new = (new[0] @ w_hr.T, *new[1:])
        if zoneout:
            new = (
                tuple(n + zoneout * (s - n) for n, s in zip(new[:zoned], state, strict=False))
                + new[zoned:]
            )
        new = tuple(torch.where(running_t, n, s) for n, s in zip(new, state, strict=True))
        # scan's outputs must not alias each other: the carry and y_t both hold h_t.
        return tuple(n.clone() for n in new), new[0] * running_t

    final, y = scan(step, tuple(state0), (gates_x, running))
    return y, tuple(final)
