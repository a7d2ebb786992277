"""``batches(epoch)`` functions for the trainer: the same batches for the same epoch, so
that a resumed run can skip exactly the ones already done."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor


def shuffled_batches(
    tensors: Sequence[Tensor], batch_size: int, seed: int = 0
) -> Callable[[int], list]:
    """``batches(epoch)`` over rows of ``tensors`` (all with the same first dimension): a
    fresh shuffle per epoch, the same for the same (seed, epoch), the last batch smaller."""
    count = len(tensors[0])
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if any(len(t) != count for t in tensors):
        raise ValueError(
            f"tensors must have the same first dimension, got {[len(t) for t in tensors]}"
        )

    def batches(epoch: int) -> list:
        order = torch.randperm(
            count, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)
        )
        return [
            tuple(t[order[i : i + batch_size]] for t in tensors)
            for i in range(0, count, batch_size)
        ]

    return batches


def stream_batches(stream: Sequence[Tensor], batch_size: int, steps: int) -> Callable[[int], list]:
    """``batches(epoch)`` for truncated BPTT over long streams: each tensor of ``stream``
    (T_total, ...) is cut into ``batch_size`` contiguous lanes (the remainder dropped), and
    batch i holds steps [i * steps, (i + 1) * steps) of every lane, batch-first
    (batch_size, steps, ...): lane b of batch i + 1 continues lane b of batch i, so the
    state carried between them is the right one. The same batches every epoch."""
    if batch_size < 1 or steps < 1:
        raise ValueError(f"batch_size and steps must be at least 1, got {batch_size} and {steps}")
    length = len(stream[0]) // batch_size
    if length < 1 or any(len(t) != len(stream[0]) for t in stream):
        raise ValueError(
            f"stream tensors must share a length of at least batch_size={batch_size}, "
            f"got {[len(t) for t in stream]}"
        )
    lanes = [t[: length * batch_size].reshape(batch_size, length, *t.shape[1:]) for t in stream]
    chunks = [tuple(lane[:, i : i + steps] for lane in lanes) for i in range(0, length, steps)]
    return lambda epoch: chunks


class SequenceChunk(NamedTuple):
    """One batch of ``sequence_batches``: ``tensors`` each (batch_size, steps, ...),
    ``valid`` (batch_size, steps) False on padding, ``fresh`` (batch_size,) True where the
    lane's chunk begins a new sequence: the trainer starts those lanes' state from zero."""

    tensors: tuple[Tensor, ...]
    valid: Tensor
    fresh: Tensor


def sequence_batches(
    sequences: Sequence[Sequence[Tensor]], batch_size: int, steps: int
) -> Callable[[int], list[SequenceChunk]]:
    """``batches(epoch)`` for truncated BPTT over many independent sequences (each a tuple
    of tensors (T_i, ...), e.g. (inputs, targets)): each sequence goes whole to one of
    ``batch_size`` lanes (the shortest so far) and is padded to a multiple of ``steps``,
    so that no chunk mixes two sequences; the state is carried within a sequence and
    starts from zero at the next (``SequenceChunk.fresh``). The loss should count only
    ``valid`` positions. The same batches every epoch."""
    if batch_size < 1 or steps < 1:
        raise ValueError(f"batch_size and steps must be at least 1, got {batch_size} and {steps}")
    if not sequences:
        raise ValueError("sequences must not be empty")
    lanes: list[list[tuple[Sequence[Tensor], int]]] = [[] for _ in range(batch_size)]
    lengths = [0] * batch_size
    for number, sequence in enumerate(sequences):
        size = len(sequence[0])
        if size < 1 or any(len(t) != size for t in sequence):
            raise ValueError(f"sequence {number}'s tensors must share a length >= 1, got "
                             f"{[len(t) for t in sequence]}")  # fmt: skip
        lane = lengths.index(min(lengths))
        lanes[lane].append((sequence, size))
        lengths[lane] += -(-size // steps) * steps
    chunks = max(lengths) // steps
    first = sequences[0]
    tensors = [torch.zeros(batch_size, chunks * steps, *t.shape[1:], dtype=t.dtype) for t in first]
    valid = torch.zeros(batch_size, chunks * steps, dtype=torch.bool)
    fresh = torch.zeros(batch_size, chunks, dtype=torch.bool)
    for lane, placed in enumerate(lanes):
        start = 0
        for sequence, size in placed:
            for buffer, t in zip(tensors, sequence, strict=True):
                buffer[lane, start : start + size] = t
            valid[lane, start : start + size] = True
            fresh[lane, start // steps] = True
            start += -(-size // steps) * steps
    batches = [
        SequenceChunk(
            tuple(t[:, i * steps : (i + 1) * steps] for t in tensors),
            valid[:, i * steps : (i + 1) * steps],
            fresh[:, i],
        )  # fmt: skip
        for i in range(chunks)
    ]
    return lambda epoch: batches
