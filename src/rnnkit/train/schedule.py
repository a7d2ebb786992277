"""Learning-rate schedules: a multiplier of the base rate for each optimiser step."""

from __future__ import annotations

import math
from collections.abc import Callable

SCHEDULES = ("constant", "cosine")


def lr_factor(
    schedule: str, warmup: int, total: int | None, elapsed: Callable[[], float] | None = None
) -> Callable[[int], float]:
    """step -> factor: a linear rise over ``warmup`` steps (from 1/warmup to 1), then
    constant, or a cosine decay to 0 by the end of the run:

        factor(s) = (s + 1) / warmup                           for s < warmup
                  = 1/2 (1 + cos(pi p))                        (cosine)
        p = max((s - warmup) / (total - warmup), elapsed())    (capped at 1)

    ``elapsed()``, where there is a time budget, is the share of it used so far: the
    cosine then ends at whichever comes first, step ``total`` or the end of the budget,
    so a run that its budget cuts short still ends on a small rate instead of stopping
    halfway down the curve. Cosine needs ``total`` or ``elapsed``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "cosine" and total is None and elapsed is None:
        raise ValueError(
            "schedule='cosine' needs the number of steps (batches(epoch) must have a len()) "
            "or a time budget"
        )

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = 0.0 if total is None else (step - warmup) / max(1, total - warmup)
        if elapsed is not None:
            progress = max(progress, elapsed())
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor
