"""Which time loops the explicit-BPTT engine runs: ``native`` (C++, CPU) or ``torch``.

Chosen by ``RNNKIT_BACKEND=native|torch`` at import, by ``set_backend(name)``, or for a
block by ``with use_backend(name):``. The default is native when it has been built;
otherwise rnnkit warns once, with the reason, and runs the PyTorch loops, whose results
are the same. Cells, devices or dtypes the native loops do not cover always run on torch.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from torch import Tensor

from rnnkit.bptt import native, torch_loops
from rnnkit.cells.base import Pointwise

BACKENDS = ("native", "torch")
_backend = os.environ.get("RNNKIT_BACKEND", "native")
_warned = False
_native_loops = None


def set_backend(name: str) -> None:
    """Run the engine's loops on ``name`` (``native`` or ``torch``) from now on."""
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    _backend = name


def get_backend() -> str:
    """The backend in force: ``native`` or ``torch``."""
    return _backend


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """``with use_backend(name):`` runs the block on ``name``, then restores the previous one."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def loops_for(pointwise: Pointwise, x: Tensor, name: str | None = None):
    """The module whose ``forward_loop``/``backward_loop`` run this cell on this input,
    on backend ``name`` (by default the one in force) where it can. A function of its
    arguments' types, dtypes and devices only, so that an op's fake kernel picks the same
    loops as its real one."""
    global _warned, _native_loops
    if (name or _backend) == "native":
        if native.available():
            if _native_loops is None:  # imported once: it needs the loaded library's ops
                from rnnkit.bptt.native import loops as _native_loops
            if _native_loops.supports(pointwise, x):
                return _native_loops
        elif not _warned:
            warnings.warn(
                f"rnnkit's native engine is unavailable ({native.unavailable_reason}); "
                "using the PyTorch engine, which gives the same results more slowly",
                stacklevel=4,
            )
            _warned = True
    return torch_loops


def extended_loops_for(
    pointwise: Pointwise, x: Tensor, raw_input: bool = True, name: str | None = None
):
    """The module whose loops run the extended engine (``rnnkit.bptt.extended``). The
    native loops form the input gates themselves, so they need x, not gates
    (``raw_input``)."""
    from rnnkit.bptt import extended_torch_loops

    if raw_input and (name or _backend) == "native" and native.available():
        from rnnkit.bptt.native import extended_loops

        if extended_loops.supports(pointwise, x):
            return extended_loops
    return extended_torch_loops


if _backend not in BACKENDS:
    raise ValueError(f"RNNKIT_BACKEND must be one of {BACKENDS}, got {_backend!r}")
