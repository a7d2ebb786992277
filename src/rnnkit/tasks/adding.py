"""``rnnkit train adding``: the adding problem (``rnnkit.train.adding``), a long-range
dependency solved when predictions are within 0.04 of the sum. A training exercise: its
run directory holds the trainer's checkpoints and metrics, not a model to load."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rnnkit.arguments import add_adding_options, add_epochs_option, positive
from rnnkit.tasks.interface import Task
from rnnkit.train import TrainConfig, Trainer, world
from rnnkit.train.adding import (
    CELLS,
    AddingBatches,
    AddingModel,
    accuracy,
    adding_loss,
    adding_problem,
)


class AddingTask(Task):
    name = "adding"
    help = "the adding problem: a long-range dependency, solved when predictions are within 0.04"
    description = (
        "Trains, validates every epoch (MSE and accuracy on 1024 fixed sequences), writes "
        "metrics.jsonl and checkpoints into --run-dir; --resume continues a stopped run."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add = parser.add_argument
        add("--cell", choices=tuple(CELLS), default="lstm")
        add_adding_options(parser, "e.g. 90s, 10m, 1.5h")
        add_epochs_option(parser, 10)
        add("--steps-per-epoch", type=positive, default=200)
        add("--lr", type=float, default=1e-3)
        add("--clip-norm", type=float, default=1.0)
        add("--checkpoint-every", type=positive, default=100, help="steps")
        patience_help = "stop after this many epochs without a better validation MSE"
        add("--patience", type=positive, default=None, help=patience_help)
        add("--run-dir", type=Path, default=Path("runs/adding"))
        add("--resume", action="store_true", help="continue from the newest checkpoint")

    def train(self, args: argparse.Namespace) -> str:
        torch.manual_seed(args.seed)
        model = AddingModel(args.cell, args.hidden)
        valid_x, valid_y = adding_problem(
            1024, args.length, torch.Generator().manual_seed(args.seed + 1)
        )
        batches = AddingBatches(args.steps_per_epoch, args.batch_size, args.length, args.seed)
        config = TrainConfig(
            epochs=args.epochs, lr=args.lr, clip_norm=args.clip_norm,
            time_budget=args.time_budget, checkpoint_every=args.checkpoint_every,
            patience=args.patience, seed=args.seed, quiet=args.quiet,
        )  # fmt: skip

        def validate(model: torch.nn.Module) -> float:
            """MSE on the fixed validation set (each rank of a group its share)."""

            def squared(part: slice) -> tuple[float, float]:
                with torch.no_grad():
                    mse = float(adding_loss(model, (valid_x[part], valid_y[part])))
                return mse * len(valid_x[part]), len(valid_x[part])

            return world.current().mean(len(valid_x), squared)

        trainer = Trainer(model, adding_loss, lambda epoch: batches, config, args.run_dir, validate)
        result = trainer.fit(resume=args.resume)
        mse, score = validate(model), accuracy(model, valid_x, valid_y)
        return (
            f"{result.steps} steps, {result.epochs} epochs ({result.stopped}); validation MSE "
            f"{mse:.4f}, accuracy {score:.1%}; run in {args.run_dir}"
        )


ADDING = AddingTask()
