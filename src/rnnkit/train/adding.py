"""The adding problem (Hochreiter & Schmidhuber 1997), a long-range dependency task: a
sequence of (value, marker) pairs, values uniform in [0, 1], exactly two markers set (one
in each half); the target is the sum of the two marked values, read off the last step.
Predicting the mean (1.0) gives an MSE of about 1/6; a model that has learnt it gets
within 0.04 of the sum (the usual criterion for "solved")."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

import rnnkit.nn as rnn

CELLS = {"rnn": rnn.RNN, "lstm": rnn.LSTM, "gru": rnn.GRU}
TOLERANCE = 0.04  # a prediction within this of the sum counts as correct


def adding_problem(count: int, length: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """-> x (count, length, 2), y (count, 1)."""
    if length < 2:
        raise ValueError(f"length must be at least 2, got {length}")
    values = torch.rand(count, length, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (count,), generator=generator)
    second = torch.randint(half, length, (count,), generator=generator)
    markers = torch.zeros(count, length)
    rows = torch.arange(count)
    markers[rows, first] = markers[rows, second] = 1.0
    target = (values * markers).sum(1, keepdim=True)
    return torch.stack((values, markers), dim=2), target


class AddingBatches(Sequence):
    """``steps`` batches of the adding problem, each made when asked for from its own
    seed: the same batch every time, and no memory held for the ones not in use."""

    def __init__(self, steps: int, batch_size: int, length: int, seed: int) -> None:
        self.steps, self.batch_size, self.length, self.seed = steps, batch_size, length, seed

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not 0 <= index < self.steps:
            raise IndexError(index)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index + 1)
        return adding_problem(self.batch_size, self.length, generator)


class AddingModel(torch.nn.Module):
    """A recurrent layer (an LSTM with forget-gate bias 1, the usual initialisation:
    Keras' default; Jozefowicz et al. 2015) and a linear read-out of its last step."""

    def __init__(self, cell: str, hidden: int) -> None:
        super().__init__()
        self.recurrent = CELLS[cell](2, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, 1)
        if cell == "lstm":
            with torch.no_grad():  # forget gate (the second block): bias 1 in all
                self.recurrent.bias_ih_l0[hidden : 2 * hidden].fill_(1.0)
                self.recurrent.bias_hh_l0[hidden : 2 * hidden].zero_()

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.recurrent(x)
        return self.head(y[:, -1])


def adding_loss(model: torch.nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    x, target = batch
    return torch.nn.functional.mse_loss(model(x), target)


def accuracy(model: torch.nn.Module, x: Tensor, target: Tensor) -> float:
    """The fraction of predictions within TOLERANCE of the target."""
    with torch.no_grad():
        return float(((model(x) - target).abs() < TOLERANCE).float().mean())
