"""Checkpoints: atomic, the last K kept, safe to load, and a damaged one is skipped by name."""

from __future__ import annotations

import pytest
import torch

from rnnkit.train import CheckpointError, load_latest, save_checkpoint
from rnnkit.train.checkpoint import list_checkpoints


def state(value: float, step: int = 0) -> dict:
    return {"model": {"w": torch.full((3,), value)}, "position": {"step": step}}


def test_keeps_the_newest_k_and_loads_the_newest(tmp_path):
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, state(step), keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "ckpt-000000004.pt",
        "ckpt-000000005.pt",
    ]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind
    path, loaded = load_latest(tmp_path)
    assert path.name == "ckpt-000000005.pt" and torch.equal(
        loaded["model"]["w"], torch.full((3,), 5.0)
    )


def test_an_empty_directory_has_no_checkpoint(tmp_path):
    assert load_latest(tmp_path) is None
    assert load_latest(tmp_path / "missing") is None


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_checkpoint_is_named_and_the_previous_one_used(tmp_path, damage):
    save_checkpoint(tmp_path, 1, state(1, step=1), keep=3)
    newest = save_checkpoint(tmp_path, 2, state(2, step=2), keep=3)
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a checkpoint" * 10)
    with pytest.warns(UserWarning, match="ckpt-000000002.pt"):
        path, loaded = load_latest(tmp_path)
    assert path.name == "ckpt-000000001.pt" and loaded["position"]["step"] == 1


def test_no_readable_checkpoint_is_an_error_naming_them(tmp_path):
    newest = save_checkpoint(tmp_path, 3, state(3), keep=3)
    newest.write_bytes(b"\0" * 100)
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match="ckpt-000000003.pt"):
        load_latest(tmp_path)


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_loading_never_runs_code_from_the_file(tmp_path):
    marker = tmp_path / "code-ran"
    with open(tmp_path / "ckpt-000000009.pt", "wb") as file:
        torch.save({"model": {}, "evil": _Payload(marker)}, file)
    with pytest.warns(UserWarning, match="ckpt-000000009.pt"), pytest.raises(CheckpointError):
        load_latest(tmp_path)
    assert not marker.exists()


def test_non_finite_weights_are_never_written(tmp_path):
    save_checkpoint(tmp_path, 1, state(1), keep=3)
    with pytest.raises(CheckpointError, match="non-finite weights in w"):
        save_checkpoint(tmp_path, 2, state(float("nan")), keep=3)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-000000001.pt"]
