"""The gradients that are GEMMs (or sums) over all T * B rows, once the backward loop has
kept dL/d gates for every step: dL/dW_ih, dL/dW_hh, dL/dW_hr and the biases (the loops
form dL/dx themselves)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.bptt.gemm import contract_rows


class SplitGates(NamedTuple):
    """dL/d gates_h kept without a copy of what it shares with dL/d gates_x: its first
    G - H columns are d_gates_x's, its last H are ``last`` (GRU: only the n block, dn * r,
    differs)."""

    shared: Tensor  # (T, B, G): dL/d gates_x
    last: Tensor  # (T, B, H)


def weight_gradients(
    needs: tuple[bool, ...],
    x: Tensor,
    y: Tensor,
    weights: tuple[Tensor, Tensor, Tensor | None],
    h0: Tensor,
    d_gates_x: Tensor,
    d_gates_h: Tensor | SplitGates,
    d_h_all: Tensor | None,
    pre_projection: Tensor | None,
    has_bias: bool,
) -> tuple[Tensor | None, ...]:
    """-> (dL/dW_ih, dL/dW_hh, dL/db_ih, dL/db_hh, dL/dW_hr); ``needs`` says which, in that
    order. h_{t-1} is h0 for t = 0 and y_{t-1} after that."""
    need_w_ih, need_w_hh, need_b_ih, need_b_hh, need_w_hr = needs
    w_hr = weights[2]
    d_w_ih = contract_rows(d_gates_x.flatten(0, 1), x.flatten(0, 1)) if need_w_ih else None
    d_b_ih = d_gates_x.sum((0, 1)) if has_bias and need_b_ih else None
    d_w_hh = None
    if need_w_hh:
        h_prev = y[:-1].flatten(0, 1)
        d_w_hh = _recurrent(
            d_gates_h, lambda d: d[0].T @ h0 + contract_rows(d[1:].flatten(0, 1), h_prev)
        )
    d_b_hh = None
    if has_bias and need_b_hh:
        if d_gates_h is d_gates_x and d_b_ih is not None:  # LSTM, Elman: one sum serves both
            d_b_hh = d_b_ih.clone()  # two parameters must not share one .grad
        else:
            d_b_hh = _recurrent(d_gates_h, lambda d: d.sum((0, 1)))
    d_w_hr = None
    if w_hr is not None and need_w_hr:
        d_w_hr = contract_rows(d_h_all.flatten(0, 1), pre_projection.flatten(0, 1))
    return d_w_ih, d_w_hh, d_b_ih, d_b_hh, d_w_hr


def _recurrent(d_gates_h: Tensor | SplitGates, reduce: Callable[[Tensor], Tensor]) -> Tensor:
    """``reduce`` (a sum over steps and rows, first dimension G) of dL/d gates_h. Split:
    reduce both contiguous parts and keep the shared one's rows but the last H; a
    strided slice of the shared part would send the GEMM down a very slow path."""
    if not isinstance(d_gates_h, SplitGates):
        return reduce(d_gates_h)
    last = reduce(d_gates_h.last)
    return torch.cat((reduce(d_gates_h.shared)[: -last.shape[0]], last))
