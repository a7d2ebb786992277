"""The engine's matrix products, on the fastest GEMM torch ships for the case at hand.

Measured on this project's CPUs (AMD EPYC with AVX-512, torch 2.13.0, 2 threads): MKL's
sgemm, behind ``torch.mm``/``addmm``, runs at 140-190 GFLOP/s, while oneDNN's, behind
``torch.ops.mkldnn._linear_pointwise`` (the op torch.compile's CPU backend emits, and
the library torch.nn.LSTM runs on), runs at 380-450 GFLOP/s on the same shapes. Below
about 2M multiply-adds oneDNN's fixed cost (~15 us) outweighs that, so small products
stay on ``addmm``. Anything other than float32 on the CPU, or a torch without the op,
uses plain torch ops. Results agree to float32 rounding either way.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

_MIN_MULTIPLY_ADDS = 1 << 21


def _onednn_works() -> bool:
    if os.environ.get("RNNKIT_ONEDNN", "1") == "0" or not torch.backends.mkldnn.is_available():
        return False
    try:
        a, w = torch.ones(2, 3), torch.ones(4, 3)
        out = torch.ops.mkldnn._linear_pointwise(a, w, None, "none", [], "")
        return bool(out.shape == (2, 4) and (out == 3).all())
    except (AttributeError, RuntimeError):
        return False


#: Whether large float32 CPU products go to oneDNN; tests switch it to check both paths.
use_onednn = _onednn_works()


def _on_onednn(a: Tensor, rows: int, inner: int, cols: int) -> bool:
    return (
        use_onednn
        and a.device.type == "cpu"
        and a.dtype == torch.float32
        and not torch.is_grad_enabled()  # inside our autograd.Function only
        and rows * inner * cols >= _MIN_MULTIPLY_ADDS
    )


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (..., K) @ weight.T (K, N) + bias (N,) -> (..., N); ``weight`` may be any view."""
    rows = x.numel() // x.shape[-1]
    if not _on_onednn(x, rows, x.shape[-1], weight.shape[0]):
        return torch.nn.functional.linear(x, weight, bias)
    flat = x.reshape(rows, x.shape[-1]).contiguous()
    out = torch.ops.mkldnn._linear_pointwise(flat, weight, bias, "none", [], "")
    return out.view(*x.shape[:-1], weight.shape[0])


def matmul(x: Tensor, other: Tensor) -> Tensor:
    """x (..., K) @ other (K, N) -> (..., N)."""
    return linear(x, other.T)


def contract_rows(a: Tensor, b: Tensor) -> Tensor:
    """a.T @ b for a (R, M), b (R, N) -> (M, N): a weight gradient summed over R = T*B rows.

    oneDNN wants its left operand contiguous, so the product is formed as (b.T @ a).T or
    a.T @ b, whichever makes the smaller operand the one to be copied. When neither is at
    most half the other, that copy would add as much memory as an operand: MKL then
    reads both in place, more slowly (an Elman RNN's dW_hh, say).
    """
    small, large = sorted((a.shape[1], b.shape[1]))
    if 2 * small > large or not _on_onednn(a, a.shape[1], a.shape[0], b.shape[1]):
        return a.T @ b
    if b.shape[1] <= a.shape[1]:
        return linear(b.T, a.T).T.contiguous()
    return linear(a.T, b.T)
