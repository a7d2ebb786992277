"""CPU speed, memory and streaming latency of rnnkit.nn.{LSTM,GRU,RNN} against torch.nn, and the
cell zoo's training speed.

One run measures, for one layer, unidirectional, float32, time-major input (T, B, I):

1. Speed per kind and size (B, T, I, H), with ``time.perf_counter``: torch.nn, and rnnkit
   on each engine -- native (C++) and pure (its PyTorch loops, backend "torch"):

   * training: forward + ``loss.backward()``, loss = output.sum() + h_n.sum() (+ c_n.sum()
     for LSTM), the input requiring grad; grads are reset to None between runs, untimed;
   * inference: forward under ``torch.inference_mode()``.

   rnnkit gets torch's state_dict, so all compute the same function (checked once per case
   and engine, untimed). 2 warm-up runs, then the median of N repeats; every repeat runs
   each contender once, in an order that rotates, so machine drift affects all equally.
2. Peak training memory, torch.nn vs native, each (kind, library, size) in a fresh
   subprocess so that one peak cannot hide another: build the module and input, run a
   tiny forward + backward (T=2, B=1: loads the kernels, allocates next to nothing), reset
   the resident-memory high-water mark (``/proc/self/clear_refs``, Linux), read it as the
   baseline, run one full-size forward + backward and report the mark - baseline: what
   that step added at its peak (activations, gradients, workspaces, allocator slack). The
   mark is read as VmHWM from ``/proc/self/status``: on Linux ``ru_maxrss`` is the same
   mark, except that it also keeps the parent's size at fork (see ``peak_rss_mb``).
3. Streaming latency at batch 1, I = H, under ``torch.inference_mode()``: rnnkit's
   ``module.stream(1).step(x)`` on each engine, ``torch.nn.{LSTM,GRU,RNN}Cell`` called with
   the previous state, and ``torch.nn.{LSTM,GRU,RNN}`` called with a (1, 1, I) input and
   the previous state. Median of every call (after 200 warm-up calls), in rounds of 100
   calls per contender, rotating.
4. Achieved GFLOP/s of LSTM training: FLOPs = 3 * 2*T*B*4H*(I+H) (the forward's input and
   recurrent GEMMs; the backward does twice that GEMM work) over the median training time,
   against two peak references timed in the same run: a 2048^3 float32 ``a @ b``
   (torch.mm, MKL) and oneDNN's GEMM (``torch.ops.mkldnn._linear_pointwise``).
5. The cell zoo and the regularisers (``benchmarks/zoo.py``, which documents it): every
   variant's training time against the same cell as a plain autograd loop and against
   rnnkit's plain LSTM, and minGRU's parallel mode against its sequential one.

Run from the repository root::

    python benchmarks/speed.py              # everything, writes benchmarks/results/speed.md
    python benchmarks/speed.py --quick      # smoke run: 3 repeats, first two sizes
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

import rnnkit.nn
from rnnkit.bptt import backend, native

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
ENGINES = {"native": "native", "pure": "torch"}  # rnnkit contender -> rnnkit backend
OURS = ["native", "pure"] if native.available() else ["pure"]  # never a silent fallback
STREAM_CASES = [("lstm", 64), ("lstm", 256), ("gru", 256), ("rnn", 256)]  # (kind, H = I)
STREAM_CHUNK = 100  # calls per contender and round; the warm-up is WARMUP rounds
GEMM_N = 2048

Timings = dict[tuple[str, str], float]  # ("train" | "infer", contender) -> median ms
Contender = Callable[[], list[float]]  # runs once (or one chunk), returns the timings


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


def engine(name: str):
    """rnnkit's backend for native/pure; nothing to choose for torch.nn contenders."""
    return backend.use_backend(ENGINES[name]) if name in ENGINES else nullcontext()


def on_engine(name: str, run: Contender) -> Contender:
    def wrapped() -> list[float]:
        with engine(name):  # entered outside the timed region
            return run()

    return wrapped


def interleaved_medians(
    contenders: dict[str, Contender], rounds: int, warmup: int = WARMUP
) -> dict[str, float]:
    """Median of each contender's timings. Every round runs each once; who goes first
    rotates, so no one always pays for what another left behind (cache, allocator, clock)."""
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name] += contenders[name]()
    return {name: statistics.median(values) for name, values in times.items()}


# -- 1. speed --------------------------------------------------------------------------------------


def build_pair(kind: str, size: Size) -> tuple[torch.nn.Module, torch.nn.Module, Tensor]:
    """A torch module, an rnnkit module with the same weights, and an input (T, B, I)."""
    b, t, i, h = size
    reference = getattr(torch.nn, KINDS[kind])(i, h)
    ours = getattr(rnnkit.nn, KINDS[kind])(i, h)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(t, b, i, requires_grad=True)
    # Untimed sanity check: a speed comparison is only meaningful for the same function.
    with torch.inference_mode():
        for name in OURS:
            with engine(name):
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


def measure_case(kind: str, size: Size, repeats: int) -> Timings:
    reference, ours, x = build_pair(kind, size)
    timings: Timings = {}
    for phase, timer in (("train", time_train), ("infer", time_infer)):
        contenders = {"torch.nn": lambda timer=timer: [timer(reference, x)]}
        for name in OURS:
            contenders[name] = on_engine(name, lambda timer=timer: [timer(ours, x)])
        for name, ms in interleaved_medians(contenders, repeats).items():
            timings[phase, name] = ms
    return timings


# -- 2. peak training memory -----------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's resident-memory high-water mark in MB: VmHWM on Linux, else ru_maxrss.

    Both are the same mark on Linux, but ru_maxrss can also hold the parent's resident size
    when it forked this process (kept across exec, and not lowered by clear_refs).
    """
    status = Path("/proc/self/status")
    for line in status.read_text().splitlines() if status.exists() else []:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, else KB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20


def reset_peak_rss() -> bool:
    """Lower the high-water mark to the current RSS (Linux >= 4.0); False if impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure_memory_child(kind: str, lib: str, size: Size) -> dict[str, float | bool]:
    """The ``--measure-memory`` subcommand, in a fresh process: point 2 of the docstring."""
    b, t, i, h = size
    module = getattr(torch.nn if lib == "torch.nn" else rnnkit.nn, KINDS[kind])(i, h)
    x = torch.randn(t, b, i, requires_grad=True)
    with engine(lib):
        total_loss(*module(torch.randn(2, 1, i, requires_grad=True))).backward()
        module.zero_grad(set_to_none=True)
        reset = reset_peak_rss()
        baseline = peak_rss_mb()
        total_loss(*module(x)).backward()
        return {"mb": peak_rss_mb() - baseline, "reset": reset}


def peak_memory_mb(kind: str, lib: str, size: Size) -> tuple[float | None, bool]:
    """(MB or None on failure, whether the high-water mark was reset), from a subprocess."""
    size_arg = "x".join(map(str, size))
    command = [sys.executable, str(Path(__file__).resolve()), "--measure-memory"]
    done = subprocess.run(command + [kind, lib, size_arg], capture_output=True, text=True)
    if done.returncode != 0:
        tqdm.write(f"memory {kind} {lib} {size_arg} failed:\n{done.stderr}", sys.stderr)
        return None, True
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["mb"], answer["reset"]


# -- 3. streaming latency --------------------------------------------------------------------------


def step_times(step: Callable[[], object], calls: int) -> list[float]:
    """Microseconds of each of ``calls`` calls."""
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        step()
        times.append((time.perf_counter_ns() - start) / 1e3)
    return times


def stream_contenders(kind: str, h: int) -> dict[str, Contender]:
    """A chunk of batch-1 steps of each contender, all with the same weights and x (1, H).

    Build outside inference_mode: rnnkit's stream watches its weights' version counters
    (to see training between steps), and parameters made under inference_mode have none.
    """
    layer = getattr(torch.nn, KINDS[kind])(h, h)
    cell = getattr(torch.nn, KINDS[kind] + "Cell")(h, h)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    ours = getattr(rnnkit.nn, KINDS[kind])(h, h)
    ours.load_state_dict(layer.state_dict())
    x = torch.randn(1, h)

    def zeros(*shape: int) -> Tensor | tuple[Tensor, Tensor]:  # LSTM's state is (h, c)
        return (torch.zeros(shape), torch.zeros(shape)) if kind == "lstm" else torch.zeros(shape)

    state = {"cell": zeros(1, h), "layer": zeros(1, 1, h)}

    def cell_step() -> None:  # LSTMCell returns (h, c), the others h: the next state
        state["cell"] = cell(x, state["cell"])

    def layer_step() -> None:
        state["layer"] = layer(x.view(1, 1, h), state["layer"])[1]

    contenders: dict[str, Contender] = {
        f"{KINDS[kind]}Cell": partial(step_times, cell_step, STREAM_CHUNK),
        KINDS[kind]: partial(step_times, layer_step, STREAM_CHUNK),
    }
    for name in OURS:
        stream = ours.stream(1)
        with engine(name), torch.inference_mode():  # untimed: the first step agrees
            first = cell(x, zeros(1, h))
            torch.testing.assert_close(stream.step(x), first[0] if kind == "lstm" else first)
            stream.reset()
        steps = partial(step_times, partial(stream.step, x), STREAM_CHUNK)
        contenders[name] = on_engine(name, steps)
    return contenders


def stream_medians(kind: str, h: int, calls: int) -> dict[str, float]:
    """Median microseconds per step of each contender."""
    contenders = stream_contenders(kind, h)
    with torch.inference_mode():
        return interleaved_medians(contenders, max(1, calls // STREAM_CHUNK))


# -- 4. GFLOP/s ------------------------------------------------------------------------------------


def gemm_gflops(repeats: int) -> dict[str, float]:
    """GFLOP/s of a GEMM_N^3 float32 product: torch.mm (``a @ b``) and oneDNN, if present."""
    a, b = torch.randn(GEMM_N, GEMM_N), torch.randn(GEMM_N, GEMM_N)
    products: dict[str, Callable[[], object]] = {"torch.mm": lambda: a @ b}
    try:  # a @ b.T, the same work
        torch.ops.mkldnn._linear_pointwise(a[:8], b, None, "none", [], "")
        products["oneDNN"] = lambda: torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], "")
    except (AttributeError, RuntimeError, NotImplementedError) as error:
        tqdm.write(f"oneDNN GEMM unavailable, skipped: {error}", sys.stderr)
    contenders = {name: partial(step_times, product, 1) for name, product in products.items()}
    medians = interleaved_medians(contenders, repeats, warmup=1)
    return {name: 2 * GEMM_N**3 / us / 1e3 for name, us in medians.items()}


def lstm_train_flops(size: Size) -> float:
    b, t, i, h = size
    return 3 * 2 * t * b * 4 * h * (i + h)


# -- report ----------------------------------------------------------------------------------------


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return models[0] if models else platform.processor() or "unknown"


def num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def ratio(top: float | None, bottom: float | None, mark: bool = False) -> str:
    """top / bottom; with mark, a trailing * when below 1.0 (rnnkit slower)."""
    if top is None or bottom is None or bottom <= 0:
        return "n/a"
    return f"{top / bottom:.2f}" + ("*" if mark and top < bottom else "")


def geomean(values: list[float]) -> float | None:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


def table(head: list[str], rows: list[list[str]], text_columns: int = 1) -> list[str]:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    align = "|" + "---|" * text_columns + "---:|" * (len(head) - text_columns)
    return ["", row(head), align, *map(row, rows)]


def size_cell(size: Size) -> str:
    return f"({','.join(map(str, size))})"


def render_header(args: argparse.Namespace, load_at_start: float, wall: float) -> list[str]:
    command = "python " + shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    status = "yes" if native.available() else f"NO ({native.unavailable_reason})"
    return [
        "# rnnkit vs torch.nn: CPU speed, memory, streaming latency",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores); load average at start "
        f"{load_at_start:.2f} (competing processes slow torch's threads down)",
        f"- command: `{command}` (whole run: {wall:.0f} s)",
        f"- rnnkit native engine available: {status}; pure = rnnkit on its PyTorch engine",
        f"- times are medians of {args.repeats} interleaved repeats (after {WARMUP} warm-ups), "
        "in ms; ratio = torch.nn / rnnkit, so > 1 means rnnkit is faster; "
        "`*` marks a torch/native ratio below 1.0",
        "- single layer, unidirectional, float32, time-major input (T, B, I); "
        "train = forward + backward of output.sum() + final-state sums",
    ]


def render_speed(kind: str, rows: dict[Size, Timings]) -> list[str]:
    lines = ["", f"## {KINDS[kind]}"]
    for phase, title in (("train", "Training (forward + backward)"), ("infer", "Inference")):
        cells = []
        for size, m in rows.items():
            t, n, p = (m.get((phase, name)) for name in ("torch.nn", "native", "pure"))
            cells.append([size_cell(size), num(t), num(n), num(p), ratio(t, n, True), ratio(t, p)])
        head = ["size (B,T,I,H)", "torch.nn ms", "native ms", "pure ms", "torch/native"]
        lines += ["", f"{title}:", *table(head + ["torch/pure"], cells)]
    means = {
        (phase, name): geomean(
            [m[phase, "torch.nn"] / m[phase, name] for m in rows.values() if (phase, name) in m]
        )
        for phase in ("train", "infer")
        for name in ("native", "pure")
    }
    return lines + [
        "",
        f"Geometric mean of torch/native: training **{num(means['train', 'native'])}**, "
        f"inference **{num(means['infer', 'native'])}** (torch/pure: training "
        f"{num(means['train', 'pure'])}, inference {num(means['infer', 'pure'])})",
    ]


def render_memory(memory: dict[tuple[str, Size, str], float | None], reset: bool) -> list[str]:
    cells = []
    for kind, size in dict.fromkeys((kind, size) for kind, size, _ in memory):
        t, n = (memory.get((kind, size, lib)) for lib in ("torch.nn", "native"))
        cells.append([KINDS[kind], size_cell(size), num(t, 1), num(n, 1), ratio(t, n)])
    head = ["kind", "size (B,T,I,H)", "torch.nn MB", "native MB", "torch/native"]
    lines = [
        "",
        "## Peak training memory",
        "",
        "Resident memory one forward + backward adds at its peak, in MB: one fresh process "
        "each; after building the module and input and a tiny warm-up step, the high-water "
        "mark is reset, then the mark after the step - the mark before it (VmHWM from "
        "`/proc/self/status`, the per-process `ru_maxrss`).",
        *table(head, cells, text_columns=2),
    ]
    if not reset:
        lines += ["", "The high-water mark could not be reset: these are lower bounds."]
    return lines


def render_stream(stream: dict[tuple[str, int], dict[str, float]]) -> list[str]:
    cells = []
    for (kind, h), m in stream.items():
        cell, layer, n = m[f"{KINDS[kind]}Cell"], m[KINDS[kind]], m.get("native")
        cells.append(
            [KINDS[kind], str(h), num(n, 1), num(m.get("pure"), 1), num(cell, 1), num(layer, 1)]
            + [ratio(cell, n, True), ratio(layer, n, True)]
        )
    head = ["kind", "H", "native µs", "pure µs", "torch.nn cell µs", "torch.nn layer µs"]
    return [
        "",
        "## Streaming latency, batch 1",
        "",
        "Median microseconds per step (I = H), under `torch.inference_mode()`: rnnkit's "
        "`stream(1).step(x)` on each engine; torch.nn's cell called with the previous state; "
        "torch.nn's layer called with a (1, 1, I) input and the previous state.",
        *table(head + ["cell/native", "layer/native"], cells),
    ]


def render_flops(rows: dict[Size, Timings], peaks: dict[str, float]) -> list[str]:
    cells = []
    for size, m in rows.items():
        flops = lstm_train_flops(size)
        t, n = (flops / m["train", name] / 1e6 if ("train", name) in m else None
                for name in ("torch.nn", "native"))  # fmt: skip
        percent = [num(100 * n / peaks[k], 0) if n and k in peaks else "n/a" for k in peaks]
        cells.append([size_cell(size), f"{flops / 1e9:.2f}", num(t, 1), num(n, 1), *percent])
    head = ["size (B,T,I,H)", "GFLOP", "torch.nn GFLOP/s", "native GFLOP/s"]
    peak_text = ", ".join(f"{name} {rate:.1f}" for name, rate in peaks.items())
    return [
        "",
        "## LSTM training: achieved GFLOP/s",
        "",
        "FLOPs = 3 * 2*T*B*4H*(I+H) (the forward's input and recurrent GEMMs; the backward "
        "does twice that) over the median training time above. Peak references, a "
        f"{GEMM_N}^3 float32 GEMM timed in this run, in GFLOP/s: {peak_text}.",
        *table(head + [f"native % of {k}" for k in peaks], cells),
    ]


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


def publish(path: Path, lines: list[str]) -> None:
    """A results file's lines, printed and written atomically."""
    text = "\n".join(lines) + "\n"
    print(text)
    write_atomically(path, text)


def write_report(path: Path, title: str, sections: list[str]) -> None:
    """A results file: ``# title``, the date and torch version, then ``sections`` (lines)."""
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    publish(path, [f"# {title}", "", f"- date: {now}; torch {torch.__version__}", "", *sections])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--repeats", type=int, help="timed repeats per measurement (default 7, quick 3)")
    add("--kinds", type=parse_kinds, default=list(KINDS), help="e.g. lstm,gru,rnn")
    add("--sizes", type=parse_sizes, default=DEFAULT_SIZES, help="e.g. 16x500x8x64,32x200x32x128")
    add("--stream-calls", type=int, help="timed steps per stream (default 2000, quick 300)")
    add("--gemm-repeats", type=int, help="timed 2048^3 GEMMs (default 10, quick 3)")
    add("--out", type=Path, default=DEFAULT_OUT, help="markdown output path")
    add("--quick", action="store_true", help="smoke run: fewer repeats, first two sizes")
    add("--skip-memory", action="store_true", help="no peak-memory table (saves subprocesses)")
    add("--skip-stream", action="store_true", help="no streaming-latency table")
    add("--skip-zoo", action="store_true", help="no cell-zoo tables (benchmarks/zoo.py)")
    add("--measure-memory", nargs=3, help=argparse.SUPPRESS)  # KIND LIB BxTxIxH, internal
    args = parser.parse_args()
    defaults = (3, 300, 3) if args.quick else (7, 2000, 10)
    for name, default in zip(("repeats", "stream_calls", "gemm_repeats"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.quick:
        args.sizes = args.sizes[:2]
    return args


def main() -> None:
    import zoo  # imports this module: only once it is loaded

    args = parse_args()
    if args.measure_memory:  # run by peak_memory_mb, in a fresh process
        kind, lib, size = args.measure_memory
        print(json.dumps(measure_memory_child(kind, lib, parse_sizes(size)[0])))
        return

    load_at_start, start = os.getloadavg()[0], time.perf_counter()
    torch.manual_seed(0)
    bar = dict(file=sys.stderr, unit="case")
    peaks = gemm_gflops(args.gemm_repeats)
    cases = [(kind, size) for kind in args.kinds for size in args.sizes]
    results: dict[str, dict[Size, Timings]] = {kind: {} for kind in args.kinds}
    for kind, size in tqdm(cases, desc="speed", **bar):
        results[kind][size] = measure_case(kind, size, args.repeats)
    memory, all_reset = {}, True
    libs = ["torch.nn"] + (["native"] if native.available() else [])
    jobs = [] if args.skip_memory else [(*case, lib) for case in cases for lib in libs]
    for kind, size, lib in tqdm(jobs, desc="memory", **bar):
        memory[kind, size, lib], reset = peak_memory_mb(kind, lib, size)
        all_reset &= reset
    stream = {}
    stream_cases = [] if args.skip_stream else [c for c in STREAM_CASES if c[0] in args.kinds]
    for kind, h in tqdm(stream_cases, desc="stream", **bar):
        stream[kind, h] = stream_medians(kind, h, args.stream_calls)

    zoo_lines = [] if args.skip_zoo else zoo.run(args.repeats, quick=args.quick)

    lines = render_header(args, load_at_start, time.perf_counter() - start)
    for kind, rows in results.items():
        lines += render_speed(kind, rows)
    lines += render_memory(memory, all_reset) if memory else []
    lines += render_stream(stream) if stream else []
    lines += render_flops(results["lstm"], peaks) if "lstm" in results else []
    lines += zoo_lines
    text = "\n".join(lines) + "\n"
    print(text, end="")
    write_atomically(args.out, text)
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
