"""Which engine runs one direction of one layer, with its regularisers:

* the plain explicit-BPTT engine (``rnnkit.bptt.explicit``), natively tuned for LSTM,
  GRU and Elman cells: for those cells when nothing changes their time loop (weight drop
  only changes the weights it is given);
* the extended engine (``rnnkit.bptt.extended``): any other cell with a ``Pointwise``
  (layer norm, peepholes, sLSTM), and any cell with zoneout or recurrent dropout;
* the element-wise scans (``rnnkit.bptt.diagonal``): IndRNN, minGRU, minLSTM.
"""

from __future__ import annotations

from torch import Tensor

from rnnkit.bptt import explicit_bptt
from rnnkit.bptt.diagonal import element_wise_recurrence
from rnnkit.bptt.extended import extended_bptt
from rnnkit.bptt.onnx_loops import onnx_recurrent
from rnnkit.bptt.scan_export import scan_recurrent
from rnnkit.cells import CellWeights, ElmanPointwise, GRUPointwise, LSTMPointwise, Pointwise
from rnnkit.cells.base import RecurrentCell
from rnnkit.exporting import exporting_to_onnx
from rnnkit.layers.regularisers import Regularisers

PLAIN = (LSTMPointwise, GRUPointwise, ElmanPointwise)


def run_pointwise(
    pointwise: Pointwise,
    weights: CellWeights,
    params: tuple[Tensor, ...],
    regularisers: Regularisers,
    training: bool,
    name: str,
    x: Tensor,
    state0: tuple[Tensor, ...],
    lengths: Tensor | None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """x (T, B, I) sorted by length -> (y (T, B, P), final state)."""
    weights = weights._replace(weight_hh=regularisers.drop_weight(weights.weight_hh, training))
    if exporting_to_onnx():
        return _for_onnx(pointwise, weights, params, regularisers, training, x, state0, lengths)
    if type(pointwise) in PLAIN and not params and not regularisers.in_loop(training):
        return explicit_bptt(pointwise, weights, x, state0, lengths, name)
    hidden = weights.weight_hh.shape[0] // pointwise.num_gates
    zoneout, mask = regularisers.loop_masks(x, hidden, state0[0].shape[1], training)
    return extended_bptt(pointwise, weights, x, params, state0, lengths, zoneout, mask, name)


def _for_onnx(pointwise, weights, params, regularisers, training, x, state0, lengths):
    """ONNX knows neither rnnkit's ops nor a Python loop: the plain cells become ONNX's
    own LSTM/GRU/RNN nodes (``rnnkit.bptt.onnx_loops``), the others a Scan over their
    step (``rnnkit.bptt.scan_export``)."""
    if training and regularisers.in_loop(training):
        raise ValueError("export a model in eval mode: recurrent dropout acts in training only")
    if type(pointwise) in PLAIN and not regularisers.zoneout and weights.weight_hr is None:
        return onnx_recurrent(pointwise.name, x, weights, state0, lengths)
    return scan_recurrent(pointwise, weights, params, x, state0, regularisers.zoneout, lengths)


def run_sequence_cell(
    cell: RecurrentCell,
    regularisers: Regularisers,
    training: bool,
    x: Tensor,
    state0: tuple[Tensor, ...],
    lengths: Tensor | None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """A cell with an element-wise recurrence (``cell.sequence`` names it) over x (T, B, I)."""
    u = regularisers.drop_weight(cell.weight_hh, training) if cell.has_recurrent_weights else None
    zoneout, mask = regularisers.loop_masks(x, cell.hidden_size, cell.hidden_size, training)
    h, final = element_wise_recurrence(
        cell.sequence, x, cell.weight_ih, cell.bias_ih, u, state0[0], lengths, zoneout, mask
    )
    return h, (final,)


def check_regularisers(cell: RecurrentCell, regularisers: Regularisers) -> None:
    """ValueError for a regulariser the cell cannot take."""
    kind = type(cell).__name__
    if not regularisers.any():
        return
    if cell.pointwise is None and cell.sequence is None:
        raise ValueError(
            f"{kind} has no explicit-BPTT split, so zoneout, recurrent_dropout and "
            "weight_drop are not available for it"
        )
    if not cell.has_recurrent_weights and (
        regularisers.recurrent_dropout or regularisers.weight_drop
    ):
        raise ValueError(
            f"{kind} has no recurrent weights: recurrent_dropout and weight_drop must be 0 "
            "(zoneout is allowed)"
        )
    if getattr(cell, "proj_size", 0) and regularisers.in_loop(training=True):
        raise ValueError("zoneout and recurrent_dropout need proj_size=0 (weight_drop is allowed)")
