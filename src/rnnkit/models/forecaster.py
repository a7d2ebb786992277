"""Forecasting: a window of the past in, the next ``horizon`` periods out, as a
distribution (Gaussian, or a set of quantiles) for every period and target.

Shapes: B windows, W past periods, H future periods, K targets, P past covariates,
F calendar features (known for the future too), L seasonal lags, Q outputs per value (2
for a Gaussian's mean and scale, or one per quantile).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from rnnkit.models.stack import recurrent_stack

DECODERS = ("direct", "autoregressive")
DISTRIBUTIONS = ("gaussian", "quantile")


def lag_positions(lags: tuple[int, ...], horizon: int) -> Tensor:
    """(L, H) positions from the window's end of each future period's value one season of
    m before it: y_{T+h-m} is past[:, (h mod m) - m] (repeated season by season when h >=
    m, the seasonal naive forecast). Each m must be at most the window."""
    back = [[h % m - m for h in range(horizon)] for m in lags]
    return torch.tensor(back, dtype=torch.long).view(-1, horizon)


class Forecaster(nn.Module):
    """(past targets (B, W, K), observed (B, W, K + P), past covariates (B, W, P), calendar
    (B, W + H, F)) -> distribution parameters (B, H, K, Q).

    The encoder reads, for each past period, ``[y_t, observed_t, covariates_t, calendar_t]``
    (``observed`` is 1 where a target or covariate was measured and 0 where a gap was filled
    in; with ``covariate_mask`` False, as in runs from before it, only the targets' part).

    Seasonal lags: for each period m of ``lags`` (each at most W) and each future period
    h, the value one season before it, ``y_{T+h-m}`` (repeated season by season when h >=
    m: the seasonal naive forecast of period m), taken from the window, joins that period's
    calendar row in the decoder. A seasonal pattern then needs no memory of W periods.

    * ``direct`` decoding: the encoder's last output and all H future calendar rows go
      through one MLP that emits every period at once (no error accumulates over the
      horizon).
    * ``autoregressive`` decoding: a decoder stack starts from the encoder's final state
      and steps through the horizon on ``[y_{t-1}, calendar_t]``; in training y_{t-1} is
      the true value (teacher forcing), in forecasting its own central prediction.

    With ``relative`` the values are taken relative to the window's last value (inputs
    minus it, outputs plus it): a trending series then looks the same at every level, so
    the model can forecast levels it never saw in training.
    """

    def __init__(
        self,
        targets: int,
        covariates: int = 0,
        calendar: int = 0,
        horizon: int = 12,
        cell: str = "lstm",
        hidden: int = 64,
        layers: int = 1,
        dropout: float = 0.0,
        decoder: str = "direct",
        distribution: str = "gaussian",
        quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
        relative: bool = True,
        lags: tuple[int, ...] = (),
        covariate_mask: bool = False,
    ) -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
        if not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon must be a positive int, got {horizon!r}")
        if distribution == "quantile" and (
            list(quantiles) != sorted(set(quantiles)) or not all(0 < q < 1 for q in quantiles)
        ):
            raise ValueError(f"quantiles must rise strictly inside (0, 1), got {quantiles!r}")
        self.targets, self.calendar, self.horizon = targets, calendar, horizon
        self.decoder, self.distribution, self.relative = decoder, distribution, relative
        self.quantiles = tuple(quantiles)
        self.outputs = 2 if distribution == "gaussian" else len(quantiles)
        self.lags, self.covariate_mask = tuple(lags), covariate_mask
        self.register_buffer("lag_index", lag_positions(self.lags, horizon), persistent=False)
        masks = targets + (covariates if covariate_mask else 0)
        self.encoder = recurrent_stack(
            targets + masks + covariates + calendar, cell, hidden, layers, False, dropout
        )
        self.dropout = nn.Dropout(dropout)
        future = calendar + len(self.lags) * targets  # what each future period brings
        if decoder == "direct":
            self.head = nn.Sequential(
                nn.Linear(hidden + horizon * future, hidden),
                nn.ReLU(),
                nn.Linear(hidden, horizon * targets * self.outputs),
            )
        else:
            self.decoder_stack = recurrent_stack(
                targets + future, cell, hidden, layers, False, dropout
            )
            self.head = nn.Linear(hidden, targets * self.outputs)

    def forward(
        self,
        past: Tensor,
        observed: Tensor,
        covariates: Tensor,
        calendar: Tensor,
        future: Tensor | None = None,
    ) -> Tensor:
        """-> raw parameters (B, H, K, Q): means and scales (after ``softplus``) or
        quantiles in rising order. ``future`` (B, H, K): the true values, for teacher
        forcing (autoregressive decoding in training); None forecasts."""
        batch, window, _ = past.shape
        level = past[:, -1:, :] if self.relative else torch.zeros_like(past[:, -1:, :])
        if self.lags and window < max(self.lags):
            raise ValueError(f"past: {window} periods, fewer than the longest lag {max(self.lags)}")
        if not self.covariate_mask:
            observed = observed[..., : self.targets]
        relative = past - level
        inputs = torch.cat((relative, observed, covariates, calendar[:, :window]), dim=2)
        encoded, state = self.encoder(inputs)  # (B, W, hidden)
        ahead = self._ahead(relative, calendar[:, window:])
        if self.decoder == "direct":
            last = self.dropout(encoded[:, -1])
            raw = self.head(torch.cat((last, ahead.flatten(1)), dim=1))
            raw = raw.view(batch, self.horizon, self.targets, self.outputs)
        else:
            raw = self._decode(relative[:, -1:], state, ahead, future, level)
        return self._shape(raw, level)

    def _ahead(self, relative: Tensor, calendar: Tensor) -> Tensor:
        """What each future period brings: its calendar row (B, H, F) and, for each lag m,
        ``y_{T+h-m}`` from the window (B, W, K) -> (B, H, F + L K)."""
        if not self.lags:
            return calendar
        seasonal = relative[:, self.lag_index]  # (B, L, H, K)
        seasonal = seasonal.permute(0, 2, 1, 3).reshape(*calendar.shape[:2], -1)
        return torch.cat((calendar, seasonal), dim=2)

    def _decode(self, first, state, ahead, future, level) -> Tensor:
        if future is not None:  # teacher forcing: the whole horizon in one pass
            previous = torch.cat((first, future[:, :-1] - level), dim=1)
            y, _ = self.decoder_stack(torch.cat((previous, ahead), dim=2), state)
            raw = self.head(self.dropout(y))
            return raw.view(*raw.shape[:2], self.targets, self.outputs)
        steps, previous = [], first
        for t in range(self.horizon):
            y, state = self.decoder_stack(torch.cat((previous, ahead[:, t : t + 1]), 2), state)
            raw = self.head(y).view(y.shape[0], 1, self.targets, self.outputs)
            steps.append(raw)
            previous = self._central(self._shape(raw, 0.0))  # (B, 1, K), still relative
        return torch.cat(steps, dim=1)

    def _shape(self, raw: Tensor, level) -> Tensor:
        """Raw outputs -> (mean, scale > 0) or rising quantiles, back at the level."""
        level = level.unsqueeze(-1) if isinstance(level, Tensor) else level
        if self.distribution == "gaussian":
            mean, scale = raw[..., :1], softplus(raw[..., 1:]) + 1e-4
            return torch.cat((mean + level, scale), dim=-1)
        # The lowest quantile, then positive steps up: quantiles can never cross.
        steps = torch.cat((raw[..., :1], softplus(raw[..., 1:])), dim=-1)
        return steps.cumsum(-1) + level

    def _central(self, parameters: Tensor) -> Tensor:
        """(…, K, Q) -> (…, K): the mean, or the median quantile (the nearest to 0.5)."""
        if self.distribution == "gaussian":
            return parameters[..., 0]
        middle = min(range(len(self.quantiles)), key=lambda k: abs(self.quantiles[k] - 0.5))
        return parameters[..., middle]

    def loss(self, parameters: Tensor, future: Tensor, mask: Tensor) -> Tensor:
        """Mean negative log-likelihood (Gaussian) or pinball loss (quantiles) over the
        observed future values (``mask`` (B, H, K) is 1 where observed)."""
        if self.distribution == "gaussian":
            mean, scale = parameters[..., 0], parameters[..., 1]
            per_value = torch.log(scale) + 0.5 * ((future - mean) / scale) ** 2
            per_value = per_value + 0.5 * math.log(2 * math.pi)
        else:
            q = torch.tensor(self.quantiles, dtype=future.dtype, device=future.device)
            error = future.unsqueeze(-1) - parameters  # (B, H, K, Q)
            per_value = torch.maximum(q * error, (q - 1) * error).mean(-1)
        return (per_value * mask).sum() / mask.sum().clamp(min=1)

    def interval(self, parameters: Tensor, coverage: float) -> tuple[Tensor, Tensor, Tensor]:
        """-> (central, lower, upper), each (B, H, K): a central prediction and an interval
        meant to hold ``coverage`` of the outcomes. Quantile heads use their outermost
        quantiles, so their coverage is fixed by ``quantiles``."""
        if self.distribution == "gaussian":
            z = NormalDist().inv_cdf(0.5 + coverage / 2)  # a number: no erfinv in the graph
            mean, scale = parameters[..., 0], parameters[..., 1]
            return mean, mean - z * scale, mean + z * scale
        return self._central(parameters), parameters[..., 0], parameters[..., -1]
