"""Padding and length bucketing for batches of variable-length sequences."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def pad(sequences: Sequence[Tensor], value: float = 0) -> tuple[Tensor, Tensor]:
    """Sequences (T_i, ...) -> (padded (B, max T, ...), lengths (B,) int64)."""
    if not sequences:
        raise ValueError("sequences must hold at least one sequence")
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    if bool((lengths == 0).any()):
        k = int((lengths == 0).nonzero()[0])
        raise ValueError(f"sequence {k} is empty: every sequence needs at least one step")
    padded = torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=value)
    return padded, lengths


def bucket_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int = 0, pool: int = 50
) -> list[list[int]]:
    """Index batches of similar lengths, so little of a batch is padding: shuffle, sort
    each pool of ``pool`` batches' worth by length, cut it into batches, then shuffle the
    batches. The same (seed, epoch) gives the same batches."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    span = batch_size * pool
    batches = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda k: lengths[k])
        batches += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[k] for k in shuffle]
