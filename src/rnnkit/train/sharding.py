"""Each rank's share of a global batch, and the weight of its loss.

A batch is a tensor, or a tuple, list, NamedTuple or dict of tensors and other values,
batch-first: every tensor whose first dimension is B, the batch's size (that of its first
tensor), holds one row per example, and rank r takes its rows ``world.share(B)``. Other
values (a scalar tensor, a float, a string) go whole to every rank.

The loss of a batch is a mean: over rows, or over what ``weight_of(batch)`` counts (the
target tokens, for a loss that ignores padding). Rank r's loss ``L_r``, over its share,
weighted by ``w_r = weight_of(share) / weight_of(batch)``, sums over the ranks to the
global batch's loss ``L = sum_r w_r L_r``: data-parallel gradients equal one process's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from rnnkit.train.world import World


def share_batch(
    batch: Any, world: World, weight_of: Callable[[Any], float] | None = None
) -> tuple[Any, float]:
    """-> (this rank's share of ``batch``, ``w_r``). With one process: (batch, 1.0).

    A rank whose share is empty (a last batch of fewer rows than ranks) gets the batch's
    first row with weight 0: it still runs the forward and backward the others wait for,
    and adds nothing to the gradient."""
    if world.size == 1:
        return batch, 1.0
    rows = batch_rows(batch)
    if rows is None:
        raise ValueError(
            "a batch must hold at least one tensor with a batch dimension to be shared "
            f"among {world.size} processes, got {type(batch).__name__}"
        )
    part = world.share(rows)
    if part.start == part.stop:
        return _take(batch, rows, slice(0, 1)), 0.0
    local = _take(batch, rows, part)
    if weight_of is None:
        return local, (part.stop - part.start) / rows
    total = float(weight_of(batch))
    return local, (float(weight_of(local)) / total if total > 0 else 0.0)


def batch_rows(batch: Any) -> int | None:
    """B: the first dimension of the batch's first tensor (of at least one dimension)."""
    if isinstance(batch, Tensor):
        return batch.shape[0] if batch.dim() > 0 else None
    values = batch.values() if isinstance(batch, dict) else batch
    if isinstance(values, (tuple, list)) or isinstance(batch, dict):
        for value in values:
            found = batch_rows(value)
            if found is not None:
                return found
    return None


def _take(batch: Any, rows: int, part: slice) -> Any:
    if isinstance(batch, Tensor):
        return batch[part] if batch.dim() > 0 and batch.shape[0] == rows else batch
    if isinstance(batch, dict):
        return {key: _take(value, rows, part) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a NamedTuple
        return type(batch)(*(_take(value, rows, part) for value in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_take(value, rows, part) for value in batch)
    return batch
