"""Layer normalisation of one vector per row (Ba et al. 2016) and its derivative, the
building block of the layer-normalised cells' pointwise parts::

    v_hat = (v - mean(v)) * rstd,   rstd = 1 / sqrt(var(v) + eps)      over the last dim
    out   = gamma * v_hat + beta
"""

from __future__ import annotations

from torch import Tensor

EPS = 1e-5


def normalize(v: Tensor, gamma: Tensor, beta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """v (B, N) -> (out, v_hat, rstd (B, 1))."""
    mean = v.mean(-1, keepdim=True)
    centred = v - mean
    rstd = (centred.square().mean(-1, keepdim=True) + EPS).rsqrt()
    v_hat = centred * rstd
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
