"""Argument types of the command line: each failure names what it expected."""

from __future__ import annotations

import argparse
from pathlib import Path

_UNITS = {"s": 1, "m": 60, "h": 3600}


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def rate(text: str) -> float:
    """A dropout-like rate in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def duration(text: str) -> float:
    """Seconds from "90", "90s", "10m", "1.5h"."""
    number, unit = (text[:-1], text[-1]) if text and text[-1] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 90s, 10m or 1.5h, got {text!r}"
        ) from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration, got {text!r}")
    return seconds


def add_epochs_option(command: argparse.ArgumentParser, epochs: int) -> None:
    """``--epochs`` of a command with ``--time-budget``, where a budget means the budget:
    without ``--epochs``, training runs ``epochs`` epochs, or, given a budget, until the
    budget ends (or early stopping). ``resolve_epochs`` sets ``args.epochs`` so."""
    command.add_argument(
        "--epochs", type=positive, default=None,
        help=f"at most this many (default {epochs}; with --time-budget, as many as it holds)",
    )  # fmt: skip
    command.set_defaults(default_epochs=epochs)


def resolve_epochs(args: argparse.Namespace) -> None:
    """``args.epochs`` as ``add_epochs_option`` promises: given, the given count; else
    None (until the budget) with ``--time-budget``, or the command's default without."""
    if "default_epochs" in vars(args) and args.epochs is None and args.time_budget is None:
        args.epochs = args.default_epochs


def add_run_options(command: argparse.ArgumentParser) -> None:
    """The options every ``rnnkit train TASK`` shares: where the run goes and how."""
    add = command.add_argument
    add("--seed", type=int, default=0)
    add("--out", type=Path, required=True, help="the run directory")
    add("--resume", action="store_true", help="continue the run in --out")
    add("--overwrite", action="store_true", help="replace whatever is in --out")
    add("--quiet", action="store_true", help="no progress bars")


def add_model_options(
    command: argparse.ArgumentParser,
    data: str,
    hidden: int,
    layers: int,
    dropout: float,
    epochs: int,
    batch_size: int,
) -> None:
    """The options of the tasks that train one recurrent stack on a data set, with each
    task's own defaults; then ``add_run_options``."""
    from rnnkit.cells import CELLS

    add = command.add_argument
    add("--data", default=data, help=f"a named data set or a file (default {data})")
    add("--cell", choices=sorted(CELLS), default="lstm")
    add("--hidden", type=positive, default=hidden, help=f"hidden size (default {hidden})")
    add("--layers", type=positive, default=layers)
    add("--embedding-dim", type=positive, default=128)
    add("--dropout", type=rate, default=dropout)
    add_epochs_option(command, epochs)
    add("--time-budget", type=duration, default=None, help="e.g. 90s, 10m, 1.5h")
    add("--lr", type=float, default=2e-3)
    add("--batch-size", type=positive, default=batch_size)
    add_run_options(command)


def add_adding_options(command: argparse.ArgumentParser, budget_help: str) -> None:
    """The options of every command that trains on the adding problem."""
    command.add_argument(
        "--length", type=positive, default=100, help="sequence length (default 100)"
    )
    command.add_argument("--hidden", type=positive, default=64, help="hidden size (default 64)")
    command.add_argument("--batch-size", type=positive, default=32)
    command.add_argument("--time-budget", type=duration, default=None, help=budget_help)
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--quiet", action="store_true", help="no progress bars")
