"""CPU inference speed of rnnkit.nn.{LSTM,GRU,RNN} compiled, exported and in onnxruntime,
against eager rnnkit and torch.nn.

One run measures, for one layer, unidirectional (RNN: tanh), float32, time-major input
(T, B, I), on speed.py's sizes (B, T, I, H):

1. Inference time of one forward call per kind and size, with ``time.perf_counter``, of

   * torch.nn: eager, and under ``torch.compile`` (default mode; dynamo breaks the graph
     around torch.nn's RNNs, as expected);
   * rnnkit on its native engine: eager; under ``torch.compile(dynamic=True, fullgraph=True)``;
     exported by ``torch.export.export`` with dynamic B and T, run as ``ep.module()``;
   * onnxruntime: ``torch.onnx.export(dynamo=True)`` of the rnnkit module with dynamic B and T,
     run by an ``InferenceSession`` on the CPUExecutionProvider with intra_op_num_threads =
     ``torch.get_num_threads()`` (the same cores) and its idle workers not spinning (spinning
     ones slow the torch contenders that run next; ``--ort-spinning`` lets them spin);
     ``session.run`` is timed on a numpy input made beforehand.

   The torch contenders run under ``torch.inference_mode()``, or ``torch.no_grad()`` for one
   that refuses it (the report says which). rnnkit gets torch.nn's state_dict; every
   contender's output and final state are checked once per case, untimed, against torch.nn
   eager's (max |difference| <= 1e-4); a contender that fails to build or to agree reads
   n/a and its error is listed. Compilation and export happen once per module (dynamic
   shapes) before timing; their one-off cost (including the first call, where compilation
   happens) is a table of its own. dynamo's caches are reset between cases, so that no case
   runs into its recompile limit. 2 warm-up runs, then the median of N repeats; every
   repeat runs each contender once, in an order that rotates, so machine drift affects all
   equally.
2. Streaming latency at batch 1, I = H in {64, 256}, under ``torch.inference_mode()``:
   rnnkit's ``module.stream(1).step(x)`` (native), ``torch.nn.{LSTM,GRU,RNN}Cell`` called
   with the previous state, and onnxruntime running the module exported (dynamic B and T)
   as ``(x, h0[, c0]) -> (y, h_n[, c_n])`` at T = 1, its state fed back. Median of every
   call, in rounds of 100 calls per contender, rotating, after 2 warm-up rounds.

Run from the repository root::

    python benchmarks/export.py            # everything, writes benchmarks/results/export.md
    python benchmarks/export.py --quick    # smoke run: 3 repeats, first two sizes
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor
from torch.export import Dim
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import (  # noqa: E402
    DEFAULT_SIZES,
    KINDS,
    STREAM_CHUNK,
    WARMUP,
    Contender,
    Size,
    cpu_model,
    geomean,
    interleaved_medians,
    num,
    parse_kinds,
    parse_sizes,
    size_cell,
    step_times,
    table,
    write_atomically,
)

from rnnkit import nn as rnn  # noqa: E402
from rnnkit.bptt import backend, native  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "export.md"
TOL = 1e-4  # max |difference| from torch.nn eager
STREAM_HIDDEN = (64, 256)  # I = H of the batch-1 streaming cases
ORT = "onnxruntime"
# one contender per column, in this order; the compiled/exported ones list their one-off cost
CONTENDERS = ["torch.nn", "torch.nn compiled", "rnnkit", "rnnkit compiled", "rnnkit exported", ORT]
ONE_OFF = ["torch.nn compiled", "rnnkit compiled", "rnnkit exported", ORT]
# onnxruntime's idle workers spin by default, on the cores torch's own threads need: with a
# spinning session in the process, torch.nn.LSTM at (16,500,8,64) ran about 2x slower (2-core
# machine, measured while busy), and onnxruntime no faster. A contender must not tax the
# others; --ort-spinning restores the default.
ORT_CONFIG = {"session.intra_op.allow_spinning": "0"}
COMPILED_TARGET, ORT_AIM = 0.95, 1.5  # eager/compiled time at least; ort/native time at most

GradMode = Callable[[], AbstractContextManager]
Run = Callable[[], object]  # one forward call of a contender on its prepared input


class Report:
    """What a run found, besides the medians: one-off costs, grad modes, failures."""

    def __init__(self) -> None:
        self.one_off: dict[tuple[str, Size], dict[str, float]] = {}
        self.no_grad: list[str] = []  # contenders that refused inference_mode
        self.failures: list[str] = []

    def fail(self, where: str, error: BaseException) -> None:
        text = (str(error).strip().splitlines() or [""])[0][:300]
        self.failures.append(f"{where}: {type(error).__name__}: {text}")
        tqdm.write(f"{where} failed: {type(error).__name__}: {text}", sys.stderr)


# -- contenders ------------------------------------------------------------------------------------


def flat(outputs: object) -> list[Tensor]:
    """(y, h_n) or (y, (h_n, c_n)) or onnxruntime's [y, h_n, c_n] -> [y, h_n(, c_n)]."""
    if isinstance(outputs, tuple | list):
        return [t for item in outputs for t in flat(item)]
    return [torch.from_numpy(outputs) if isinstance(outputs, np.ndarray) else outputs]


def check_agrees(got: object, want: list[Tensor]) -> None:
    got = flat(got)
    if len(got) != len(want):
        raise AssertionError(f"{len(got)} outputs, torch.nn has {len(want)}")
    for g, w in zip(got, want, strict=True):
        if g.shape != w.shape:
            raise AssertionError(f"shape {tuple(g.shape)}, torch.nn's is {tuple(w.shape)}")
        error = float((g - w).abs().max())
        if not error <= TOL:  # also catches NaN
            raise AssertionError(f"max |difference| from torch.nn {error:.1e} > {TOL:.0e}")


def first_call(run: Run, torch_free: bool) -> tuple[object, GradMode, str | None]:
    """Call once under inference_mode, else under no_grad: (outputs, the mode, why not the
    first). Compilation happens here, in the mode that the timed calls will use."""
    if torch_free:
        return run(), nullcontext, None
    try:
        with torch.inference_mode():
            return run(), torch.inference_mode, None
    except Exception as error:  # e.g. an inference tensor saved for backward
        with torch.no_grad():
            return run(), torch.no_grad, f"{type(error).__name__}: {error}".splitlines()[0]


def timed(run: Run, mode: GradMode) -> Contender:
    """Milliseconds of one call, the grad mode entered outside the timed region."""

    def once() -> list[float]:
        with mode():
            start = time.perf_counter()
            run()
            return [(time.perf_counter() - start) * 1e3]

    return once


def session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the cores torch uses
    for key, value in ORT_CONFIG.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def onnx_export(module: torch.nn.Module, args: tuple, path: str, **kwargs) -> None:
    """torch.onnx.export(dynamo=True), without its chatter (torchvision, deprecations)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, dynamo=True, verbose=False, **kwargs)


def time_major_dims() -> tuple[dict[int, Dim]]:
    return ({0: Dim("T", min=1), 1: Dim("B", min=1)},)  # x (T, B, I)


def builders(
    reference: torch.nn.Module, ours: torch.nn.Module, x: Tensor, outputs: int, workdir: str
) -> dict[str, Callable[[], Run]]:
    """Each contender's set-up (compile, export, ...), returning its forward call; outputs =
    how many tensors the modules return, flattened: y, h_n(, c_n)."""

    def exported() -> Run:
        module = torch.export.export(ours, (x,), dynamic_shapes=time_major_dims()).module()
        return partial(module, x)

    def onnxruntime() -> Run:
        path = os.path.join(workdir, "model.onnx")
        names = ["y", "h_n", "c_n"][:outputs]
        onnx_export(
            ours, (x,), path, input_names=["x"], output_names=names,
            dynamic_shapes=time_major_dims(),
        )  # fmt: skip
        feeds = {"x": x.numpy()}
        return partial(session(path).run, None, feeds)

    return {
        "torch.nn": lambda: partial(reference, x),
        "torch.nn compiled": lambda: partial(torch.compile(reference), x),
        "rnnkit": lambda: partial(ours, x),
        "rnnkit compiled": lambda: partial(torch.compile(ours, dynamic=True, fullgraph=True), x),
        "rnnkit exported": exported,
        ORT: onnxruntime,
    }


def make_pair(kind: str, size: Size) -> tuple[torch.nn.Module, torch.nn.Module, Tensor]:
    """A torch.nn module, an rnnkit module with its weights, and an input x (T, B, I)."""
    b, t, i, h = size
    reference = getattr(torch.nn, KINDS[kind])(i, h).eval()
    ours = getattr(rnn, KINDS[kind])(i, h).eval()
    ours.load_state_dict(reference.state_dict())
    return reference, ours, torch.randn(t, b, i)


def warm_up_toolchain() -> None:
    """Build every contender of a tiny LSTM once, untimed, so that the first case's one-off
    costs leave out what the process pays once: imports, dynamo's and inductor's set-up."""
    reference, ours, x = make_pair("lstm", (2, 3, 4, 5))
    with tempfile.TemporaryDirectory(prefix="rnnkit-export-") as workdir:
        for name, build in builders(reference, ours, x, 3, workdir).items():
            try:
                first_call(build(), torch_free=name == ORT)
            except Exception as error:  # the cases will meet it again, and report it
                tqdm.write(f"warm-up {name} failed: {type(error).__name__}", sys.stderr)
    torch._dynamo.reset()


def measure_case(kind: str, size: Size, repeats: int, report: Report) -> dict[str, float]:
    """Median ms per contender that built and agreed with torch.nn."""
    torch._dynamo.reset()  # a fresh recompile budget for this case's compiled modules
    reference, ours, x = make_pair(kind, size)
    with torch.inference_mode():
        want = flat(reference(x))
    contenders: dict[str, Contender] = {}
    one_off = report.one_off.setdefault((kind, size), {})
    with tempfile.TemporaryDirectory(prefix="rnnkit-export-") as workdir:
        for name, build in builders(reference, ours, x, len(want), workdir).items():
            where = f"{KINDS[kind]} {size_cell(size)} {name}"
            try:
                start = time.perf_counter()
                run = build()
                got, mode, refused = first_call(run, torch_free=name == ORT)
                one_off[name] = time.perf_counter() - start
                check_agrees(got, want)
            except Exception as error:
                report.fail(where, error)
                continue
            if refused:
                report.no_grad.append(f"{where} ({refused[:200]})")
            contenders[name] = timed(run, mode)
        return interleaved_medians(contenders, repeats)


# -- streaming -------------------------------------------------------------------------------------


class WithState(torch.nn.Module):
    """``(x, h0[, c0]) -> (y, h_n[, c_n])``: the state as plain inputs and outputs, so that an
    exported graph can carry it from one call to the next."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        y, final = self.module(x, state[0] if len(state) == 1 else state)
        return (y, *(final if isinstance(final, tuple) else (final,)))


def ort_stream_step(ours: torch.nn.Module, h: int, states: int, workdir: str) -> Callable:
    """A batch-1 step in onnxruntime, x_t (1, H) -> y_t (1, H), carrying (h[, c]) between
    calls; its session comes from one export with dynamic B and T, run here at T = B = 1."""
    path = os.path.join(workdir, "stream.onnx")
    batch = Dim("B", min=1)
    example = (torch.randn(3, 2, h), *(torch.zeros(1, 2, h) for _ in range(states)))
    state_names = ["h0", "c0"][:states]
    onnx_export(
        WithState(ours), example, path, input_names=["x", *state_names],
        output_names=["y", "h_n", "c_n"][: 1 + states],
        dynamic_shapes=({0: Dim("T", min=1), 1: batch}, ({1: batch},) * states),
    )  # fmt: skip
    run = session(path).run
    feeds = {name: np.zeros((1, 1, h), np.float32) for name in state_names}

    def step(x_t: np.ndarray) -> np.ndarray:  # x_t (1, 1, H) -> y_t (1, 1, H)
        y, *state = run(None, {"x": x_t, **feeds})
        feeds.update(zip(state_names, state, strict=True))
        return y

    return step


def stream_contenders(kind: str, h: int, workdir: str, report: Report) -> dict[str, Contender]:
    """A chunk of batch-1 steps of each contender, all with the same weights and x (1, H).

    Built outside inference_mode: rnnkit's stream watches its weights' version counters
    (to see training between steps), and parameters made under inference_mode have none.
    """
    cell = getattr(torch.nn, KINDS[kind] + "Cell")(h, h)
    ours = getattr(rnn, KINDS[kind])(h, h).eval()
    ours.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    x = torch.randn(1, h)
    states = 2 if kind == "lstm" else 1
    zeros = (torch.zeros(1, h),) * states
    state = {"cell": zeros if kind == "lstm" else zeros[0]}
    with torch.inference_mode():
        first = cell(x, state["cell"])
        want = first[0] if kind == "lstm" else first  # y_1 = h_1

    def cell_step() -> None:  # LSTMCell returns (h, c), the others h: the next state
        state["cell"] = cell(x, state["cell"])

    contenders = {"torch.nn cell": partial(step_times, cell_step, STREAM_CHUNK)}
    where = f"stream {KINDS[kind]} H={h}"
    try:
        stream = ours.stream(1)
        with torch.inference_mode():  # untimed: the first step agrees
            check_agrees(stream.step(x), [want])
        stream.reset()
        contenders["rnnkit"] = partial(step_times, partial(stream.step, x), STREAM_CHUNK)
    except Exception as error:
        report.fail(f"{where} rnnkit", error)
    try:
        step = ort_stream_step(ours, h, states, workdir)
        x_np = x.numpy().reshape(1, 1, h)
        check_agrees(step(x_np).reshape(1, h), [want])
        contenders[ORT] = partial(step_times, partial(step, x_np), STREAM_CHUNK)
    except Exception as error:
        report.fail(f"{where} {ORT}", error)
    return contenders


def stream_medians(kind: str, h: int, calls: int, report: Report) -> dict[str, float]:
    """Median microseconds per step of each contender."""
    with tempfile.TemporaryDirectory(prefix="rnnkit-export-") as workdir:
        contenders = stream_contenders(kind, h, workdir, report)
        with torch.inference_mode():
            return interleaved_medians(contenders, max(1, calls // STREAM_CHUNK))


# -- report ----------------------------------------------------------------------------------------


def score(top: float | None, bottom: float | None, ok: Callable[[float], bool]) -> str:
    """top / bottom, with a trailing * when it misses its target."""
    if top is None or bottom is None or bottom <= 0:
        return "n/a"
    value = top / bottom
    return f"{value:.2f}" + ("" if ok(value) else "*")


RATIOS: dict[str, tuple[str, str, Callable[[float], bool]]] = {  # head -> (top, bottom, target)
    "rnnkit eager/compiled": ("rnnkit", "rnnkit compiled", lambda r: r >= COMPILED_TARGET),
    "ort/rnnkit": (ORT, "rnnkit", lambda r: r <= ORT_AIM),
    "torch.nn/rnnkit": ("torch.nn", "rnnkit", lambda r: r >= 1.0),
}


def render_header(args: argparse.Namespace, load_at_start: float, wall: float) -> list[str]:
    command = "python " + shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    status = "yes" if native.available() else f"NO ({native.unavailable_reason})"
    return [
        "# rnnkit inference: eager, torch.compile, torch.export, onnxruntime (CPU)",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}; "
        f"onnxruntime {ort.__version__} (CPUExecutionProvider, intra_op_num_threads = "
        f"{torch.get_num_threads()}: the same cores as torch; config {ORT_CONFIG or 'default'})",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores); load average at start "
        f"{load_at_start:.2f} (competing processes slow torch's threads down)",
        f"- command: `{command}` (whole run: {wall:.0f} s)",
        f"- rnnkit native engine available: {status}; every rnnkit contender runs on it",
        "- single layer, unidirectional (RNN: tanh), float32, time-major input (T, B, I); "
        "torch contenders under `torch.inference_mode()`; every output and final state "
        f"checked against torch.nn eager's (max |difference| <= {TOL:.0e}), untimed",
    ]


def render_speed(results: dict[tuple[str, Size], dict[str, float]], repeats: int) -> list[str]:
    cells = []
    for (kind, size), m in results.items():
        times = [num(m.get(name)) for name in CONTENDERS]
        scores = [score(m.get(top), m.get(bottom), ok) for top, bottom, ok in RATIOS.values()]
        cells.append([KINDS[kind], size_cell(size), *times, *scores])
    means = {
        head: geomean([m[top] / m[bottom] for m in results.values() if top in m and bottom in m])
        for head, (top, bottom, _) in RATIOS.items()
    }
    head = ["kind", "size (B,T,I,H)", *(f"{name} ms" for name in CONTENDERS), *RATIOS]
    return [
        "",
        "## Inference",
        "",
        f"Median ms per forward call, of {repeats} interleaved repeats after {WARMUP} warm-ups. "
        "compiled = `torch.compile` (torch.nn: default mode, dynamo breaks the graph around "
        "its RNNs; rnnkit: `dynamic=True, fullgraph=True`); exported = "
        "`torch.export.export(...).module()`; onnxruntime = `session.run` of the "
        "`torch.onnx.export(dynamo=True)` model. rnnkit eager/compiled is compiled rnnkit's "
        f"speed relative to eager (target >= {COMPILED_TARGET}); ort/rnnkit is onnxruntime's "
        f"time over eager rnnkit's (aim <= {ORT_AIM}); torch.nn/rnnkit > 1 means eager "
        "rnnkit is faster. `*` marks a ratio that misses its target.",
        *table(head, cells, text_columns=2),
        "",
        "Geometric means: " + ", ".join(f"{head} **{num(mean)}**" for head, mean in means.items()),
    ]


def render_one_off(one_off: dict[tuple[str, Size], dict[str, float]]) -> list[str]:
    cells = [
        [KINDS[kind], size_cell(size), *(num(m.get(name), 1) for name in ONE_OFF)]
        for (kind, size), m in one_off.items()
    ]
    return [
        "",
        "## One-off cost",
        "",
        "Seconds, once per module (dynamic shapes, so never again for another B or T): "
        "`torch.compile` + the first call (where it compiles); `torch.export.export` + "
        "`.module()` + the first call; `torch.onnx.export` + the `InferenceSession` + the "
        "first run. dynamo's caches are reset before each case, so every case compiles cold "
        "(after a tiny untimed warm-up of the whole tool chain, so the first case does not "
        "also pay for imports and set-up).",
        *table(["kind", "size (B,T,I,H)", *(f"{name} s" for name in ONE_OFF)], cells, 2),
    ]


def render_stream(stream: dict[tuple[str, int], dict[str, float]]) -> list[str]:
    cells = []
    for (kind, h), m in stream.items():
        ours, cell, onnx = (m.get(name) for name in ("rnnkit", "torch.nn cell", ORT))
        cells.append(
            [KINDS[kind], str(h), num(ours, 1), num(cell, 1), num(onnx, 1)]
            + [score(cell, ours, lambda r: r >= 1.0), score(onnx, ours, lambda r: r <= ORT_AIM)]
        )
    head = ["kind", "H", "rnnkit µs", "torch.nn cell µs", "onnxruntime µs"]
    return [
        "",
        "## Streaming latency, batch 1",
        "",
        "Median microseconds per step (I = H): rnnkit's `stream(1).step(x)` (native) and "
        "torch.nn's cell called with the previous state, under `torch.inference_mode()`; "
        "onnxruntime running the module exported (dynamic B and T) as "
        "`(x, h0[, c0]) -> (y, h_n[, c_n])` at T = 1, the state fed back from one call to "
        "the next (`session.run` with numpy arrays). cell/rnnkit > 1 means rnnkit is faster; "
        f"`*` marks cell/rnnkit below 1 or ort/rnnkit above {ORT_AIM}.",
        *table(head + ["cell/rnnkit", "ort/rnnkit"], cells, text_columns=2),
    ]


def render_notes(report: Report) -> list[str]:
    lines = ["", "## Notes", ""]
    lines.append(
        "- onnxruntime's session uses intra_op_num_threads = torch.get_num_threads() = "
        f"{torch.get_num_threads()}, so it computes on the same cores as torch; "
        f"session config {ORT_CONFIG or 'default'} (idle onnxruntime workers that spin "
        "take those cores from the torch contenders that run next)."
    )
    if report.no_grad:
        lines.append("- ran under `torch.no_grad()`, refusing inference_mode: " + "; ".join(
            report.no_grad
        ))  # fmt: skip
    else:
        lines.append("- every torch contender ran under `torch.inference_mode()`.")
    if report.failures:
        lines += ["- failed (n/a in the tables):", *(f"  - {f}" for f in report.failures)]
    else:
        lines.append("- no contender failed.")
    return lines


# -- main ------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--repeats", type=int, help="timed repeats per measurement (default 11, quick 3)")
    add("--kinds", type=parse_kinds, default=list(KINDS), help="e.g. lstm,gru,rnn")
    add("--sizes", type=parse_sizes, default=DEFAULT_SIZES, help="e.g. 16x500x8x64,32x200x32x128")
    add("--stream-calls", type=int, help="timed steps per stream (default 2000, quick 300)")
    add("--out", type=Path, default=DEFAULT_OUT, help="markdown output path")
    add("--quick", action="store_true", help="smoke run: fewer repeats, first two sizes")
    add("--ort-spinning", action="store_true", help="let onnxruntime's idle workers spin")
    args = parser.parse_args()
    for name, default, quick in (("repeats", 11, 3), ("stream_calls", 2000, 300)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else default)
    if args.quick:
        args.sizes = args.sizes[:2]
    return args


def main() -> None:
    args = parse_args()
    if args.ort_spinning:
        ORT_CONFIG.pop("session.intra_op.allow_spinning")
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed"
    if native.available():
        backend.set_backend("native")
    load_at_start, start = os.getloadavg()[0], time.perf_counter()
    torch.manual_seed(0)
    report = Report()
    bar = dict(file=sys.stderr, unit="case")
    cases = [(kind, size) for kind in args.kinds for size in args.sizes]
    results = {}
    warm_up_toolchain()
    for kind, size in tqdm(cases, desc="inference", **bar):
        results[kind, size] = measure_case(kind, size, args.repeats, report)
    stream = {}
    stream_cases = [(kind, h) for kind in args.kinds for h in STREAM_HIDDEN]
    for kind, h in tqdm(stream_cases, desc="stream", **bar):
        stream[kind, h] = stream_medians(kind, h, args.stream_calls, report)

    lines = render_header(args, load_at_start, time.perf_counter() - start)
    lines += render_speed(results, args.repeats)
    lines += render_one_off(report.one_off)
    lines += render_stream(stream)
    lines += render_notes(report)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    write_atomically(args.out, text)
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
