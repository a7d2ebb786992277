"""Distribution heads for probabilistic forecasts: a network's raw outputs (..., size) ->
a distribution's parameters, its loss on the truth, its mean and its quantiles.

    head = LIKELIHOODS["student-t"]()
    params = head.parameters(raw)                # (..., 3): mean, scale > 0, dof > 2
    loss = head.loss(params, y, scale)           # (...,) per value, y in the series' units
    head.quantiles(params, (0.1, 0.9), scale)    # (..., 2), in the series' units
    head.sample(params, scale, 100, seed=0)      # (100, ...): draws, in the series' units

The network works in scaled units (each series divided by its ``scale`` (..., ) > 0, as
DeepAR does, Salinas et al. 2017), so that one network serves series of any size. Every
head but the negative binomial is scale-equivariant: its parameters are those of y /
scale, and its loss is taken there, so that every series weighs alike. The negative
binomial models counts as they are: its mean is scale * softplus(raw), its dispersion
softplus(raw) / sqrt(scale) (DeepAR's choice), and its loss is on the raw counts.

Quantiles are exact for the Gaussian and the quantile head; the Student-t and negative
binomial ones are estimated from ``SAMPLES`` draws of a fixed random stream (the same
answer every call, the caller's random state untouched). ``sample`` draws each value of
``params`` on its own: for a head that forecasts each future period directly, a sample
path is a draw of every period from its own distribution.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import NegativeBinomial, Normal, StudentT
from torch.nn.functional import softplus

SAMPLES = 2000  # draws behind a Student-t or negative-binomial quantile


class GaussianHead:
    size = 2

    def parameters(self, raw: Tensor) -> Tensor:
        return torch.stack((raw[..., 0], softplus(raw[..., 1]) + 1e-4), dim=-1)

    def loss(self, params: Tensor, y: Tensor, scale: Tensor) -> Tensor:
        return -Normal(params[..., 0], params[..., 1]).log_prob(y / scale)

    def mean(self, params: Tensor, scale: Tensor) -> Tensor:
        return params[..., 0] * scale

    def quantiles(self, params: Tensor, levels: tuple[float, ...], scale: Tensor) -> Tensor:
        q = torch.tensor(levels, dtype=params.dtype, device=params.device)
        z = math.sqrt(2) * torch.erfinv(2 * q - 1)
        return (params[..., :1] + params[..., 1:2] * z) * scale.unsqueeze(-1)

    def sample(self, params: Tensor, scale: Tensor, count: int, seed: int = 0) -> Tensor:
        return _draws(Normal(params[..., 0], params[..., 1]), count, seed) * scale


class StudentTHead:
    size = 3

    def parameters(self, raw: Tensor) -> Tensor:
        dof = 2 + softplus(raw[..., 2])  # > 2: a finite variance
        return torch.stack((raw[..., 0], softplus(raw[..., 1]) + 1e-4, dof), dim=-1)

    def _distribution(self, params: Tensor) -> StudentT:
        return StudentT(params[..., 2], params[..., 0], params[..., 1])

    def loss(self, params: Tensor, y: Tensor, scale: Tensor) -> Tensor:
        return -self._distribution(params).log_prob(y / scale)

    def mean(self, params: Tensor, scale: Tensor) -> Tensor:
        return params[..., 0] * scale

    def quantiles(self, params: Tensor, levels: tuple[float, ...], scale: Tensor) -> Tensor:
        return _sampled(self._distribution(params), levels) * scale.unsqueeze(-1)

    def sample(self, params: Tensor, scale: Tensor, count: int, seed: int = 0) -> Tensor:
        return _draws(self._distribution(params), count, seed) * scale


class NegativeBinomialHead:
    """Counts: mean mu > 0 and dispersion alpha > 0 (variance mu + alpha mu^2)."""

    size = 2

    def parameters(self, raw: Tensor) -> Tensor:
        return torch.stack((softplus(raw[..., 0]) + 1e-6, softplus(raw[..., 1]) + 1e-6), dim=-1)

    def _distribution(self, params: Tensor, scale: Tensor) -> NegativeBinomial:
        mu, alpha = params[..., 0] * scale, params[..., 1] / scale.sqrt()
        # total_count r = 1 / alpha and logits log(mu alpha): mean r e^logits = mu.
        return NegativeBinomial(total_count=1 / alpha, logits=torch.log(mu * alpha))

    def loss(self, params: Tensor, y: Tensor, scale: Tensor) -> Tensor:
        if (y < 0).any():
            raise ValueError("the negative binomial likelihood is for counts: values must be >= 0")
        return -self._distribution(params, scale).log_prob(y)

    def mean(self, params: Tensor, scale: Tensor) -> Tensor:
        return params[..., 0] * scale

    def quantiles(self, params: Tensor, levels: tuple[float, ...], scale: Tensor) -> Tensor:
        return _sampled(self._distribution(params, scale), levels)

    def sample(self, params: Tensor, scale: Tensor, count: int, seed: int = 0) -> Tensor:
        return _draws(self._distribution(params, scale), count, seed).to(params.dtype)


class QuantileHead:
    """The quantiles at ``levels`` directly, never crossing (the lowest, then positive
    steps up), trained with the pinball loss; other levels are interpolated."""

    def __init__(self, levels: tuple[float, ...] = (0.1, 0.5, 0.9)) -> None:
        if list(levels) != sorted(set(levels)) or not all(0 < q < 1 for q in levels):
            raise ValueError(f"quantile levels must rise strictly inside (0, 1), got {levels!r}")
        self.levels, self.size = tuple(levels), len(levels)

    def parameters(self, raw: Tensor) -> Tensor:
        return torch.cat((raw[..., :1], softplus(raw[..., 1:])), dim=-1).cumsum(-1)

    def loss(self, params: Tensor, y: Tensor, scale: Tensor) -> Tensor:
        q = torch.tensor(self.levels, dtype=params.dtype, device=params.device)
        error = (y / scale).unsqueeze(-1) - params
        return torch.maximum(q * error, (q - 1) * error).mean(-1)

    def mean(self, params: Tensor, scale: Tensor) -> Tensor:
        return self.quantiles(params, (0.5,), scale)[..., 0]

    def quantiles(self, params: Tensor, levels: tuple[float, ...], scale: Tensor) -> Tensor:
        known = torch.tensor(self.levels, dtype=params.dtype, device=params.device)
        out = []
        for level in levels:  # linear between the two known levels around it (or the end)
            upper = int(torch.searchsorted(known, torch.tensor(level, dtype=known.dtype)))
            upper = min(max(upper, 1), len(self.levels) - 1)
            low, high = known[upper - 1], known[upper]
            weight = (level - low) / (high - low)
            below, above = params[..., upper - 1], params[..., upper]
            out.append(below + weight * (above - below))
        return torch.stack(out, dim=-1) * scale.unsqueeze(-1)

    def sample(self, params: Tensor, scale: Tensor, count: int, seed: int = 0) -> Tensor:
        """Inverse transform sampling: u ~ U(0, 1) through the quantile function that
        ``quantiles`` interpolates."""
        generator = torch.Generator(device=params.device).manual_seed(seed)
        u = torch.rand((count, *params.shape[:-1]), generator=generator, dtype=params.dtype,
                       device=params.device)  # fmt: skip
        known = torch.tensor(self.levels, dtype=params.dtype, device=params.device)
        upper = torch.searchsorted(known, u.contiguous()).clamp(1, len(self.levels) - 1)
        low, high = known[upper - 1], known[upper]
        expanded = params.expand(count, *params.shape)
        below = expanded.gather(-1, (upper - 1).unsqueeze(-1))[..., 0]
        above = expanded.gather(-1, upper.unsqueeze(-1))[..., 0]
        return (below + (u - low) / (high - low) * (above - below)) * scale


def _draws(distribution, count: int, seed: int) -> Tensor:
    """(count, ...) draws from a fixed random stream (the caller's left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return distribution.sample((count,))


def _sampled(distribution, levels: tuple[float, ...]) -> Tensor:
    draws = _draws(distribution, SAMPLES, 0).to(torch.float64)
    q = torch.tensor(levels, dtype=torch.float64)
    return torch.quantile(draws, q, dim=0).movedim(0, -1).to(distribution.mean.dtype)


LIKELIHOODS = {
    "gaussian": GaussianHead,
    "student-t": StudentTHead,
    "negative-binomial": NegativeBinomialHead,
    "quantile": QuantileHead,
}
