"""The ``rnnkit`` command line: argument parsing into calls of the library.

rnnkit diagnose --cells rnn,lstm,gru --length 100 --steps 300 --out runs/diagnose
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.train.diagnostics import CELLS


def _cells(text: str) -> tuple[str, ...]:
    cells = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in cells if c not in CELLS]
    if unknown or not cells:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(CELLS)}, got {text!r}")
    return cells


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


_UNITS = {"s": 1, "m": 60, "h": 3600}


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
    diagnose.add_argument(
        "--length", type=_positive, default=100, help="sequence length (default 100)"
    )
    diagnose.add_argument("--hidden", type=_positive, default=64, help="hidden size (default 64)")
    diagnose.add_argument(
        "--steps", type=_positive, default=300, help="training steps per cell (default 300)"
    )
    diagnose.add_argument("--batch-size", type=_positive, default=32)
    budget_help = "training time per cell, e.g. 30s or 10m (default: --steps only)"
    diagnose.add_argument("--time-budget", type=duration, default=None, help=budget_help)
    diagnose.add_argument("--seed", type=int, default=0)
    diagnose.add_argument(
        "--out", type=Path, default=Path("runs/diagnose"), help="output directory"
    )
    diagnose.add_argument("--quiet", action="store_true", help="no progress bars")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "diagnose":
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
