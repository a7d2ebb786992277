"""The plain cells' time loop as ONNX's own LSTM / GRU / RNN operator, for ONNX export.

ONNX does not know rnnkit's ``rnnkit::bptt_forward`` op, but it has the three classic
recurrences built in, with a dynamic number of steps. During ``torch.onnx.export`` the
engine therefore hands an LSTM, GRU or Elman layer to ``onnx_recurrent``, which emits one
such node per direction through ``torch.onnx.ops.symbolic_multi_out``. Only the weights'
layout differs between torch and ONNX (layout 0, one direction)::

    X   (T, B, I)            time-major input, as the engine has it
    W   (1, G, I)            weight_ih, gate blocks in ONNX order
    R   (1, G, H)            weight_hh, gate blocks in ONNX order
    B   (1, 2G)              concat(bias_ih, bias_hh), same order; absent without biases
    initial_h, initial_c     (1, B, H)
    -> Y (T, 1, B, H), Y_h (1, B, H), Y_c (1, B, H) (LSTM only)

Gate blocks, torch -> ONNX (each block H rows):

    LSTM  i, f, g, o  ->  i, o, f, c        c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
    GRU   r, z, n     ->  z, r, h           n = tanh(W_n x + b_in + r * (R_n h + b_hn))
                                            is ONNX's ``linear_before_reset=1``
    RNN   one block                         h_t = act(W x + b_ih + R h + b_hh), act Tanh/Relu

The reordering is plain torch ops (Slice, Concat) on the parameters, which the exporter's
optimizer folds into the initializers. ONNX's LSTM has no output projection (torch's
``proj_size``, ``weight_hr``): such a layer becomes a Scan (``scan_export``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.cells.base import CellWeights
from rnnkit.exporting import exporting_to_onnx  # noqa: F401  (where it used to live)


class OnnxRecurrence(NamedTuple):
    """How one pointwise cell maps onto an ONNX recurrent operator."""

    op_type: str  # "LSTM", "GRU" or "RNN"
    gate_order: tuple[int, ...]  # ONNX's gate blocks, as indices of torch's blocks
    attrs: dict[str, int | list[str]]  # beyond hidden_size


# Keyed by ``Pointwise.name`` (``rnnkit.cells.registry.POINTWISE``).
ONNX_RECURRENCES: dict[str, OnnxRecurrence] = {
    "lstm": OnnxRecurrence("LSTM", (0, 3, 1, 2), {}),
    "gru": OnnxRecurrence("GRU", (1, 0, 2), {"linear_before_reset": 1}),
    "elman_tanh": OnnxRecurrence("RNN", (0,), {"activations": ["Tanh"]}),
    "elman_relu": OnnxRecurrence("RNN", (0,), {"activations": ["Relu"]}),
}


def onnx_recurrent(
    pointwise_name: str,
    x: Tensor,
    weights: CellWeights,
    state0: tuple[Tensor, ...],
    lengths: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One direction of one layer as an ONNX LSTM / GRU / RNN node.

    x (T, B, I), state0 ((h0,) or (h0, c0), each (B, H)), lengths (B,) or None (ONNX's
    ``sequence_lens``: y is zero past each length, the final state each sequence's own)
    -> (y (T, B, H), final state, same structure as state0). Only meaningful inside
    ``torch.onnx.export(..., dynamo=True)``: run eagerly, the symbolic node would give
    zeros, so that is refused.
    """
    if not exporting_to_onnx():
        raise RuntimeError("onnx_recurrent builds an ONNX node: call it only during ONNX export")
    if pointwise_name not in ONNX_RECURRENCES:
        raise ValueError(
            f"cell {pointwise_name!r} has no ONNX recurrent operator; "
            f"exportable cells: {sorted(ONNX_RECURRENCES)}"
        )
    if weights.weight_hr is not None:
        raise ValueError(
            "proj_size > 0 cannot be exported to ONNX: ONNX's LSTM operator has no output "
            "projection (weight_hr)"
        )
    recurrence = ONNX_RECURRENCES[pointwise_name]
    steps, batch, _ = x.shape
    hidden = weights.weight_hh.shape[1]
    w = _reorder(weights.weight_ih, recurrence.gate_order).unsqueeze(0)  # (1, G, I)
    r = _reorder(weights.weight_hh, recurrence.gate_order).unsqueeze(0)  # (1, G, H)
    b = _onnx_bias(weights, recurrence.gate_order)  # (1, 2G) or None
    initial = [s.unsqueeze(0) for s in state0]  # (1, B, H) each
    sequence_lens = None if lengths is None else lengths.to(x.device, torch.int32)
    # Inputs by position: X, W, R, B, sequence_lens (none: every sequence is full), states.
    y, *finals = torch.onnx.ops.symbolic_multi_out(
        recurrence.op_type,
        [x, w, r, b, sequence_lens, *initial],
        {"hidden_size": hidden, **recurrence.attrs},
        dtypes=[x.dtype] * (1 + len(state0)),
        shapes=[(steps, 1, batch, hidden)] + [(1, batch, hidden)] * len(state0),
    )
    return y.squeeze(1), tuple(s.squeeze(0) for s in finals)


def _reorder(w: Tensor, order: tuple[int, ...]) -> Tensor:
    """(G, ...) with torch's gate blocks -> the same blocks in ONNX's order."""
    if order == tuple(range(len(order))):
        return w
    # Slices, not chunk: a Split node has several outputs, which ONNX constant folding
    # skips, while Slice/Concat of an initializer fold into the reordered initializer.
    size = w.shape[0] // len(order)
    return torch.cat([w[k * size : (k + 1) * size] for k in order], dim=0)


def _onnx_bias(weights: CellWeights, order: tuple[int, ...]) -> Tensor | None:
    """concat(bias_ih, bias_hh) in ONNX's gate order, (1, 2G); None without biases.

    A cell with only one of the two gets zeros for the other: ONNX wants both or neither.
    """
    b_ih, b_hh = weights.bias_ih, weights.bias_hh
    if b_ih is None and b_hh is None:
        return None
    b_ih = torch.zeros_like(b_hh) if b_ih is None else b_ih
    b_hh = torch.zeros_like(b_ih) if b_hh is None else b_hh
    return torch.cat([_reorder(b_ih, order), _reorder(b_hh, order)]).unsqueeze(0)
