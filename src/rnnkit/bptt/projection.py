"""The input projection x @ W.T + b of every step at once, under autograd, on the engine's
GEMMs (``rnnkit.bptt.gemm``: oneDNN for large float32 products). Through
``torch.nn.functional.linear``, autograd runs MKL's addmm and mm, at about half that
speed here: a minGRU layer at (B, T, I, H) = (16, 4096, 256, 256) spent 220 of its
360 ms in them.

Where something else transforms the program, ``linear`` itself is the better choice:
torch.compile and torch.export pick their own GEMMs (and oneDNN's op has no batching
rule for torch.func's vmap), and autocast casts ``linear`` as torch.nn's layers are cast.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.bptt import gemm


def project(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (..., I) @ weight.T (I, N) + bias -> (..., N)."""
    if _transformed(x, weight, bias):
        return torch.nn.functional.linear(x, weight, bias)
    return _Projection.apply(x, weight, bias)


def _transformed(*tensors: Tensor | None) -> bool:
    """Whether torch.compile / torch.export is tracing, autocast is on, or a torch.func
    transform (grad, vmap) holds any of ``tensors``."""
    return (
        torch.compiler.is_compiling()
        or torch.is_autocast_enabled(tensors[0].device.type)
        or any(
            t is not None and torch._C._functorch.is_functorch_wrapped_tensor(t) for t in tensors
        )
    )


class _Projection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return gemm.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        # Differentiable as written: asked for a graph of the gradient (create_graph),
        # grad mode is on here and ``gemm`` uses plain torch products.
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        rows = grad.reshape(-1, grad.shape[-1])
        d_x = gemm.matmul(grad, weight) if need_x else None
        d_weight = gemm.contract_rows(rows, x.reshape(-1, x.shape[-1])) if need_weight else None
        d_bias = rows.sum(0) if need_bias else None
        return d_x, d_weight, d_bias
