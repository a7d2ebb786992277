"""Training: the loop (``Trainer``, ``TrainConfig``), batches for it (``shuffled_batches``;
``stream_batches`` and ``sequence_batches`` for truncated BPTT), checkpoints that survive
a kill, metrics in the run directory, training in several processes
(``rnnkit.train.world``, ``rnnkit.train.sharding``) and gradient-flow diagnostics
(``rnnkit.train.diagnostics``)."""

from rnnkit.train.batches import SequenceChunk, sequence_batches, shuffled_batches, stream_batches
from rnnkit.train.best_epoch import BestEpoch
from rnnkit.train.checkpoint import CheckpointError, load_latest, save_checkpoint
from rnnkit.train.trainer import (
    NonFiniteTraining,
    NoTrainingStep,
    TrainConfig,
    Trainer,
    TrainResult,
)

__all__ = [
    "BestEpoch",
    "CheckpointError",
    "SequenceChunk",
    "NoTrainingStep",
    "NonFiniteTraining",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "load_latest",
    "save_checkpoint",
    "sequence_batches",
    "shuffled_batches",
    "stream_batches",
]
