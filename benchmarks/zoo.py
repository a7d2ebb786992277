"""Training speed of the cell zoo and the regularisers (issue 4), on this machine's CPU.

1. Every variant, at (B, T, I, H) = (16, 500, 8, 64) and (64, 100, 128, 256): rnnkit
   (``Recurrent(cell, **regularisers)`` on the native engine, training mode) against

   * the same cell written as a plain autograd loop over its ``nn.Module`` step, the
     regularisers written the usual way around it (zoneout and recurrent-dropout masks
     drawn once per call, weight drop as AWD-LSTM does it: the dropped weight set on the
     module for the call);
   * rnnkit's plain LSTM (``Recurrent(LSTMCell)``, native) at the same size.

   Training = forward + backward of y.sum() + the final state's sums, in training mode.
2. minGRU at T = 4096, B = 16, I = H = 256: the whole-sequence (parallel) mode on each
   engine -- native: one pass over time per row, vectorised over units; pure: the
   log-space scan (cumsum + logcumsumexp) -- against its own sequential mode (the cell's
   step unrolled under autograd) and torch.nn.GRU on the same shape.

Medians of interleaved repeats (``speed.interleaved_medians``). Run from the repository
root: ``python benchmarks/zoo.py`` (writes benchmarks/results/zoo.md); ``benchmarks/speed.py``
runs it too and appends its tables to speed.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor
from torch.nn.functional import dropout
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import engine, interleaved_medians, num, ratio, size_cell, table  # noqa: E402

from rnnkit.bptt import autograd_unroll  # noqa: E402
from rnnkit.cells import LSTMCell, MinGRUCell, RecurrentCell, make_cell  # noqa: E402
from rnnkit.layers import Recurrent  # noqa: E402
from rnnkit.layers.regularisers import Regularisers  # noqa: E402

Size = tuple[int, int, int, int]  # (B, T, I, H)
SIZES: list[Size] = [(16, 500, 8, 64), (64, 100, 128, 256)]
SCAN_SIZE: Size = (16, 4096, 256, 256)
ALL_THREE = {"zoneout": 0.1, "recurrent_dropout": 0.25, "weight_drop": 0.5}
#: name -> (cell name, cell options, regularisers)
VARIANTS: dict[str, tuple[str, dict, dict]] = {
    "LSTM + zoneout 0.1": ("lstm", {}, {"zoneout": 0.1}),
    "LSTM + recurrent dropout 0.25": ("lstm", {}, {"recurrent_dropout": 0.25}),
    "LSTM + weight drop 0.5": ("lstm", {}, {"weight_drop": 0.5}),
    "LSTM + all three": ("lstm", {}, ALL_THREE),
    "GRU + all three": ("gru", {}, ALL_THREE),
    "Elman + all three": ("elman", {}, ALL_THREE),
    "LayerNorm LSTM": ("layernorm_lstm", {}, {}),
    "LayerNorm GRU": ("layernorm_gru", {}, {}),
    "Peephole LSTM": ("peephole_lstm", {}, {}),
    "sLSTM (4 heads)": ("slstm", {"heads": 4}, {}),
    "IndRNN": ("indrnn", {}, {}),
    "minGRU": ("mingru", {}, {}),
    "minLSTM": ("minlstm", {}, {}),
}


class AutogradLoop(torch.nn.Module):
    """The cell's own step in a Python loop under autograd, regularisers written around it."""

    def __init__(self, cell: RecurrentCell, regularisers: Regularisers) -> None:
        super().__init__()
        self.cell, self.regularisers = cell, regularisers

    def forward(self, x: Tensor):
        cell, reg = self.cell, self.regularisers
        steps, batch, _ = x.shape
        zoned = cell.pointwise.zoneout_states if cell.pointwise is not None else 1
        keep = reg.zoneout_mask(steps, batch, cell.hidden_size, x, True)
        mask = reg.recurrent_mask(batch, cell.output_size, x, True)
        raw = cell._parameters["weight_hh"] if reg.weight_drop else None
        if raw is not None:  # AWD-LSTM's weight drop: the dropped weight, for this call
            cell._parameters["weight_hh"] = dropout(raw, reg.weight_drop, True)
        try:
            state, outputs = cell.init_state(batch, x.device, x.dtype), []
            for t in range(steps):
                y, new = cell(x[t], state, recurrent_mask=mask)
                if keep is not None:
                    z = keep[t]
                    new = type(new)(
                        *(n + z * (s - n) for n, s in zip(new[:zoned], state, strict=False)),
                        *new[zoned:],
                    )
                    y = new[0]
                state = new
                outputs.append(y)
        finally:
            if raw is not None:
                cell._parameters["weight_hh"] = raw
        return torch.stack(outputs), tuple(state)


def train_time(module: torch.nn.Module, x: Tensor) -> list[float]:
    module.zero_grad(set_to_none=True)
    start = time.perf_counter()
    y, state = module(x)
    (y.sum() + sum(s.sum() for s in state)).backward()
    return [(time.perf_counter() - start) * 1e3]


def native(run: Callable[[], list[float]]) -> Callable[[], list[float]]:
    def wrapped() -> list[float]:
        with engine("native"):
            return run()

    return wrapped


def measure_variant(name: str, size: Size, repeats: int) -> dict[str, float]:
    b, t, i, h = size
    cell_name, options, regs = VARIANTS[name]
    torch.manual_seed(0)
    cell = make_cell(cell_name, i, h, **options)
    plain = Recurrent(LSTMCell(i, h))
    x = torch.randn(t, b, i)
    contenders = {
        "rnnkit": native(lambda: train_time(Recurrent(cell, **regs), x)),
        "autograd loop": lambda: train_time(AutogradLoop(cell, Regularisers(**regs)), x),
        "plain LSTM": native(lambda: train_time(plain, x)),
    }
    return interleaved_medians(contenders, repeats, warmup=1)


def measure_scan(repeats: int) -> dict[str, float]:
    b, t, i, h = SCAN_SIZE
    torch.manual_seed(0)
    cell, gru = MinGRUCell(i, h), torch.nn.GRU(i, h)
    x = torch.randn(t, b, i)
    layer = Recurrent(cell)

    def sequential() -> list[float]:
        return train_time(_Unrolled(cell), x)

    contenders = {
        "parallel, native": native(lambda: train_time(layer, x)),
        "parallel, pure (log-space scan)": lambda: _on_torch(lambda: train_time(layer, x)),
        "sequential (step under autograd)": sequential,
        "torch.nn.GRU": lambda: train_time(_TorchGRU(gru), x),
    }
    return interleaved_medians(contenders, repeats, warmup=1)


def _on_torch(run):
    with engine("pure"):
        return run()


class _Unrolled(torch.nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x):
        return autograd_unroll(self.cell, x, tuple(self.cell.init_state(x.shape[1])))


class _TorchGRU(torch.nn.Module):
    def __init__(self, gru):
        super().__init__()
        self.gru = gru

    def forward(self, x):
        y, h = self.gru(x)
        return y, (h,)


def render(variants: dict[tuple[str, Size], dict[str, float]], scan: dict[str, float]) -> list[str]:
    lines = [
        "",
        "## Cell zoo and regularisers: training (issue 4)",
        "",
        "Forward + backward in training mode, ms (median). Speed-up = autograd loop / rnnkit "
        "(target >= 5); vs LSTM = rnnkit / rnnkit's plain LSTM at the same size (target "
        "<= 1.3; minGRU/minLSTM: reported).",
    ]
    rows = []
    for (name, size), t in variants.items():
        rows.append(
            [name, size_cell(size), num(t["rnnkit"]), num(t["autograd loop"]),
             ratio(t["autograd loop"], t["rnnkit"]), num(t["plain LSTM"]),
             ratio(t["rnnkit"], t["plain LSTM"])]
        )  # fmt: skip
    head = ["variant", "(B,T,I,H)", "rnnkit", "autograd loop", "speed-up", "plain LSTM", "vs LSTM"]
    lines += table(head, rows, text_columns=2)
    if scan:
        b, t, i, h = SCAN_SIZE
        base = scan["parallel, native"]
        lines += [
            "",
            f"### minGRU, parallel vs sequential, (B,T,I,H) = ({b},{t},{i},{h})",
            "",
            "Training, ms (median); ratio = that row's time / the native parallel mode's.",
        ]
        lines += table(
            ["mode", "ms", "ratio"], [[k, num(v), ratio(v, base)] for k, v in scan.items()]
        )
    return lines


def run(repeats: int = 5, scan_repeats: int = 3, quick: bool = False) -> list[str]:
    cases = [(name, size) for size in SIZES for name in VARIANTS]
    results = {}
    for name, size in tqdm(cases, desc="zoo", unit="case", file=sys.stderr):
        results[name, size] = measure_variant(name, size, repeats)
    scan = {} if quick else measure_scan(scan_repeats)
    return render(results, scan)


if __name__ == "__main__":
    import argparse

    from speed import write_atomically

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 repeats, no minGRU scan section")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "zoo.md")
    args = parser.parse_args()
    lines = run(3 if args.quick else args.repeats, quick=args.quick)
    text = "\n".join(["# rnnkit cell zoo: CPU training speed", *lines]) + "\n"
    print(text)
    write_atomically(args.out, text)
