"""The input projection x @ W.T + b of every step at once, under autograd, on the engine's
GEMMs (``rnnkit.bptt.gemm``: oneDNN for large float32 products). Through
``torch.nn.functional.linear``, autograd runs MKL's addmm and mm, at about half that
speed here: a minGRU layer at (B, T, I, H) = (16, 4096, 256, 256) spent 220 of its
360 ms in them."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.bptt import gemm


def project(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (..., I) @ weight.T (I, N) + bias -> (..., N)."""
    return _Projection.apply(x, weight, bias)


class _Projection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return gemm.linear(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        rows = grad.reshape(-1, grad.shape[-1])
        d_x = gemm.matmul(grad, weight) if need_x else None
        d_weight = gemm.contract_rows(rows, x.reshape(-1, x.shape[-1])) if need_weight else None
        d_bias = rows.sum(0) if need_bias else None
        return d_x, d_weight, d_bias
