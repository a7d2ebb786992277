"""NaN and infinity in numeric input, found in one vectorised pass and reported at the first.

A NaN in the data raises nothing in PyTorch: it turns every loss it reaches into NaN, the
trainer skips those steps, and a run can end having learnt nothing. So the readers of
numeric files check their numbers when they load them, and name the first bad value's
place (file, example, step, channel) and how many there are in all.

    found = first_non_finite(X, where=inside)      # None, or ((k, t, c), count)
"""

from __future__ import annotations

import math

import numpy as np


def first_non_finite(
    values: np.ndarray, where: np.ndarray | None = None
) -> tuple[tuple[int, ...], int] | None:
    """The index of the first (in C order) NaN or infinite entry of ``values`` among those
    where ``where`` (broadcast to its shape) is True, and how many such entries there are;
    None when every one is finite."""
    bad = ~np.isfinite(values)
    if where is not None:
        bad &= where
    count = int(np.count_nonzero(bad))
    if count == 0:
        return None
    index = np.unravel_index(int(np.argmax(bad)), bad.shape)  # argmax: the first True
    return tuple(int(i) for i in index), count


def describe(value: float) -> str:
    """A non-finite value as "NaN", "+inf" or "-inf"; a finite one (a float64 beyond
    float32's range, infinite in the float32 the model reads) as itself, so noted."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:g} (too large for float32)"


def in_all(count: int) -> str:
    """The tail of a message that names the first of ``count`` bad values."""
    return "" if count == 1 else f"; {count} values are NaN or infinite in all"
