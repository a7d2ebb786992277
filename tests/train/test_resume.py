"""A run killed with SIGKILL and resumed ends with the same weights as one never stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("resumable_run.py")


def run(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(run_dir), *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, torch.Tensor]:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    done = run(run_dir)
    assert done.returncode == 0, done.stderr
    return torch.load(run_dir / "final.pt", weights_only=True)


@pytest.mark.parametrize("kill_at", [8, 10, 15])  # on a checkpoint, between two, in epoch 2
def test_killed_and_resumed_run_matches_an_uninterrupted_one(tmp_path, uninterrupted, kill_at):
    killed = run(tmp_path, "--kill-at", str(kill_at))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "final.pt").exists()
    resumed = run(tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    final = torch.load(tmp_path / "final.pt", weights_only=True)
    assert final.keys() == uninterrupted.keys()
    for name, value in uninterrupted.items():
        assert torch.equal(final[name], value), name
    # The metrics read as one run: every step once, in order.
    steps = [
        json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == list(range(1, 22))
    # Only the newest keep_checkpoints=2 are left, the last one at the final step.
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.pt")) == [
        "ckpt-000000020.pt",
        "ckpt-000000021.pt",
    ]
