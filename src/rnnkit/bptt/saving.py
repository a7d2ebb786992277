"""What an engine's forward keeps for its backward, through ``ctx.save_for_backward``.

Kept as plain ``ctx`` attributes, the per-step buffers would live as long as the graph,
that is until the caller drops the outputs, usually after the next step's forward has
allocated its own: twice the memory, and no reuse of the freed buffers. Saved tensors are
freed as soon as backward has run (unless the graph is retained), and changing one in
place is caught. Any nesting of tuples and lists of tensors is kept (the PyTorch loops
keep a tuple per step).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.utils._pytree import tree_flatten, tree_unflatten


def save(ctx: Any, tensors: tuple[Tensor | None, ...], nested: Any) -> None:
    flat, ctx.nested_spec = tree_flatten(nested)
    ctx.num_tensors = len(tensors)
    ctx.save_for_backward(*tensors, *flat)


def load(ctx: Any) -> tuple[tuple[Tensor | None, ...], Any]:
    """-> (the tensors, the nested structure) given to ``save``."""
    saved = ctx.saved_tensors
    return saved[: ctx.num_tensors], tree_unflatten(list(saved[ctx.num_tensors :]), ctx.nested_spec)
