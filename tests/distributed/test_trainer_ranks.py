"""The Trainer in two real processes (torchrun, gloo on 127.0.0.1) against one process:
the same weights, the same logged losses and validation, the same skipped steps; and
every rank stops together at a time budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("trainer_worker.py")
TIMEOUT = 120


def train(out: Path, processes: int) -> Path:
    """Every case of the worker, in one process or a group of ``processes``."""
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                     str(processes)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, str(WORKER), str(out)], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)  # fmt: skip
    # The whole stderr: a rank's own error comes well before the launcher's summary.
    assert done.returncode == 0, done.stderr[-20000:]
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """(one process's runs, two processes' runs)."""
    tmp = tmp_path_factory.mktemp("trainer")
    return train(tmp / "one", 1), train(tmp / "two", 2)


def result(out: Path) -> tuple[dict, list[dict]]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return torch.load(out / "final.pt", weights_only=True), records


def test_every_rank_stops_together_at_the_time_budget(runs):
    assert (runs[1] / "budget" / "stopped").read_text() == "time budget"


@pytest.mark.parametrize("case", ["plain", "nan"])
def test_two_processes_train_as_one(runs, case):
    alone, alone_log = result(runs[0] / case)
    pair, pair_log = result(runs[1] / case)
    for name, value in alone.items():
        torch.testing.assert_close(pair[name], value, rtol=0, atol=1e-10)
    assert len(pair_log) == len(alone_log) == 4 * 3 + 4  # 3 batches and a validation per epoch
    for one, two in zip(alone_log, pair_log, strict=True):
        place = ("step", "epoch", "batch")
        assert [one[k] for k in place] == [two[k] for k in place]
        assert one.get("skipped") == two.get("skipped")
        for key in ("loss", "validation", "grad_norm"):
            if key in one and one[key] == one[key]:  # NaN (a skipped step) equals nothing
                assert two[key] == pytest.approx(one[key], rel=1e-9, abs=1e-12), key
    skipped = [r["batch"] for r in alone_log if r.get("skipped")]
    assert skipped == ([2, 2, 2, 2] if case == "nan" else [])
