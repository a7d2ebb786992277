"""A small training run for the kill-and-resume test, run in a subprocess:

    python resumable_run.py RUN_DIR [--kill-at STEP] [--resume]

With --kill-at, the process kills itself with SIGKILL right after that optimiser step
(its checkpoint, if one was due, is written before). At the end it saves the final
weights as RUN_DIR/final.pt.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

import torch

import rnnkit.nn as rnn
from rnnkit.train import TrainConfig, Trainer, shuffled_batches


class Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = rnn.LSTM(3, 8, batch_first=True)
        self.dropout = torch.nn.Dropout(0.2)  # draws random numbers: the RNG state must resume
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x)
        return self.head(self.dropout(y[:, -1]))


def loss(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, target = batch
    return torch.nn.functional.mse_loss(model(x), target)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--kill-at", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(123)
    model = Model()
    data = torch.Generator().manual_seed(7)
    x = torch.randn(40, 6, 3, generator=data)
    target = x.sum((1, 2)).unsqueeze(1) / 6
    config = TrainConfig(epochs=3, lr=0.01, warmup_steps=4, checkpoint_every=4, keep_checkpoints=2,
                         seed=5, quiet=True)  # fmt: skip

    def on_step(step: int) -> None:
        if step == args.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    trainer = Trainer(model, loss, shuffled_batches((x, target), 6, seed=1), config, args.run_dir,
                      on_step=on_step)  # fmt: skip
    trainer.fit(resume=args.resume)
    torch.save(model.state_dict(), args.run_dir / "final.pt")


if __name__ == "__main__":
    main()
