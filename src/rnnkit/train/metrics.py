"""The run's metrics: one JSON line per record in ``metrics.jsonl``, and TensorBoard event
files under ``tensorboard/`` when the tensorboard package is installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnkit.train.files import write_atomic


class MetricsLog:
    """Records carry ``step``, ``epoch`` and ``batch`` (batches done in the epoch after
    the record), so that a resumed run can drop what it will redo."""

    def __init__(
        self, run_dir: Path, tensorboard: bool = True, resumed_at: int | None = None
    ) -> None:
        """``resumed_at``: the step a resumed run continues from; TensorBoard then drops
        the interrupted run's events from that step on."""
        self.path = run_dir / "metrics.jsonl"
        self._writer = (
            _tensorboard_writer(run_dir / "tensorboard", resumed_at) if tensorboard else None
        )

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as file:
            file.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for key, value in record.items():
                if key not in ("step", "epoch", "batch") and isinstance(value, (int, float)):
                    self._writer.add_scalar(key, value, record["step"])

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def forget_after(self, epoch: int, batch: int) -> None:
        """Drop the records past (epoch, batch): work done after the checkpoint a run
        resumes from, which it will redo, so that the file reads as one run."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut off by the interruption
                continue
            if (record["epoch"], record["batch"]) <= (epoch, batch):
                kept.append(line)
        text = "".join(line + "\n" for line in kept).encode()
        write_atomic(self.path, lambda file: file.write(text))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _tensorboard_writer(directory: Path, purge_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(directory), purge_step=purge_step)


class NoMetrics:
    """The metrics of a process that writes none: all ranks but 0 of a data-parallel run
    (rank 0 logs the global loss, the same for all)."""

    def write(self, record: dict[str, Any]) -> None:
        pass

    def forget_after(self, epoch: int, batch: int) -> None:
        pass

    def close(self) -> None:
        pass
