"""Gradient-flow diagnostics: how far back in time each cell's gradient reaches.

Each cell is trained briefly on the adding problem (``rnnkit.train.adding``), whose
target is read off the last step. Then, on a fresh batch, the loss there is
backpropagated and the engine records ||dL/dh_t|| for every step t
(``record_gradient_flow``); plotted against the lag T - 1 - t on a log scale, an Elman
RNN's falls off exponentially and an LSTM's or GRU's more slowly: the vanishing-gradient
problem, measured.

    reports = diagnose("runs/diagnose", cells=("rnn", "lstm", "gru"), length=100)

writes ``gradient_by_lag.png``, ``training_loss.png``, ``gradient_norm.png`` (the norm
before clipping, at every step, to see explosions) and ``summary.txt`` into the directory,
with one training run directory per cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.bptt import record_gradient_flow
from rnnkit.train.adding import (
    CELLS,
    TOLERANCE,
    AddingBatches,
    AddingModel,
    accuracy,
    adding_loss,
    adding_problem,
)
from rnnkit.train.files import write_atomic
from rnnkit.train.metrics import MetricsLog
from rnnkit.train.trainer import TrainConfig, Trainer

FLOOR = 1e-6  # the summary's "reach": the lag where the gradient falls below this fraction


@dataclass
class CellReport:
    """What ``diagnose`` found for one cell."""

    cell: str
    norms_by_lag: Tensor  # (T,): ||dL/dh|| at lag 0 (the loss's step) .. T - 1
    reach: int | None  # first lag where the norm is below FLOOR of its lag-0 value; None: never
    accuracy: float  # on a fresh batch, after training
    losses: list[float]  # training loss per step
    gradient_norms: list[float]  # global gradient norm before clipping, per step


def gradient_by_lag(model: torch.nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """||dL/dh|| against the lag from the last step, where the loss is read: (T,)."""
    with record_gradient_flow() as flow:
        adding_loss(model, (x, target)).backward()
    model.zero_grad(set_to_none=True)
    return flow.records[0].norms.flip(0)


def diagnose(
    out_dir: str | Path,
    cells: Sequence[str] = ("rnn", "lstm", "gru"),
    length: int = 100,
    hidden: int = 64,
    steps: int = 300,
    batch_size: int = 32,
    seed: int = 0,
    quiet: bool = False,
    time_budget: float | None = None,
) -> list[CellReport]:
    """Train each cell for ``steps`` batches of the adding problem at ``length`` (or for
    ``time_budget`` seconds, if that comes first) and measure its gradient flow; write the
    plots and the summary into ``out_dir``."""
    unknown = [c for c in cells if c not in CELLS]
    if unknown or not cells:
        raise ValueError(f"cells must be some of {tuple(CELLS)}, got {tuple(cells)}")
    for name, value in {
        "length": length,
        "hidden": hidden,
        "steps": steps,
        "batch_size": batch_size,
    }.items():
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")
    out_dir = Path(out_dir)
    test_x, test_y = adding_problem(512, length, torch.Generator().manual_seed(seed))
    train = AddingBatches(steps, batch_size, length, seed)
    reports = []
    for cell in cells:
        torch.manual_seed(seed)
        model = AddingModel(cell, hidden)
        run_dir = out_dir / cell
        config = TrainConfig(epochs=1, lr=1e-3, clip_norm=1.0, checkpoint_every=steps, seed=seed,
                             quiet=quiet, time_budget=time_budget)  # fmt: skip
        Trainer(model, adding_loss, lambda epoch: train, config, run_dir).fit()
        records = MetricsLog(run_dir, tensorboard=False).read()
        norms = gradient_by_lag(model, test_x, test_y)
        relative = norms / norms[0]
        below = (relative < FLOOR).nonzero()

        reach = int(below[0]) if len(below) else None
        losses, gradient_norms = [r["loss"] for r in records], [r["grad_norm"] for r in records]
        score = accuracy(model, test_x, test_y)
        reports.append(CellReport(cell, norms, reach, score, losses, gradient_norms))
    _write_plots(out_dir, reports, length)
    text = summary(reports, length).encode()
    write_atomic(out_dir / "summary.txt", lambda file: file.write(text))
    return reports


def summary(reports: Sequence[CellReport], length: int) -> str:
    """The reports as a table of text: the contents of ``summary.txt``."""
    lines = [
        f"adding problem, length {length}",
        f"reach: the lag where ||dL/dh|| falls below {FLOOR:g} of its value at the loss",
        f"accuracy: |prediction - target| < {TOLERANCE}, on 512 fresh sequences",
        "",
    ]
    for r in reports:
        reach = f"{r.reach} steps" if r.reach is not None else f"beyond {length - 1} steps"
        accuracy, loss = f"accuracy {r.accuracy:6.1%}", f"final loss {r.losses[-1]:.4f}"
        lines.append(f"{r.cell:5s} reach {reach:>16s}  {accuracy}  {loss}  ({len(r.losses)} steps)")
    return "\n".join(lines) + "\n"


def _write_plots(out_dir: Path, reports: Sequence[CellReport], length: int) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no screen needed
    import matplotlib.pyplot as plt

    relative = {
        r.cell: (r.norms_by_lag / r.norms_by_lag[0]).clamp_min(1e-30).tolist() for r in reports
    }
    plots = {  # file: (x label, y label, the values of a report)
        "gradient_by_lag.png": ("lag from the loss (steps)", "||dL/dh|| / its value at the loss",
                                lambda r: relative[r.cell]),
        "training_loss.png": ("training step", "loss (MSE)", lambda r: r.losses),
        "gradient_norm.png": ("training step", "gradient norm before clipping",
                              lambda r: r.gradient_norms),
    }  # fmt: skip
    for name, (xlabel, ylabel, values) in plots.items():
        figure, axes = plt.subplots(figsize=(7, 4.5))
        for report in reports:
            axes.plot(values(report), label=report.cell)
        axes.set_yscale("log")
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.set_title(f"adding problem, length {length}")
        axes.legend()
        write_atomic(
            out_dir / name, partial(figure.savefig, format="png", dpi=110, bbox_inches="tight")
        )
        plt.close(figure)
