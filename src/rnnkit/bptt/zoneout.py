"""Zoneout's mask as the PyTorch loops read it: a (T, B, H) tensor of 0/1 (1 keeps the
previous state), a 0-d tensor holding the rate (inference: the expectation), or None."""

from __future__ import annotations

from torch import Tensor


def zoneout_at(zoneout: Tensor | None, t: int, rows: int) -> Tensor | None:
    """Step t's zoneout mask of the first ``rows`` sequences (or the 0-d rate)."""
    if zoneout is None or zoneout.dim() == 0:
        return zoneout
    return zoneout[t, :rows]
