"""One forecasting network for many related series (a global model, as DeepAR is: Salinas
et al. 2017), with a direct multi-horizon head and any head of ``likelihoods``.

Shapes: B windows, W past periods, H future periods, L seasonal lags, F calendar features,
P past covariates.
Values arrive divided by their window's scale (``scaled``), so that one network serves
series of any size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.models.forecaster import lag_positions
from rnnkit.models.likelihoods import LIKELIHOODS
from rnnkit.models.stack import recurrent_stack


class GlobalForecaster(nn.Module):
    """(y (B, W), observed (B, W), lags (B, W, L), age (B, W), calendar (B, W + H, F),
    series (B,) ids, covariates (B, W, P), covariates_observed (B, W, P)) -> the
    distribution's parameters (B, H, size) in scaled units.

    Each past period t reads ``[y_t, observed_t, y_{t-m} for each seasonal lag m, age_t,
    calendar_t, covariates_t, covariates_observed_t, embedding(series)]``: ``observed`` is 0
    where y_t was missing (or before the series began) and y_t then 0, and likewise for each
    covariate; ``age`` is log(1 + periods since the series began).
    The encoder's last output, the series' embedding and, for each future period h, its
    calendar row and its value one season before for each period m of ``future_lags``
    (``y_{T+h-m}``, repeated season by season: the seasonal naive forecast of period m)
    go through one MLP that emits every future period at once.
    """

    def __init__(
        self,
        horizon: int,
        lags: int = 0,
        calendar: int = 0,
        series: int = 0,
        embedding_dim: int = 0,
        cell: str = "lstm",
        hidden: int = 40,
        layers: int = 2,
        dropout: float = 0.1,
        likelihood: str = "student-t",
        covariates: int = 0,
        future_lags: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {sorted(LIKELIHOODS)}, got {likelihood!r}")
        self.horizon, self.calendar = horizon, calendar
        self.head_kind = LIKELIHOODS[likelihood]()
        size = self.head_kind.size
        self.embedding = nn.Embedding(series, embedding_dim) if embedding_dim > 0 else None
        width = embedding_dim if self.embedding is not None else 0
        inputs = 3 + lags + calendar + 2 * covariates + width
        self.encoder = recurrent_stack(inputs, cell, hidden, layers, False, dropout)
        self.dropout = nn.Dropout(dropout)
        self.future_lags = tuple(future_lags)
        self.register_buffer("lag_index", lag_positions(self.future_lags, horizon),
                             persistent=False)  # fmt: skip
        ahead = calendar + len(self.future_lags)  # what each future period brings
        self.head = nn.Sequential(
            nn.Linear(hidden + width + horizon * ahead, hidden),
            nn.ReLU(),
            nn.Linear(hidden, horizon * size),
        )
        self.size = size

    def forward(self, y: Tensor, observed: Tensor, lags: Tensor, age: Tensor, calendar: Tensor,
                series: Tensor, covariates: Tensor, covariates_observed: Tensor,
                ) -> Tensor:  # fmt: skip
        batch, window = y.shape
        parts = [y.unsqueeze(-1), observed.unsqueeze(-1), lags, age.unsqueeze(-1),
                 calendar[:, :window], covariates, covariates_observed]  # fmt: skip
        extra = []
        if self.embedding is not None:
            embedded = self.embedding(series)  # (B, E)
            parts.append(embedded.unsqueeze(1).expand(batch, window, -1))
            extra.append(embedded)
        encoded, _ = self.encoder(torch.cat(parts, dim=2))
        last = self.dropout(encoded[:, -1])
        ahead = calendar[:, window:]  # (B, H, F)
        if self.future_lags:
            ahead = torch.cat((ahead, y[:, self.lag_index].transpose(1, 2)), dim=2)  # + (B, H, L')
        raw = self.head(torch.cat([last, *extra, ahead.flatten(1)], dim=1))
        return self.head_kind.parameters(raw.view(batch, self.horizon, self.size))
