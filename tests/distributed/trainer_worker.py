"""A small regression trained by rnnkit's Trainer in whatever world this process was
started in: alone (``python trainer_worker.py OUT``) or as one rank of a group
(``torchrun ... trainer_worker.py OUT``), once per case. Rank 0 saves the final weights
to OUT/CASE/final.pt; the data-parallel tests compare them, and OUT/CASE/metrics.jsonl,
across worlds.

Cases: ``plain`` (11 rows in batches of 5: the last batch has 1 row, fewer than the
ranks), ``nan`` (a NaN in the second batch, in rank 1's rows: the step must be skipped by
every rank, as one process skips it), ``budget`` (a time budget of 0.2 s and endless
epochs: every rank must stop, together; rank 0 writes how the run stopped to
OUT/budget/stopped).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch.nn.functional import mse_loss

from rnnkit.train import TrainConfig, Trainer, world


CASES = ("plain", "nan", "budget")


def train(out: Path, case: str) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x = torch.randn(11, 3, dtype=torch.float64)
    y = x.sum(1, keepdim=True) + 0.1 * torch.randn(11, 1, dtype=torch.float64)
    model = model.double()
    if case == "nan":
        x[9, 0] = float("nan")  # batch 1 holds rows 5-9; rank 1 of 2 takes rows 7-9
    batches = [(x[i : i + 5], y[i : i + 5]) for i in range(0, 11, 5)]
    vx, vy = torch.randn(7, 3, dtype=torch.float64), torch.randn(7, 1, dtype=torch.float64)

    def loss(model, batch):
        inputs, targets = batch
        return mse_loss(model(inputs), targets)

    def validate(model) -> float:  # each rank its share of the 7 rows, reduced
        def squared(part: slice) -> tuple[float, float]:
            return float(((model(vx[part]) - vy[part]) ** 2).sum()), part.stop - part.start

        return world.current().mean(len(vx), squared)

    config = TrainConfig(epochs=4, lr=0.05, checkpoint_every=1000, quiet=True, tensorboard=False)
    if case == "budget":
        config = replace(config, epochs=10**6, time_budget=0.2)
    result = Trainer(model, loss, lambda epoch: batches, config, out, validate).fit()
    if world.current().is_main:
        torch.save(model.state_dict(), out / "final.pt")
        (out / "stopped").write_text(result.stopped)


if __name__ == "__main__":
    if world.launched():
        world.join()
    for case in CASES:
        train(Path(sys.argv[1]) / case, case)
    world.leave()
