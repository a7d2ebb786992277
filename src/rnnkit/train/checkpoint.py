"""Checkpoints that lose nothing: written atomically, the last K kept, loaded safely.

A checkpoint is one ``torch.save`` file, ``ckpt-<step>.pt`` in the run directory, holding a
dict of tensors and plain Python values only (model, optimiser and scheduler state, RNG
states, data position, config). Writing goes to a temporary file in the same directory,
which is flushed to disk (fsync) and then renamed over the final name, so a run killed at
any moment leaves either the old set of checkpoints or the new one, never a torn file.
Loading uses ``torch.load(weights_only=True)``, which never runs code from the file; a
checkpoint that cannot be read is reported by name and the previous one is used instead.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import torch

from rnnkit.train.files import write_atomic

_NAME = re.compile(r"ckpt-(\d+)\.pt")


class CheckpointError(RuntimeError):
    """No readable checkpoint, or a state that must not be saved."""


def checkpoint_path(directory: Path, step: int) -> Path:
    return directory / f"ckpt-{step:09d}.pt"


def list_checkpoints(directory: Path) -> list[Path]:
    """The directory's checkpoints, oldest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(directory: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` as the checkpoint of ``step`` and keep only the newest ``keep``.

    Refuses (CheckpointError) a model whose weights are not all finite: a NaN checkpoint
    would replace a good one and poison every resume after it.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    bad = [
        name
        for name, t in state["model"].items()
        if t.is_floating_point() and not t.isfinite().all()
    ]
    if bad:
        raise CheckpointError(f"not saving step {step}: non-finite weights in {', '.join(bad)}")
    directory.mkdir(parents=True, exist_ok=True)
    target = checkpoint_path(directory, step)
    write_atomic(target, lambda file: torch.save(state, file))
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return target


def load_latest(directory: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that reads back, or None if there is none at all.

    An unreadable one (truncated, corrupted, not a checkpoint) is reported with a warning
    naming it, and the one before it is tried; if none reads, CheckpointError names them.
    """
    candidates = list_checkpoints(directory)
    failures = []
    for path in reversed(candidates):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for a damaged zip/pickle
            failures.append(f"{path} ({type(error).__name__}: {error})")
            warnings.warn(
                f"checkpoint {path} is unreadable, trying the previous one: {error}", stacklevel=2
            )
            continue
        if not isinstance(state, dict) or "model" not in state:
            failures.append(f"{path} (not an rnnkit checkpoint)")
            warnings.warn(
                f"checkpoint {path} is not an rnnkit checkpoint, trying the previous one",
                stacklevel=2,
            )
            continue
        return path, state
    if failures:
        raise CheckpointError(
            "no readable checkpoint in " + str(directory) + ": " + "; ".join(failures)
        )
    return None
