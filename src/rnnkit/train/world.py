"""The processes training one model together (torch.distributed): which one this is, and
the few collective steps they agree through.

One process is a world of size 1, and every collective below is then the identity, so
the trainer runs the same code alone and in a group. A process started by ``torchrun``
(or by ``rnnkit train ... --nproc N``) joins its group with ``join()``: gloo for tensors
on the CPU, NCCL for CUDA tensors when CUDA is present. Rank r takes the rows
``share(B)`` of each global batch of B rows: contiguous, disjoint, together all of them,
so that N processes see the same global batches as one.

    world = join()                   # from torchrun's RANK, WORLD_SIZE, MASTER_ADDR, ...
    rows = world.share(64)           # slice(0, 32) on rank 0 of 2, slice(32, 64) on rank 1
    total = world.sum(torch.tensor([loss, count]))
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

#: How long a collective may wait for the other ranks before it fails: a rank lost
#: without its connections closing (a machine gone) must not hang the others.
TIMEOUT = datetime.timedelta(seconds=float(os.environ.get("RNNKIT_DIST_TIMEOUT", "60")))


class LostRank(RuntimeError):
    """Another process of the group stopped answering (killed, crashed, disconnected)."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0  # the rank on this machine (its CUDA device)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes the run directory and prints."""
        return self.rank == 0

    def share(self, rows: int) -> slice:
        """This rank's rows of a global batch of ``rows``: rank r of N takes
        [r * rows // N, (r + 1) * rows // N)."""
        return slice(self.rank * rows // self.size, (self.rank + 1) * rows // self.size)

    def sum(self, values: Tensor) -> Tensor:
        """The elementwise sum of ``values`` over the ranks (a new tensor)."""
        values = values.clone()
        if self.size > 1:
            _collective(dist.all_reduce, values)
        return values

    def any(self, flag: bool) -> bool:
        """True if ``flag`` is true on any rank."""
        return bool(self.sum(torch.tensor([float(flag)]))[0] > 0)

    def mean(self, count: int, score: Callable[[slice], tuple[float, float]]) -> float:
        """A metric over ``count`` items, each rank scoring its share: ``score(part)`` ->
        (sum, weight) over the items ``part``; the result is the sum over all items / the
        weight of all (NaN for no weight), the same on every rank."""
        part = self.share(count)
        mine = score(part) if part.stop > part.start else (0.0, 0.0)
        total, weight = self.sum(torch.tensor(mine, dtype=torch.float64)).tolist()
        return total / weight if weight > 0 else math.nan

    def gather_rows(self, local: Tensor, rows: int, dim: int = 0) -> Tensor:
        """The whole (``rows`` along ``dim``) from each rank's ``share(rows)`` of it: each
        rank's rows set into zeros and summed over ranks (exact: every entry is one rank's
        value plus zeros)."""
        if self.size == 1:
            return local
        part = self.share(rows)
        shape = list(local.shape)
        shape[dim] = rows
        whole = local.new_zeros(shape)
        count = part.stop - part.start  # an empty share holds a borrowed row: not its own
        whole.narrow(dim, part.start, count).copy_(local.narrow(dim, 0, count))
        _collective(dist.all_reduce, whole)
        return whole

    def barrier(self) -> None:
        if self.size > 1:
            _collective(dist.barrier)


_current = World()


def current() -> World:
    """The world this process trains in (size 1 unless ``join`` made it a group)."""
    return _current


def launched() -> bool:
    """True when a launcher (torchrun, ``--nproc``) started this process as one of a group."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def join() -> World:
    """Join the group a launcher started this process in (its environment variables),
    with every collective failing after ``TIMEOUT`` instead of waiting for ever."""
    global _current
    if not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if _nccl_usable() else "gloo"
        dist.init_process_group(backend, timeout=TIMEOUT)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    _current = World(dist.get_rank(), dist.get_world_size(), local_rank)
    return _current


def leave() -> None:
    global _current
    if dist.is_initialized():
        dist.destroy_process_group()
    _current = World()


def _nccl_usable() -> bool:
    return torch.cuda.is_available() and dist.is_nccl_available()


@contextmanager
def contact():
    """A communication failure inside (a rank gone, a timeout), from a collective here or
    from DDP's in the backward pass, raised as ``LostRank``."""
    try:
        yield
    except RuntimeError as error:
        text = str(error)
        if not isinstance(error, dist.DistError) and "gloo" not in text and "NCCL" not in text:
            raise
        raise LostRank(
            f"rank {_current.rank} lost contact with the other ranks of the group (one "
            f"was killed, crashed or disconnected): {text.splitlines()[0][:200]}"
        ) from error


def _collective(operation, *args) -> None:
    with contact():
        operation(*args)
