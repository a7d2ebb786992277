"""An ensemble of forecasters of one shape, trained from different seeds.

A small network on a short series lands somewhere different on every run; the mean of a
few runs keeps what they agree on and averages away their separate mistakes. The
ensemble's central forecast is the members' mean central forecast, and each end of its
interval the mean of the members' ends (averaging quantiles, "Vincentization": the
combined interval is as wide as a typical member's, centred on the combined forecast).

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
        self.horizon = members[0].horizon

    def forward(self, *inputs: Tensor) -> Tensor:
        """The inputs of ``Forecaster.forward`` (forecasting: no teacher forcing)."""
        return torch.stack([member(*inputs) for member in self.members])

    def interval(self, parameters: Tensor, coverage: float) -> tuple[Tensor, Tensor, Tensor]:
        """-> (central, lower, upper), each (B, H, K): the members' means."""
        parts = [m.interval(p, coverage) for m, p in zip(self.members, parameters, strict=True)]
        return tuple(torch.stack(part).mean(0) for part in zip(*parts, strict=True))
