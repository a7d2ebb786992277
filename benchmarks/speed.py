"""Wall-clock speed of rnnkit.nn.{LSTM,GRU,RNN} against torch.nn.{LSTM,GRU,RNN} on CPU.

For every kind and size (B, T, I, H) -- one layer, unidirectional, float32, time-major
input (T, B, I) -- two things are timed with ``time.perf_counter``:

* training: forward + ``loss.backward()``, loss = output.sum() + h_n.sum() (+ c_n.sum()
  for LSTM), with the input requiring grad; gradients are reset to None between runs,
  outside the timed region;
* inference: forward under ``torch.inference_mode()``.

The rnnkit module is loaded with the torch module's state_dict, so both compute the same
function (checked once per case, untimed). Each measurement gets 2 warm-up runs, then the
median of N repeats is reported. Both libraries run in the same process and are
interleaved repeat by repeat, so machine drift affects them equally.

Run from the repository root::

    python benchmarks/speed.py              # full grid, writes benchmarks/results/speed.md
    python benchmarks/speed.py --quick      # smoke run: 3 repeats, first two sizes
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

import rnnkit.nn

Size = tuple[int, int, int, int]  # (B, T, I, H)
KINDS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}  # CLI name -> class name in both libs
DEFAULT_SIZES: list[Size] = [
    (16, 500, 8, 64),
    (32, 200, 32, 128),
    (64, 100, 128, 256),
    (128, 50, 256, 512),
]
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "speed.md"
WARMUP = 2


def parse_sizes(text: str) -> list[Size]:
    sizes = [tuple(int(p) for p in item.lower().split("x")) for item in text.split(",")]
    if any(len(size) != 4 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes {text!r} are not all BxTxIxH")
    return sizes


def parse_kinds(text: str) -> list[str]:
    kinds = [k.strip().lower() for k in text.split(",")]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown kinds {unknown}; choose from {list(KINDS)}")
    return kinds


def build_pair(kind: str, size: Size) -> tuple[torch.nn.Module, torch.nn.Module, Tensor]:
    """A torch module, an rnnkit module with the same weights, and an input (T, B, I)."""
    b, t, i, h = size
    reference = getattr(torch.nn, KINDS[kind])(i, h)
    ours = getattr(rnnkit.nn, KINDS[kind])(i, h)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(t, b, i, requires_grad=True)
    # Untimed sanity check: a speed comparison is only meaningful for the same function.
    with torch.inference_mode():
        torch.testing.assert_close(ours(x)[0], reference(x)[0], rtol=1e-4, atol=1e-4)
    return reference, ours, x


def total_loss(output: Tensor, state: Tensor | tuple[Tensor, ...]) -> Tensor:
    states = state if isinstance(state, tuple) else (state,)  # LSTM returns (h_n, c_n)
    return output.sum() + sum(s.sum() for s in states)


def time_train(module: torch.nn.Module, x: Tensor) -> float:
    """Milliseconds for one forward + backward; grads are cleared first, untimed."""
    module.zero_grad(set_to_none=True)
    x.grad = None
    start = time.perf_counter()
    total_loss(*module(x)).backward()
    return (time.perf_counter() - start) * 1e3


def time_infer(module: torch.nn.Module, x: Tensor) -> float:
    """Milliseconds for one forward under inference_mode."""
    with torch.inference_mode():
        start = time.perf_counter()
        module(x)
        return (time.perf_counter() - start) * 1e3


def interleaved_medians(
    timer: Callable[[torch.nn.Module, Tensor], float],
    reference: torch.nn.Module,
    ours: torch.nn.Module,
    x: Tensor,
    repeats: int,
) -> tuple[float, float]:
    """Median ms of (torch, rnnkit). Who goes first alternates, so neither always pays
    for what the other left behind (cache state, allocator, frequency changes)."""
    for _ in range(WARMUP):
        timer(reference, x), timer(ours, x)
    times: dict[int, list[float]] = {0: [], 1: []}
    for r in range(repeats):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for which in order:
            times[which].append(timer((reference, ours)[which], x))
    return statistics.median(times[0]), statistics.median(times[1])


def measure_case(kind: str, size: Size, repeats: int) -> dict[str, float]:
    reference, ours, x = build_pair(kind, size)
    (torch_train, ours_train) = interleaved_medians(time_train, reference, ours, x, repeats)
    (torch_infer, ours_infer) = interleaved_medians(time_infer, reference, ours, x, repeats)
    return dict(
        torch_train=torch_train,
        ours_train=ours_train,
        torch_infer=torch_infer,
        ours_infer=ours_infer,
    )


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return models[0] if models else platform.processor() or "unknown"


Results = dict[str, dict[Size, dict[str, float]]]  # kind -> size -> {"torch_train": ms, ...}


def render(results: Results, repeats: int, load_at_start: float, wall: float) -> str:
    command = "python " + shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    lines = [
        "# rnnkit vs torch.nn: CPU speed",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores); load average at start "
        f"{load_at_start:.2f} (competing processes slow torch's threads down)",
        f"- command: `{command}` (whole run: {wall:.0f} s)",
        f"- times are medians of {repeats} interleaved repeats (after {WARMUP} warm-ups), in ms;"
        " ratio = torch / rnnkit, so > 1 means rnnkit is faster",
        "- single layer, unidirectional, float32, time-major input (T, B, I); "
        "train = forward + backward of output.sum() + final-state sums",
    ]
    for kind, rows in results.items():
        lines += [
            "",
            f"## {KINDS[kind]}",
            "",
            "| size (B,T,I,H) | torch train ms | rnnkit train ms | ratio (train) "
            "| torch infer ms | rnnkit infer ms | ratio (infer) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        ratios = []
        for size, m in rows.items():
            train_ratio = m["torch_train"] / m["ours_train"]
            ratios.append(train_ratio)
            lines.append(
                f"| ({','.join(map(str, size))}) | {m['torch_train']:.2f} | {m['ours_train']:.2f} "
                f"| {train_ratio:.2f} | {m['torch_infer']:.2f} | {m['ours_infer']:.2f} "
                f"| {m['torch_infer'] / m['ours_infer']:.2f} |"
            )
        geomean = math.exp(statistics.fmean(math.log(r) for r in ratios))
        lines += ["", f"Geometric mean of the training ratio: **{geomean:.2f}**"]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Temp file in the same directory + os.replace: readers never see a half-written table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a results file is meant to be read
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per measurement")
    parser.add_argument("--kinds", type=parse_kinds, default=list(KINDS), help="e.g. lstm,gru,rnn")
    parser.add_argument(
        "--sizes", type=parse_sizes, default=DEFAULT_SIZES, help="e.g. 16x500x8x64,64x100x128x256"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown output path")
    parser.add_argument("--quick", action="store_true", help="3 repeats, first two sizes")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.sizes = 3, args.sizes[:2]

    torch.manual_seed(0)
    load_at_start, start = os.getloadavg()[0], time.perf_counter()
    cases = [(kind, size) for kind in args.kinds for size in args.sizes]
    results: Results = {kind: {} for kind in args.kinds}
    for kind, size in tqdm(cases, desc="benchmark", unit="case", file=sys.stderr):
        results[kind][size] = measure_case(kind, size, args.repeats)

    text = render(results, args.repeats, load_at_start, time.perf_counter() - start)
    print(text, end="")
    write_atomically(args.out, text)
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
