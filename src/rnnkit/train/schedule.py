"""Learning-rate schedules: a multiplier of the base rate for each optimiser step."""

from __future__ import annotations

import math
from collections.abc import Callable

SCHEDULES = ("constant", "cosine")


def lr_factor(schedule: str, warmup: int, total: int | None) -> Callable[[int], float]:
    """step -> factor: a linear rise over ``warmup`` steps (from 1/warmup to 1), then
    constant, or a cosine decay to 0 at step ``total`` (which cosine needs):

        factor(s) = (s + 1) / warmup                           for s < warmup
                  = 1/2 (1 + cos(pi (s - warmup) / (total - warmup)))   (cosine)
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "cosine" and total is None:
        raise ValueError(
            "schedule='cosine' needs the number of steps: batches(epoch) must have a len()"
        )

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor
