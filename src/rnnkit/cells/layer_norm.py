"""Layer normalisation of one vector per row (Ba et al. 2016) and its derivative, the
building block of the layer-normalised cells' pointwise parts::

    v_hat = (v - mean(v)) * rstd,   rstd = 1 / sqrt(var(v) + eps)      over the last dim
    out   = gamma * v_hat + beta
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.functional import layer_norm, linear

from rnnkit.exporting import exporting_to_onnx

EPS = 1e-5


def standardize(v: Tensor) -> tuple[Tensor, Tensor]:
    """v (B, N) -> (v_hat, rstd (B, 1))."""
    mean = v.mean(-1, keepdim=True)
    centred = v - mean
    rstd = (centred.square().mean(-1, keepdim=True) + EPS).rsqrt()
    return centred * rstd, rstd


def normalize(
    v: Tensor, gamma: Tensor, beta: Tensor
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """v (B, N) -> (out, v_hat, rstd (B, 1)).

    Exported to ONNX, only ``out`` is computed, with ``F.layer_norm`` (ONNX's
    LayerNormalization): in torch 2.13 the ONNX exporter cannot type a reduction inside
    a ``Scan`` body, which is where a cell's step goes (``bptt.scan_export``)."""
    if exporting_to_onnx():
        out = torch.nn.functional.layer_norm(v, v.shape[-1:], gamma, beta, EPS)
        return out, None, None  # what backward needs is not needed there
    v_hat, rstd = standardize(v)
    return v_hat * gamma + beta, v_hat, rstd


def normalize_backward(
    d_out: Tensor, v_hat: Tensor, rstd: Tensor, gamma: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """dL/d out -> (dL/dv, dL/d gamma, dL/d beta), the last two summed over rows.

    With d = dL/d out * gamma: dL/dv = rstd * (d - mean(d) - v_hat * mean(d * v_hat)).
    """
    d = d_out * gamma
    d_v = rstd * (d - d.mean(-1, keepdim=True) - v_hat * (d * v_hat).mean(-1, keepdim=True))
    return d_v, (d_out * v_hat).sum(0), d_out.sum(0)


def normalized_projection(x: Tensor, weight: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """LN(x @ W.T; gamma, beta) for x (..., I), W (N, I): the input gates of the
    layer-normalised cells, every step at once."""
    return layer_norm(linear(x, weight), gamma.shape, gamma, beta, EPS)


def normalized_projection_backward(
    x: Tensor, weight: Tensor, gamma: Tensor, d_out: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """dL/d out (..., N) -> (dL/dx, dL/dW, dL/d gamma, dL/d beta) of ``normalized_projection``,
    with v = x @ W.T recomputed: dL/dx = dL/dv @ W, dL/dW = dL/dv.T @ x over all rows."""
    rows = x.reshape(-1, x.shape[-1])
    v_hat, rstd = standardize(linear(rows, weight))
    d_v, d_gamma, d_beta = normalize_backward(d_out.reshape(v_hat.shape), v_hat, rstd, gamma)
    return (d_v @ weight).view_as(x), d_v.T @ rows, d_gamma, d_beta
