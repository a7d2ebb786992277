"""Regularisers of a recurrent layer, each acting only in training mode (zoneout also at
inference, as its expectation):

* ``zoneout`` (Krueger et al. 2017): each unit keeps its previous state (h, and c where
  there is one) with probability p at each step; at inference s_t = p s_{t-1} + (1-p) s_t.
* ``recurrent_dropout`` (Gal & Ghahramani 2016, variational): one dropout mask per
  sequence on h_{t-1} where it enters the recurrent weights, the same at every step.
* ``weight_drop`` (DropConnect on W_hh, Merity et al. 2018): dropout on the recurrent
  weights themselves, one mask per forward call.

Weight drop changes only the weights the engine is given, so it keeps every cell on its
fastest path; the other two run inside the time loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.functional import dropout

from rnnkit.bptt import native
from rnnkit.layers.validation import check_probability


def keep_mask(shape: tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """1 with probability p (to 1/65536), else 0, in ``like``'s dtype. On the CPU with the
    native engine, from a hash of (seed, index) with the seed drawn from torch's generator
    (csrc/masks.cpp: 0.1 ms for 512K draws); otherwise each 64-bit random number gives
    four 16-bit ones (1 ms; torch.bernoulli took 4.1 ms, torch.rand(...) < p 1.2 ms).
    A compiled graph takes the second way: the native op's seed is a Python int."""
    native_mask = like.is_cpu and like.dtype in (torch.float32, torch.float64)
    if native_mask and native.available() and not torch.compiler.is_compiling():
        seed = int(torch.randint(-(2**63), 2**63 - 1, (), dtype=torch.int64))
        return torch.ops.rnnkit.keep_mask(list(shape), p, seed, like.detach())
    n = math.prod(shape)
    bits = torch.randint(
        -(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=like.device
    )
    uniform16 = bits.view(torch.int16)[:n]  # uniform in [-32768, 32767]
    return (uniform16 < round(p * 65536) - 32768).view(shape).to(like.dtype)


@dataclass(frozen=True)
class Regularisers:
    zoneout: float = 0.0
    recurrent_dropout: float = 0.0
    weight_drop: float = 0.0

    def __post_init__(self) -> None:
        for name in ("zoneout", "recurrent_dropout", "weight_drop"):
            object.__setattr__(self, name, check_probability(getattr(self, name), name))

    def any(self) -> bool:
        return bool(self.zoneout or self.recurrent_dropout or self.weight_drop)

    def in_loop(self, training: bool) -> bool:
        """Whether the time loop itself must change (zoneout, or recurrent dropout in training)."""
        return bool(self.zoneout or (training and self.recurrent_dropout))

    def zoneout_mask(self, steps: int, batch: int, size: int, like: Tensor, training: bool):
        """(T, B, H) of 0/1 in training (1: keep the previous state), the 0-d rate at
        inference, None without zoneout."""
        if not self.zoneout:
            return None
        if not training:
            return like.new_tensor(self.zoneout)
        return keep_mask((steps, batch, size), self.zoneout, like)

    def recurrent_mask(self, batch: int, size: int, like: Tensor, training: bool):
        """(B, P) of 0 or 1 / (1 - p), or None."""
        if not (training and self.recurrent_dropout):
            return None
        keep = 1.0 - self.recurrent_dropout
        return torch.bernoulli(like.new_full((batch, size), keep)) / keep

    def loop_masks(self, x: Tensor, hidden: int, recurrent: int, training: bool):
        """(zoneout mask, recurrent-dropout mask) for a run over x (T, B, I): zoneout on
        ``hidden`` units, dropout on h_{t-1}'s ``recurrent`` features."""
        steps, batch = x.shape[:2]
        zoneout = self.zoneout_mask(steps, batch, hidden, x, training)
        return zoneout, self.recurrent_mask(batch, recurrent, x, training)

    def drop_weight(self, weight: Tensor, training: bool) -> Tensor:
        return dropout(weight, self.weight_drop, training) if self.weight_drop else weight

    def __str__(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in vars(self).items() if v)
