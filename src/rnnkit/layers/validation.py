"""Checks on what users pass in: each failure is a ValueError naming the argument,
what it got and what was expected, before any computation starts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def check_input(
    x: object, input_size: int, like: Tensor, name: str = "x", layout: str = "(T, B, I)"
) -> Tensor:
    """``x`` must be a 3-D floating tensor with ``input_size`` features, on ``like``'s
    device and of its dtype (``like`` is a weight)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {layout}, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(
            f"{name} must be 3-D {layout} with I={input_size}, got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor ({like.dtype}), got {x.dtype}")
    if x.shape[-1] != input_size:
        raise ValueError(
            f"{name} must have input_size={input_size} features in its last dimension "
            f"{layout}, got shape {tuple(x.shape)}"
        )
    check_like(x, like, name)
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(
            f"{name} must have at least one time step and one sequence, got shape {tuple(x.shape)}"
        )
    return x


def check_lengths(lengths: object, steps: int, batch: int, device: torch.device) -> Tensor:
    """``lengths`` must hold one integer in [1, T] per sequence, on the CPU or on x's
    device. Returns an int64 CPU tensor."""
    if isinstance(lengths, Tensor):
        if lengths.device.type != "cpu" and lengths.device != device:
            raise ValueError(
                f"lengths must be on the CPU or on x's device ({device}), got {lengths.device}"
            )
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be an integer tensor, got {lengths.dtype}")
        lengths = lengths.detach().to("cpu", torch.int64)
    elif isinstance(lengths, Sequence) and all(
        isinstance(n, int) and not isinstance(n, bool) for n in lengths
    ):
        lengths = torch.tensor(list(lengths), dtype=torch.int64)
    else:
        raise ValueError(f"lengths must be a 1-D integer tensor or a list of ints, got {lengths!r}")
    if lengths.shape != (batch,):
        raise ValueError(
            f"lengths must have shape (B,) = ({batch},), one length per sequence, "
            f"got {tuple(lengths.shape)}"
        )
    bad = (lengths < 1) | (lengths > steps)
    if torch.compiler.is_compiling():
        # A compiled or exported graph cannot branch on the values: it checks them when
        # it runs (a RuntimeError; T is not in the message, as printing it would fix T).
        torch._assert_async(~bad.any(), "lengths must be in [1, T], T the number of steps")
        return lengths
    if bad.any():
        index = int(bad.nonzero()[0])
        raise ValueError(
            f"lengths must be in [1, T={steps}], got lengths[{index}] = {int(lengths[index])}"
        )
    return lengths


def check_state(
    state: object, shapes: Sequence[tuple[int, ...]], like: Tensor, name: str = "state"
) -> tuple[Tensor, ...]:
    """``state`` must be a tuple of tensors of exactly ``shapes`` (no broadcasting)."""
    if isinstance(state, Tensor):
        state = (state,)
    if not isinstance(state, Sequence) or len(state) != len(shapes):
        expected = " and ".join(str(s) for s in shapes)  # only here: compiled code can't
        raise ValueError(
            f"{name} must be {len(shapes)} tensor(s) of shape {expected}, got {state!r:.80}"
        )
    for k, (tensor, shape) in enumerate(zip(state, shapes, strict=True)):
        label = f"{name}[{k}]" if len(shapes) > 1 else name
        if not isinstance(tensor, Tensor):
            raise ValueError(
                f"{label} must be a tensor of shape {shape}, got {type(tensor).__name__}"
            )
        if tuple(tensor.shape) != tuple(shape):
            raise ValueError(f"{label} must have shape {shape}, got {tuple(tensor.shape)}")
        check_like(tensor, like, label)
    return tuple(state)


def check_batch_size(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"batch_size must be a positive int, got {value!r}")
    return value


def check_probability(value: object, name: str, allow_one: bool = False) -> float:
    """A dropout-like rate: a number in [0, 1) (or [0, 1] where torch.nn allows 1)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not (0 <= value and (value <= 1 if allow_one else value < 1)):
        interval = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def check_like(tensor: Tensor, like: Tensor, name: str) -> None:
    """``tensor`` must be on ``like``'s device and of its dtype."""
    if tensor.device != like.device:
        raise ValueError(
            f"{name} must be on the parameters' device {like.device}, got {tensor.device}"
        )
    if tensor.dtype != like.dtype:
        raise ValueError(f"{name} must have the parameters' dtype {like.dtype}, got {tensor.dtype}")
