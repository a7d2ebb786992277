"""``rnnkit export RUN --format onnx|pt2 --out FILE``: a trained run as graphs that run
without rnnkit, in onnxruntime (ONNX) or as a ``torch.export`` program (``.pt2``).

Each task's predictor names its graphs (``Predictor.graphs``): one for most tasks; an
encoder and one decoder step for seq2seq, so that beam search can run outside PyTorch; a
start (the condition's initial state) and the model for the generator. A graph of several
parts is written next to ``FILE``, one file per part: ``g2p.onnx`` -> ``g2p.encoder.onnx``
and ``g2p.decoder_step.onnx``. Batch and time are dynamic in every graph.

Each file is written to a temporary name beside it, checked (the exported graph run on
the example must give the module's own outputs within 1e-4), then renamed: an existing
file is replaced only with ``overwrite``, and a failed export leaves nothing behind.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

FORMATS = ("onnx", "pt2")
TOLERANCE = 1e-4


@dataclass
class Graph:
    """One exported graph: ``module`` called with ``inputs`` (name -> an example tensor,
    in call order) returns the tensors named ``outputs``; ``dynamic`` gives each input's
    dynamic dimensions (``torch.export.Dim``s, shared where sizes are equal)."""

    part: str | None  # None: the run's only graph
    module: nn.Module
    inputs: dict[str, Tensor]
    outputs: list[str]
    dynamic: dict[str, dict[int, object]] = field(default_factory=dict)


def batch_and_time(shortest: int = 1) -> tuple[object, object]:
    """The dynamic batch and time dimensions (B >= 1, ``shortest`` <= T <= 4096)."""
    return (torch.export.Dim("B", min=1, max=4096),
            torch.export.Dim("T", min=shortest, max=4096))  # fmt: skip


def paths_for(out: Path, graphs: list[Graph]) -> list[Path]:
    """Where each graph goes: ``out`` itself, or ``out``'s name with ``.part`` inserted."""
    return [out if g.part is None else out.with_name(f"{out.stem}.{g.part}{out.suffix}")
            for g in graphs]  # fmt: skip


def export_graphs(graphs: list[Graph], out: Path, fmt: str, overwrite: bool) -> list[str]:
    """Write every graph (see the module's docstring) -> one line per file written, with
    the largest difference from the module on the example."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {fmt!r}")
    paths = paths_for(out, graphs)
    for path in paths:
        if path.exists() and not overwrite:
            raise ValueError(f"--out {path} exists: pass --overwrite to replace it")
        if not path.parent.is_dir():
            raise ValueError(f"--out {path}: the directory {path.parent} does not exist")
    written: list[Path] = []  # temporaries, renamed only once every part has passed
    lines = []
    try:
        for graph, path in zip(graphs, paths, strict=True):
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=f".{fmt}.part")
            os.close(handle)
            written.append(Path(temporary))
            error = _write_checked(graph, fmt, written[-1])
            lines.append(f"{path}: ({', '.join(graph.inputs)}) -> ({', '.join(graph.outputs)}); "
                         f"max difference from the model {error:.1e}")  # fmt: skip
        for temporary, path in zip(written, paths, strict=True):
            os.replace(temporary, path)
    finally:
        for temporary in written:
            temporary.unlink(missing_ok=True)
    return lines


def _write_checked(graph: Graph, fmt: str, path: Path) -> float:
    """Export ``graph`` into ``path``, run it on the example -> the largest difference from
    the module's own outputs (a ValueError above ``TOLERANCE``)."""
    graph.module.eval()
    with torch.no_grad():
        expected = _as_tuple(graph.module(*graph.inputs.values()))
    got = (_write_onnx if fmt == "onnx" else _write_pt2)(graph, path)
    pairs = zip(got, expected, strict=True)
    error = max(float((a.double() - e.double()).abs().max()) for a, e in pairs)
    if not error <= TOLERANCE:
        raise ValueError(
            f"the exported {graph.part or 'model'} differs from the model by {error:.2g} "
            f"(more than {TOLERANCE}): nothing written"
        )
    return error


def _write_onnx(graph: Graph, path: Path) -> list[Tensor]:
    import onnxruntime

    torch.onnx.export(
        graph.module, tuple(graph.inputs.values()), str(path), dynamo=True, verbose=False,
        input_names=list(graph.inputs), output_names=graph.outputs,
        dynamic_shapes=_shapes(graph),
    )  # fmt: skip
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: graph.inputs[i.name].numpy() for i in session.get_inputs()}
    return [torch.from_numpy(a) for a in session.run(None, feed)]


def _write_pt2(graph: Graph, path: Path) -> list[Tensor]:
    program = torch.export.export(
        graph.module, tuple(graph.inputs.values()), dynamic_shapes=_shapes(graph)
    )
    torch.export.save(program, str(path))
    loaded = torch.export.load(str(path)).module()
    with torch.no_grad():
        return list(_as_tuple(loaded(*graph.inputs.values())))


def _shapes(graph: Graph) -> tuple:
    """``dynamic`` as torch.export wants it: by argument of ``forward``, the inputs that
    fill a ``*rest`` argument together in one tuple."""
    shapes = [graph.dynamic.get(name) for name in graph.inputs]
    arguments = inspect.signature(graph.module.forward).parameters.values()
    if not any(a.kind == inspect.Parameter.VAR_POSITIONAL for a in arguments):
        return tuple(shapes)
    named = sum(a.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD for a in arguments)
    return (*shapes[:named], tuple(shapes[named:]))


def _as_tuple(output) -> tuple[Tensor, ...]:
    return tuple(output) if isinstance(output, (tuple, list)) else (output,)


def flat_state(state: list) -> list[Tensor]:
    """A stack's state (one ``cell.State`` per layer) -> its tensors, layer by layer."""
    return [tensor for layer in state for tensor in layer]


def nested_state(tensors: tuple[Tensor, ...], cells: list) -> list:
    """The inverse of ``flat_state``."""
    state, k = [], 0
    for cell in cells:
        n = len(cell.state_sizes())
        state.append(cell.State(*tensors[k : k + n]))
        k += n
    return state


def state_names(cells: list, prefix: str) -> list[str]:
    """``h_l0``, ``c_l0``, ``h_l1``, ... (the fields of each layer's ``State``)."""
    return [f"{prefix}{field}_l{k}" for k, cell in enumerate(cells) for field in cell.State._fields]
