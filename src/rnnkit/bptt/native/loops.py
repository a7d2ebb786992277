"""The native time loops behind the same calls as ``rnnkit.bptt.torch_loops``:
``forward_loop``, ``backward_loop``, and the streaming ``prepare_step`` and ``step``.

Each supported ``Pointwise`` type maps to its C++ kernels (csrc/); the engine uses them
only for that exact type (a subclass may change the math), float32/float64 and the CPU.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.bptt import weight_gradients as generic
from rnnkit.bptt.weight_gradients import SplitGates
from rnnkit.cells import CellWeights, ElmanPointwise, GRUPointwise, LSTMPointwise, Pointwise

ops = torch.ops.rnnkit
_DTYPES = (torch.float32, torch.float64)


def supports(pointwise: Pointwise, x: Tensor) -> bool:
    return type(pointwise) in _KERNELS and x.is_cpu and x.dtype in _DTYPES


def forward_loop(pointwise, x, weights, state0, batch_sizes, keep):
    """The input projection runs inside, a chunk of steps at a time (csrc/input.h).
    -> (states, pre-projection outputs or None, saved: a list of (T, B, width) tensors,
    empty without ``keep``)."""
    return _KERNELS[type(pointwise)].forward(
        pointwise, x.contiguous(), weights, state0, batch_sizes, keep
    )


def backward_loop(
    pointwise, grad_y, grad_final, state0, states, saved, w_ih, w_hh, w_hr, batch_sizes, keep_dh
):
    """dL/dx is formed inside the loop, step by step, when ``w_ih`` is given."""
    grad_y = grad_y.contiguous()  # e.g. the expanded gradient of y.sum()
    kernels = _KERNELS[type(pointwise)]
    weights = (w_ih, w_hh, w_hr)
    d_x, d_gates_x, d_gates_h, d_h_all, grad_state0 = kernels.backward(
        pointwise, grad_y, grad_final, state0, states, saved, weights, batch_sizes, keep_dh
    )
    # The kernels return an empty d_x or d_h_all when it was not asked for.
    return (
        d_x if w_ih is not None else None,
        d_gates_x,
        d_gates_h,
        d_h_all if keep_dh else None,
        grad_state0,
    )


def saved_like(pointwise, x, gates, state0, params, keep) -> list[Tensor]:
    """Empty tensors shaped as ``forward_loop``'s saved list (for the ops' fake kernels)."""
    width = _KERNELS[type(pointwise)].saved_width(gates // pointwise.num_gates)
    return [x.new_empty(*x.shape[:2], width)] if keep and width else []


def weight_gradients(
    needs, x, y, weights, h0, d_gates_x, d_gates_h, d_h_all, pre_projection, has_bias
):
    """As ``rnnkit.bptt.weight_gradients.weight_gradients``. Where the input and recurrent
    gates share dL/d gates (LSTM, Elman) and both weights want theirs, dL/dW_ih, dL/dW_hh
    and the bias's come from one pass over it (csrc/weight_gradients.cpp), which copies
    [x | h_prev | 1] transposed: only when that is at most half the size of dL/d gates
    (an LSTM's, not an Elman RNN's), so that training memory stays below torch.nn's."""
    need_w_ih, need_w_hh, need_b_ih, need_b_hh, need_w_hr = needs
    narrow = 2 * (x.shape[-1] + y.shape[-1] + 1) <= d_gates_x.shape[-1]
    if d_gates_h is not d_gates_x or not (need_w_ih and need_w_hh and narrow):
        return generic.weight_gradients(
            needs, x, y, weights, h0, d_gates_x, d_gates_h, d_h_all, pre_projection, has_bias
        )
    d_w_ih, d_w_hh, d_b = ops.shared_gate_weight_gradients(d_gates_x, x, h0, y, has_bias)
    *_, d_w_hr = generic.weight_gradients(
        (False, False, False, False, need_w_hr),
        x, y, weights, h0, d_gates_x, d_gates_h, d_h_all, pre_projection, has_bias,
    )  # fmt: skip
    d_b_ih = d_b if has_bias and need_b_ih else None
    d_b_hh = d_b.clone() if has_bias and need_b_hh else None  # one tensor must not be two .grads
    return d_w_ih, d_w_hh, d_b_ih, d_b_hh, d_w_hr


def prepare_step(pointwise: Pointwise, weights: CellWeights, params: tuple = ()) -> tuple:
    """The weights laid out for ``step``: split by hidden units into one part per thread
    (csrc/step.h). Made once per stream and again only when a weight changes. (The cells
    that run natively have no ``params``.)"""
    return _KERNELS[type(pointwise)].prepare_step(
        pointwise, [None if w is None else w.detach() for w in weights]
    )


def step(pointwise: Pointwise, prepared: tuple, x: Tensor, state: tuple[Tensor, ...]) -> Tensor:
    """One step from x (B, I); ``state`` is updated in place; returns y (B, P)."""
    return _KERNELS[type(pointwise)].step(x, *prepared, *state)


class _LSTM:
    step = ops.lstm_step.default  # the overload itself: resolving it costs ~0.3 us a call

    @staticmethod
    def saved_width(hidden: int) -> int:
        return 4 * hidden  # the activated gates

    @staticmethod
    def forward(pointwise, x, weights, state0, batch_sizes, keep):
        w_ih, w_hh, b_ih, b_hh, w_hr = weights
        y, c_all, gates, m_all = ops.lstm_forward(
            x, w_ih, *state0, w_hh, _sum(b_ih, b_hh), w_hr, batch_sizes, keep
        )
        return [y, c_all], (m_all if keep and w_hr is not None else None), _kept(gates, keep)

    @staticmethod
    def backward(
        pointwise, grad_y, grad_final, state0, states, saved, weights, batch_sizes, keep_dh
    ):
        w_ih, w_hh, w_hr = weights
        d_gates, d_h_all, grad_h0, grad_c0, d_x = ops.lstm_backward(
            grad_y,
            *grad_final,
            state0[1],
            states[1],
            saved[0],
            w_ih,
            w_hh,
            w_hr,
            batch_sizes,
            keep_dh,
        )
        return d_x, d_gates, d_gates, d_h_all, [grad_h0, grad_c0]

    @staticmethod
    def prepare_step(pointwise, w):
        return ops.lstm_prepare_step(*w[:4]), None if w[4] is None else w[4].t().contiguous()


class _GRU:
    step = ops.gru_step.default  # the overload itself: resolving it costs ~0.3 us a call

    @staticmethod
    def saved_width(hidden: int) -> int:
        return 4 * hidden  # r, z, n and the recurrent part of n

    @staticmethod
    def forward(pointwise, x, weights, state0, batch_sizes, keep):
        w_ih, w_hh, b_ih, b_hh, _ = weights
        y, saved = ops.gru_forward(x, w_ih, b_ih, state0[0], w_hh, b_hh, batch_sizes, keep)
        return [y], None, _kept(saved, keep)

    @staticmethod
    def backward(
        pointwise, grad_y, grad_final, state0, states, saved, weights, batch_sizes, keep_dh
    ):
        w_ih, w_hh, _ = weights
        d_gx, d_n_reset, d_h_all, grad_h0, d_x = ops.gru_backward(
            grad_y, grad_final[0], state0[0], states[0], saved[0], w_ih, w_hh, batch_sizes, keep_dh
        )
        return d_x, d_gx, SplitGates(d_gx, d_n_reset), d_h_all, [grad_h0]

    @staticmethod
    def prepare_step(pointwise, w):
        return (ops.gru_prepare_step(*w[:4]),)


class _Elman:
    step = ops.elman_step.default  # the overload itself: resolving it costs ~0.3 us a call

    @staticmethod
    def saved_width(hidden: int) -> int:
        return 0  # backward reads act'(a) off y itself

    @staticmethod
    def forward(pointwise, x, weights, state0, batch_sizes, keep):
        w_ih, w_hh, b_ih, b_hh, _ = weights
        relu = pointwise.nonlinearity == "relu"
        y = ops.elman_forward(x, w_ih, state0[0], w_hh, _sum(b_ih, b_hh), batch_sizes, relu)
        return [y], None, []

    @staticmethod
    def backward(
        pointwise, grad_y, grad_final, state0, states, saved, weights, batch_sizes, keep_dh
    ):
        relu = pointwise.nonlinearity == "relu"
        w_ih, w_hh, _ = weights
        d_gates, d_h_all, grad_h0, d_x = ops.elman_backward(
            grad_y, grad_final[0], states[0], w_ih, w_hh, batch_sizes, relu, keep_dh
        )
        return d_x, d_gates, d_gates, d_h_all, [grad_h0]

    @staticmethod
    def prepare_step(pointwise, w):
        return ops.elman_prepare_step(*w[:4]), pointwise.nonlinearity == "relu"


def _kept(saved: Tensor, keep: bool) -> list[Tensor]:
    """The kernels return an empty tensor for what they were not asked to keep."""
    return [saved] if keep else []


def _sum(b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor | None:
    """One bias where the math adds both (LSTM, Elman)."""
    return None if b_ih is None else b_ih + b_hh


_KERNELS = {LSTMPointwise: _LSTM, GRUPointwise: _GRU, ElmanPointwise: _Elman}
