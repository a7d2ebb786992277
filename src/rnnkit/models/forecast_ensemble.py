"""An ensemble of forecasters of one shape, trained from different seeds.

A small network on a short series lands somewhere different on every run; the mean of a
few runs keeps what they agree on and averages away their separate mistakes. The
ensemble's central forecast is the members' mean central forecast. Its interval:

* Gaussian members: that of the equally weighted mixture of the members' Gaussians,
  matched by one Gaussian (Lakshminarayanan et al. 2017, "deep ensembles"),

      mu = mean_m mu_m,    sigma^2 = mean_m (sigma_m^2 + (mu_m - mu)^2),

  so that where the members disagree (a period unlike the training ones) the interval
  widens by their spread as well as by their own uncertainty.
* Quantile members: each end is the mean of the members' ends (averaging quantiles,
  "Vincentization": as wide as a typical member's interval, centred on the combined
  forecast).

Shapes as in ``forecaster``: B windows, H periods, K targets, Q parameters per value,
M members.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.models.forecaster import Forecaster


class ForecastEnsemble(nn.Module):
    """``Forecaster`` members -> parameters (M, B, H, K, Q); ``interval`` averages theirs."""

    def __init__(self, members: list[Forecaster]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.horizon, self.lags = members[0].horizon, members[0].lags

    def forward(self, *inputs: Tensor) -> Tensor:
        """The inputs of ``Forecaster.forward`` (forecasting: no teacher forcing)."""
        return torch.stack([member(*inputs) for member in self.members])

    def interval(self, parameters: Tensor, coverage: float) -> tuple[Tensor, Tensor, Tensor]:
        """parameters (M, B, H, K, Q) -> (central, lower, upper), each (B, H, K)."""
        first = self.members[0]
        if first.distribution == "gaussian":
            means, scales = parameters[..., 0], parameters[..., 1]  # (M, B, H, K)
            mean = means.mean(0)
            variance = (scales**2 + (means - mean) ** 2).mean(0)
            mixture = torch.stack((mean, variance.sqrt()), dim=-1)
            return first.interval(mixture, coverage)
        parts = [m.interval(p, coverage) for m, p in zip(self.members, parameters, strict=True)]
        return tuple(torch.stack(part).mean(0) for part in zip(*parts, strict=True))
