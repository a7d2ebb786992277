"""The ``rnnkit`` command line: argument parsing into calls of the library.

rnnkit diagnose --cells rnn,lstm,gru --length 100 --steps 300 --out runs/diagnose
rnnkit train adding|sentiment|charlm|seqclass|generator|forecast|g2p|seq2seq ...
    (the tasks: rnnkit.tasks.cli)
rnnkit evaluate|generate|predict|forecast|translate RUN_DIR ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.arguments import duration, positive
from rnnkit.tasks import cli as task_commands
from rnnkit.train.adding import CELLS


def _cells(text: str) -> tuple[str, ...]:
    cells = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in cells if c not in CELLS]
    if unknown or not cells:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(CELLS)}, got {text!r}")
    return cells


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="rnnkit", description="Recurrent neural networks on PyTorch."
    )
    commands = main.add_subparsers(dest="command", required=True)
    diagnose = commands.add_parser(
        "diagnose",
        help="train cells on the adding problem and plot how far back their gradients reach",
        description="Writes gradient_by_lag.png, training_loss.png, gradient_norm.png and "
        "summary.txt into --out.",
    )
    diagnose.add_argument(
        "--cells", type=_cells, default=tuple(CELLS), help="comma-separated, e.g. rnn,lstm"
    )
    _add_adding_options(diagnose, "training time per cell, e.g. 30s or 10m (default: --steps only)")
    diagnose.add_argument(
        "--steps", type=positive, default=300, help="training steps per cell (default 300)"
    )
    diagnose.add_argument(
        "--out", type=Path, default=Path("runs/diagnose"), help="output directory"
    )
    _add_train(commands)
    task_commands.add_commands(commands)
    return main


def _add_adding_options(command: argparse.ArgumentParser, budget_help: str) -> None:
    """The options of every command that trains on the adding problem."""
    command.add_argument(
        "--length", type=positive, default=100, help="sequence length (default 100)"
    )
    command.add_argument("--hidden", type=positive, default=64, help="hidden size (default 64)")
    command.add_argument("--batch-size", type=positive, default=32)
    command.add_argument("--time-budget", type=duration, default=None, help=budget_help)
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_train(commands) -> None:
    train = commands.add_parser("train", help="train a model on a task")
    tasks = train.add_subparsers(dest="task", required=True)
    task_commands.add_train_tasks(tasks)
    adding = tasks.add_parser(
        "adding",
        help="the adding problem: a long-range dependency, solved when predictions are within 0.04",
        description="Trains, validates every epoch (MSE and accuracy on 1024 fixed sequences), "
        "writes metrics.jsonl and checkpoints into --run-dir; --resume continues a stopped run.",
    )
    adding.add_argument("--cell", choices=tuple(CELLS), default="lstm")
    _add_adding_options(adding, "e.g. 90s, 10m, 1.5h")
    adding.add_argument("--epochs", type=positive, default=10)
    adding.add_argument("--steps-per-epoch", type=positive, default=200)
    adding.add_argument("--lr", type=float, default=1e-3)
    adding.add_argument("--clip-norm", type=float, default=1.0)
    adding.add_argument("--checkpoint-every", type=positive, default=100, help="steps")
    patience_help = "stop after this many epochs without a better validation MSE"
    adding.add_argument("--patience", type=positive, default=None, help=patience_help)
    adding.add_argument("--run-dir", type=Path, default=Path("runs/adding"))
    adding.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")


def _train_adding(args: argparse.Namespace) -> None:
    import torch

    from rnnkit.train import TrainConfig, Trainer
    from rnnkit.train.adding import (
        AddingBatches,
        AddingModel,
        accuracy,
        adding_loss,
        adding_problem,
    )

    torch.manual_seed(args.seed)
    model = AddingModel(args.cell, args.hidden)
    valid_x, valid_y = adding_problem(
        1024, args.length, torch.Generator().manual_seed(args.seed + 1)
    )
    batches = AddingBatches(args.steps_per_epoch, args.batch_size, args.length, args.seed)
    config = TrainConfig(
        epochs=args.epochs, lr=args.lr, clip_norm=args.clip_norm, time_budget=args.time_budget,
        checkpoint_every=args.checkpoint_every, patience=args.patience, seed=args.seed,
        quiet=args.quiet,
    )  # fmt: skip

    def validate(model: torch.nn.Module) -> float:  # MSE on the fixed validation set
        with torch.no_grad():
            return float(adding_loss(model, (valid_x, valid_y)))

    trainer = Trainer(model, adding_loss, lambda epoch: batches, config, args.run_dir, validate)
    result = trainer.fit(resume=args.resume)
    mse, score = validate(model), accuracy(model, valid_x, valid_y)
    print(f"{result.steps} steps, {result.epochs} epochs ({result.stopped}); validation MSE "
          f"{mse:.4f}, accuracy {score:.1%}; run in {args.run_dir}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Bad input (a file, a column, a value the task cannot use) ends with a one-line
    error and status 2, as a bad option does; nothing has been written by then."""
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"rnnkit: error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command in task_commands.RUN_COMMANDS:
        print(task_commands.run_command(args))
    elif args.command == "train" and args.task != "adding":
        print(task_commands.train(args))
    elif args.command == "train":
        _train_adding(args)
    elif args.command == "diagnose":
        from rnnkit.train.diagnostics import diagnose, summary

        reports = diagnose(
            args.out, args.cells, args.length, args.hidden, args.steps, args.batch_size,
            args.seed, args.quiet, args.time_budget,
        )  # fmt: skip
        print(summary(reports, args.length), end="")
        print(f"plots and summary in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
