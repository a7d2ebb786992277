"""The native time loops behind the same two calls as ``rnnkit.bptt.torch_loops``, and the
native streaming step.

Each supported ``Pointwise`` type maps to its C++ kernels; the engine uses these only for
that exact type (a subclass may change the math), float32/float64 and the CPU.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.bptt import gemm
from rnnkit.cells import CellWeights, ElmanPointwise, GRUPointwise, LSTMPointwise, Pointwise

ops = torch.ops.rnnkit


def supports(pointwise: Pointwise, x: Tensor) -> bool:
    return (
        type(pointwise) in _KERNELS
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
    )


def forward_loop(pointwise, gates_x, state0, w_hh, b_hh, w_hr, batch_sizes, keep):
    return _KERNELS[type(pointwise)].forward(
        pointwise, gates_x, state0, w_hh, b_hh, w_hr, batch_sizes, keep, gemm.use_onednn
    )


def backward_loop(
    pointwise, grad_y, grad_final, state0, states, saved, w_hh, w_hr, batch_sizes, keep_dh
):
    grad_y = grad_y.contiguous()  # e.g. the expanded gradient of y.sum()
    return _KERNELS[type(pointwise)].backward(
        pointwise, grad_y, grad_final, state0, states, saved, w_hh, w_hr, batch_sizes, keep_dh,
        gemm.use_onednn,
    )  # fmt: skip


def prepare_step(pointwise, weights: CellWeights) -> tuple:
    """The weights laid out for ``step`` (split by hidden units into one part per thread,
    see csrc/common.h). Made once per stream and again only when a weight changes."""
    w = [None if t is None else t.detach() for t in weights]
    kind = type(pointwise)
    if kind is LSTMPointwise:
        w_hr_t = None if w[4] is None else w[4].t().contiguous()
        return ops.lstm_prepare_step(*w[:4]), w_hr_t
    if kind is GRUPointwise:
        return (ops.gru_prepare_step(*w[:4]),)
    return ops.elman_prepare_step(*w[:4]), pointwise.nonlinearity == "relu"


def step(pointwise, prepared: tuple, x: Tensor, state: tuple[Tensor, ...]) -> Tensor:
    """One step from x (B, I); ``state`` is updated in place; returns y (B, P)."""
    kind = type(pointwise)
    if kind is LSTMPointwise:
        return ops.lstm_step(x, *prepared, *state)
    if kind is GRUPointwise:
        return ops.gru_step(x, *prepared, *state)
    return ops.elman_step(x, *prepared, *state)


class _LSTM:
    @staticmethod
    def forward(pointwise, gates_x, state0, w_hh, b_hh, w_hr, batch_sizes, keep, onednn):
        y, c_all, gates, m_all = ops.lstm_forward(
            gates_x, *state0, w_hh, b_hh, w_hr, batch_sizes, keep, onednn
        )
        return [y, c_all], (m_all if w_hr is not None else None), gates

    @staticmethod
    def backward(
        pointwise,
        grad_y,
        grad_final,
        state0,
        states,
        saved,
        w_hh,
        w_hr,
        batch_sizes,
        keep_dh,
        onednn,
    ):
        d_gates, d_h_all, grad_h0, grad_c0 = ops.lstm_backward(
            grad_y,
            *grad_final,
            state0[1],
            states[1],
            saved,
            w_hh,
            w_hr,
            batch_sizes,
            keep_dh,
            onednn,
        )
        return d_gates, d_gates, (d_h_all if keep_dh else None), [grad_h0, grad_c0]


class _GRU:
    @staticmethod
    def forward(pointwise, gates_x, state0, w_hh, b_hh, w_hr, batch_sizes, keep, onednn):
        y, saved = ops.gru_forward(gates_x, state0[0], w_hh, b_hh, batch_sizes, keep, onednn)
        return [y], None, saved

    @staticmethod
    def backward(
        pointwise,
        grad_y,
        grad_final,
        state0,
        states,
        saved,
        w_hh,
        w_hr,
        batch_sizes,
        keep_dh,
        onednn,
    ):
        d_gx, d_gh, d_h_all, grad_h0 = ops.gru_backward(
            grad_y, grad_final[0], state0[0], states[0], saved, w_hh, batch_sizes, keep_dh, onednn
        )
        return d_gx, d_gh, (d_h_all if keep_dh else None), [grad_h0]


class _Elman:
    @staticmethod
    def forward(pointwise, gates_x, state0, w_hh, b_hh, w_hr, batch_sizes, keep, onednn):
        relu = pointwise.nonlinearity == "relu"
        y = ops.elman_forward(gates_x, state0[0], w_hh, b_hh, batch_sizes, relu, onednn)
        return [y], None, None  # backward reads act'(a) off y itself

    @staticmethod
    def backward(
        pointwise,
        grad_y,
        grad_final,
        state0,
        states,
        saved,
        w_hh,
        w_hr,
        batch_sizes,
        keep_dh,
        onednn,
    ):
        relu = pointwise.nonlinearity == "relu"
        d_gates, d_h_all, grad_h0 = ops.elman_backward(
            grad_y, grad_final[0], states[0], w_hh, batch_sizes, relu, keep_dh, onednn
        )
        return d_gates, d_gates, (d_h_all if keep_dh else None), [grad_h0]


_KERNELS = {LSTMPointwise: _LSTM, GRUPointwise: _GRU, ElmanPointwise: _Elman}
