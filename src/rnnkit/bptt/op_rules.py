"""What the engine's ops (``torch.library`` custom ops under ``rnnkit::``) share.

An op's arguments are tensors, lists of tensors, ints, floats, bools and strings only:
a cell crosses as its ``Pointwise.name``, the backend as its name, variable lengths as
a (B,) int64 tensor (sorted in decreasing order). Each op has

* a fake kernel, so that ``torch.compile`` and ``torch.export`` trace it at any B and T;
* a batching rule for ``torch.vmap`` that runs the op once per vmapped slice and stacks
  the results (the sequences of a slice are already a batch; a slice is one vmapped
  sample, e.g. one per-sample gradient);
* an autocast rule: under ``torch.autocast`` its floating inputs are cast to the
  autocast dtype, as torch.nn's RNNs are (bfloat16 on the CPU, float16 on CUDA).

Autograd sits one level up, in an ``autograd.Function`` with ``setup_context`` and
``generate_vmap_rule`` (what ``torch.func`` needs), whose backward calls the backward
op, or, when a graph of the gradient is asked for (``create_graph=True``), differentiates
the autograd unroll of the same math (``rnnkit.bptt.unroll.pointwise_unroll``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.utils._pytree import tree_map


def running_batch_sizes(lengths: Tensor | list[int] | None, steps: int, batch: int) -> list[int]:
    """b_t: how many sequences are still running at step t (lengths sorted, decreasing)."""
    if lengths is None:
        return [batch] * steps
    counts = torch.as_tensor(lengths).unsqueeze(0) > torch.arange(steps).unsqueeze(1)
    return counts.sum(1).tolist()


def final_states(states: Sequence[Tensor], lengths: Tensor | None) -> list[Tensor]:
    """Each sequence's state at its own last step, from the (T, B, size) states."""
    if lengths is None:
        return [s[-1].clone() for s in states]
    last = lengths.to(states[0].device) - 1
    every = torch.arange(states[0].shape[1], device=states[0].device)
    return [s[last, every] for s in states]


def forward_outputs_like(
    x: Tensor, hidden: int, state0: Sequence[Tensor], extras: Sequence[Tensor]
) -> list[Tensor]:
    """An engine forward op's outputs as its fake kernel returns them: [y (T, B, hidden),
    final state (B, size) per entry, the other states of every step (T, B, size),
    ``extras`` (what backward needs)]."""
    steps, batch = x.shape[:2]
    return [
        x.new_empty(steps, batch, hidden),
        *(s.new_empty(s.shape) for s in state0),
        *(s.new_empty(steps, *s.shape) for s in state0[1:]),
        *extras,
    ]


def empty_unless(wanted: bool, value: Tensor | None, like: Tensor) -> Tensor:
    """An op cannot return None: an empty tensor stands for a gradient nobody asked for."""
    return value if wanted and value is not None else like.new_empty(0)


def grads_in_input_dtypes(
    grads: Sequence[Tensor], inputs: Sequence[Tensor | None], needs: Sequence[bool]
) -> tuple[Tensor | None, ...]:
    """The reverse of ``empty_unless`` (None where not needed), each gradient in its
    input's dtype (an op under autocast ran in a lower one)."""
    return tuple(
        (g if g.dtype == t.dtype else g.to(t.dtype)) if need else None
        for g, t, need in zip(grads, inputs, needs, strict=True)
    )


def in_dtype(values: Sequence[Tensor | None], dtype: torch.dtype) -> list:
    """Floating tensors in ``dtype``: the backward op runs in the dtype forward ran in."""
    return [
        v.to(dtype) if v is not None and v.is_floating_point() and v.dtype != dtype else v
        for v in values
    ]


def differentiate(
    outputs: tuple[Tensor, Sequence[Tensor]],
    inputs: Sequence[Tensor | None],
    needs: Sequence[bool],
    grad_y: Tensor,
    grad_final: Sequence[Tensor],
) -> tuple[Tensor | None, ...]:
    """dL/d ``inputs`` (None where not needed) through ``outputs`` = (y, final state)
    computed under autograd, keeping the graph of the result (double backward)."""
    y, final = outputs
    # A state entry the math detaches (sLSTM's stabiliser m) carries no gradient.
    outputs_and_grads = zip((y, *final), (grad_y, *grad_final), strict=True)
    pairs = [(o, g) for o, g in outputs_and_grads if o.requires_grad]
    wanted = [t for t, need in zip(inputs, needs, strict=True) if need]
    found = iter(
        torch.autograd.grad(
            [o for o, _ in pairs],
            wanted,
            [g for _, g in pairs],
            create_graph=True,
            allow_unused=True,
        )
    )
    grads = [next(found) if need else None for need in needs]
    return tuple(
        torch.zeros_like(t) if need and g is None else g
        for g, t, need in zip(grads, inputs, needs, strict=True)
    )


def with_graph_if_asked(
    first_order: Callable[[tuple, tuple], tuple],
    unrolled: Callable[[tuple, tuple], tuple],
    needs: Sequence[bool],
    constants: tuple,
    tensors: tuple,
) -> tuple[Tensor | None, ...]:
    """An engine's gradients, ``first_order(constants, tensors)`` (the backward op: None
    where ``needs`` is False). When a graph of them is asked for (``create_graph=True``, or
    inside ``torch.func.grad``), they are still these values, but differentiable: their
    own gradient comes from ``unrolled``, which computes the same gradients through the
    autograd unroll with ``create_graph`` (double backward, Hessian-vector products)."""
    if not torch.is_grad_enabled():
        return first_order(constants, tensors)
    found = iter(
        _GradientsWithGraph.apply(first_order, unrolled, len(constants), *constants, *tensors)
    )
    return tuple(next(found) if need else None for need in needs)


class _GradientsWithGraph(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(first_order, unrolled, num_constants, *tensors):
        grads = first_order(tensors[:num_constants], tensors[num_constants:])
        return tuple(g for g in grads if g is not None)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.unrolled, ctx.num_constants = inputs[1], inputs[2]
        ctx.save_for_backward(*inputs[3:])

    @staticmethod
    def backward(ctx, *grad_grads):
        saved = ctx.saved_tensors
        constants, tensors = saved[: ctx.num_constants], saved[ctx.num_constants :]
        needs = ctx.needs_input_grad[3 + ctx.num_constants :]
        with torch.enable_grad():
            leaves = tuple(
                t.detach().requires_grad_(need) if t is not None else None
                for t, need in zip(tensors, needs, strict=True)
            )
            grads = [g for g in ctx.unrolled(constants, leaves) if g is not None]
            pairs = [(g, gg) for g, gg in zip(grads, grad_grads, strict=True) if g.requires_grad]
            wanted = [t for t in leaves if t is not None and t.requires_grad]
            found = iter(
                torch.autograd.grad(
                    [g for g, _ in pairs], wanted, [gg for _, gg in pairs], allow_unused=True
                )
                if pairs
                else [None] * len(wanted)
            )
        # The constants (lengths, y, what forward kept) are functions of the inputs too,
        # but ``unrolled`` recomputes everything from the inputs: no gradient through them.
        result = [next(found) if t is not None and t.requires_grad else None for t in leaves]
        return (None,) * (3 + ctx.num_constants) + tuple(result)


def apply_function(function: type[torch.autograd.Function], *args):
    """``function.apply(*args)``, through its eager twin (``eager_twin``) when neither
    torch.compile nor a torch.func transform is watching: the same forward and backward,
    without the argument binding that ``setup_context``-style Functions pay on every
    call (``inspect.signature``: tens of microseconds, which at small sizes is a large
    share of a whole layer's time)."""
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return function.apply(*args)
    return function.eager_twin.apply(*args)


def with_eager_twin(function: type[torch.autograd.Function]) -> type[torch.autograd.Function]:
    """Class decorator: give a ``setup_context``-style Function an ``eager_twin`` in the
    older ``forward(ctx, ...)`` style that runs the very same methods."""

    def forward(ctx, *args):
        output = function.forward(*args)
        function.setup_context(ctx, args, output)
        return output

    function.eager_twin = type(
        function.__name__ + "Eager",
        (torch.autograd.Function,),
        {"forward": staticmethod(forward), "backward": staticmethod(function.backward)},
    )
    return function


_LIBRARY = torch.library.Library("rnnkit", "FRAGMENT")


def engine_op(name: str) -> Callable[[Callable], torch._ops.OpOverload]:
    """Decorator: ``rnnkit::name``, its schema read off the function's type hints
    (``torch.library.infer_schema``), the function its kernel on every device. Defined
    through ``torch.library.Library`` rather than ``torch.library.custom_op``, whose
    Python layers cost about 20 us a call against 5 us (measured here): at small sizes a
    large share of a whole layer's time. Autograd is not the op's: the engine's
    autograd.Functions call it with gradients off."""

    def define(kernel: Callable) -> torch._ops.OpOverload:
        _LIBRARY.define(name + torch.library.infer_schema(kernel, mutates_args=()))
        _LIBRARY.impl(name, kernel, "CompositeExplicitAutograd")
        return getattr(torch.ops.rnnkit, name).default

    return define


def add_rules(op: Callable) -> None:
    """The batching and autocast rules every engine op has."""
    torch.library.register_vmap(op, _loop_over_slices(op))
    torch.library.register_autocast(op, "cpu", torch.bfloat16)
    torch.library.register_autocast(op, "cuda", torch.float16)


def _loop_over_slices(op: Callable) -> Callable:
    def rule(info, in_dims, *args):
        def take(index: int):
            return tree_map(
                lambda a, d: a.select(d, index) if d is not None else a,
                args,
                in_dims,
                is_leaf=lambda a: a is None or isinstance(a, Tensor),
            )

        results = [op(*take(i)) for i in range(info.batch_size)]
        stacked = [torch.stack(column) for column in zip(*results, strict=True)]
        return stacked, [0] * len(stacked)

    return rule
