"""Training: the loop (``Trainer``, ``TrainConfig``), checkpoints that survive a kill, and
metrics in the run directory."""

from rnnkit.train.checkpoint import CheckpointError, load_latest, save_checkpoint
from rnnkit.train.trainer import (
    NonFiniteTraining,
    TrainConfig,
    Trainer,
    TrainResult,
    shuffled_batches,
    stream_batches,
)

__all__ = [
    "CheckpointError",
    "NonFiniteTraining",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "load_latest",
    "save_checkpoint",
    "shuffled_batches",
    "stream_batches",
]
