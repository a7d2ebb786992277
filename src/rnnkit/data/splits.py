"""Deterministic train/validation/test splits: the same seed gives the same split on any
machine (a torch.Generator, not the global random state)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch

Item = TypeVar("Item")


def split_three(
    items: Sequence[Item], seed: int, valid: float = 0.1, test: float = 0.1
) -> tuple[list[Item], list[Item], list[Item]]:
    """Shuffle ``items`` with ``seed`` and cut them into (train, valid, test) by fraction;
    each part gets at least one item when there are three or more."""
    if not 0 <= valid < 1 or not 0 <= test < 1 or valid + test >= 1:
        raise ValueError(f"valid and test must be fractions summing below 1, got {valid}, {test}")
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = max(1, round(len(items) * test)) if test and len(items) >= 3 else 0
    n_valid = max(1, round(len(items) * valid)) if valid and len(items) >= 3 else 0
    shuffled = [items[k] for k in order]
    return (
        shuffled[n_valid + n_test :],
        shuffled[:n_valid],
        shuffled[n_valid : n_valid + n_test],
    )
