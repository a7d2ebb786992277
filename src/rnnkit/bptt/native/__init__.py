"""The native (C++) time loops: ``torch.ops.rnnkit.*``, built ahead of time by
``python -m rnnkit.bptt.native.build`` and loaded here if that build exists."""

from __future__ import annotations

import torch

from rnnkit.bptt.native.location import library_path

#: Why the native engine is not available, or None when it is.
unavailable_reason: str | None = None


def _load() -> None:
    global unavailable_reason
    path = library_path()
    if not path.exists():
        unavailable_reason = "it is not built: run `python -m rnnkit.bptt.native.build`"
        return
    try:
        torch.ops.load_library(str(path))
    except (OSError, RuntimeError) as error:
        unavailable_reason = f"loading {path} failed: {error}"
        return
    from rnnkit.bptt.native import fakes  # noqa: F401  (registers them on the loaded ops)


_load()


def available() -> bool:
    return unavailable_reason is None
