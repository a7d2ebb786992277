"""Training in several processes: ``rnnkit train TASK ... --nproc N`` on this machine, or
``torchrun ... -m rnnkit train TASK ...`` on one or more.

``--nproc N`` starts N copies of the same command with torch's elastic agent (the engine
behind ``torchrun``): a rendezvous on 127.0.0.1, each process with its share of the cores
(``OMP_NUM_THREADS``), no restart. Each copy, seeing the launcher's environment (``RANK``,
``WORLD_SIZE``, ...), joins the group and trains its share (``rnnkit.train.world``); rank 0
writes the run and prints. If a process dies, the agent stops the others at once and the
command ends with an error that names the lost rank; torchrun does the same across
machines (and a rank whose peer vanished without closing its connections gives up after
``rnnkit.train.world.TIMEOUT``).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager

from rnnkit.arguments import positive
from rnnkit.train import world

REPORT_GRACE = 3.0  # seconds a rank but 0 leaves rank 0 to report a bad input first


def add_nproc_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nproc", type=positive, default=1,
        help="train in N processes on this machine, each on its share of every batch and "
        "of the cores (torch.distributed, gloo); the result equals one process's",
    )  # fmt: skip


def train_in_processes(args: argparse.Namespace, train: Callable[[argparse.Namespace], str]) -> str:
    """``train(args)`` here, in the group a launcher started this process in, or in
    ``--nproc`` new processes. -> what to print (nothing on ranks but 0)."""
    if world.launched():
        joined = world.join()
        try:
            report = train(args)
        except (ValueError, FileNotFoundError) as error:
            if joined.is_main:
                raise
            # Rank 0 meets the same bad input and reports it; the agent then stops this
            # process. Still running after a while, this rank alone failed: it reports.
            time.sleep(REPORT_GRACE)
            print(f"rnnkit: error: rank {joined.rank}: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        finally:
            world.leave()
        return report if joined.is_main else ""
    if args.nproc > 1:
        launch(args.argv, args.nproc)
        return ""  # rank 0 has printed the report
    return train(args)


def launch(argv: list[str], nproc: int) -> None:
    """``python -m rnnkit *argv`` in ``nproc`` processes; raises ``world.LostRank`` naming
    the rank that failed first, or exits with status 2 when that was bad input (which
    rank 0 has reported)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"rnnkit-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{_free_port()}", max_restarts=0,
        monitor_interval=0.1,
    )  # fmt: skip
    threads = max(1, (os.cpu_count() or 1) // nproc)
    with _environment(OMP_NUM_THREADS=str(threads)), _quiet_agent():
        try:
            elastic_launch(config, sys.executable)("-m", "rnnkit", *argv)
        except ChildFailedError as error:
            rank, first = error.get_first_failure()
            if first.exitcode == 2:  # bad input, which rank 0 has reported
                raise SystemExit(2) from None
            how = (f"was killed by {first.signal_name()}" if first.exitcode < 0
                   else f"exited with status {first.exitcode}")  # fmt: skip
            raise world.LostRank(
                f"rank {rank} of {nproc} (pid {first.pid}) {how}; the other processes were "
                "stopped. Continue from the last checkpoint with --resume"
            ) from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _environment(**values: str):
    """``os.environ`` with ``values`` (the processes started inherit it), restored after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _quiet_agent():
    """The agent's log (rendezvous, worker groups, failures) is not for the user."""
    logger = logging.getLogger("torch.distributed.elastic")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # its failure report: ours names the rank
    try:
        yield
    finally:
        logger.setLevel(level)
