"""The ``rnnkit`` command line: argument parsing into calls of the library.

rnnkit diagnose --cells rnn,lstm,gru --length 100 --steps 300 --out runs/diagnose
rnnkit train adding|sentiment|charlm|seqclass|generator|forecast|g2p|seq2seq ...
    (the tasks: rnnkit.tasks.cli)
rnnkit evaluate|generate|predict|forecast|translate RUN_DIR ...
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from rnnkit.arguments import add_adding_options, positive
from rnnkit.serve.server import add_serve_command, serve
from rnnkit.tasks import cli as task_commands
from rnnkit.train.adding import CELLS
from rnnkit.train.world import LostRank


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
    add_adding_options(diagnose, "training time per cell, e.g. 30s or 10m (default: --steps only)")
    diagnose.add_argument(
        "--steps", type=positive, default=300, help="training steps per cell (default 300)"
    )
    diagnose.add_argument(
        "--out", type=Path, default=Path("runs/diagnose"), help="output directory"
    )
    _add_train(commands)
    task_commands.add_commands(commands)
    add_serve_command(commands)
    return main


def _add_train(commands) -> None:
    train = commands.add_parser("train", help="train a model on a task")
    tasks = train.add_subparsers(dest="task", required=True)
    task_commands.add_train_tasks(tasks)


def main(argv: list[str] | None = None) -> int:
    """Bad input (a file, a column, a value the task cannot use) ends with a one-line
    error and status 2, as a bad option does; nothing has been written by then."""
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the processes of --nproc
    try:
        with warnings.catch_warnings():  # restores showwarning
            warnings.showwarning = _show_warning
            return _run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"rnnkit: error: {error}", file=sys.stderr)
        return 2
    except LostRank as error:
        print(f"rnnkit: error: {error}", file=sys.stderr)
        return 1


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning on the command line: one line, as the errors are."""
    print(f"rnnkit: warning: {message}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    if args.command in task_commands.RUN_COMMANDS:
        print(task_commands.run_command(args))
    elif args.command == "train":
        report = task_commands.train(args)
        if report:  # a rank but 0 of a group, or the launcher of --nproc, has nothing
            print(report)
    elif args.command == "serve":
        serve(args)
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
