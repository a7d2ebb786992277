"""Data for the tasks: named real data sets that load offline, the user's own files,
tokenisers, padding and length bucketing."""

from rnnkit.data.batching import bucket_batches, pad
from rnnkit.data.examples import Corpus, LabelledSequences, LabelledTexts
from rnnkit.data.load import TASKS, load_data
from rnnkit.data.named import NAMED
from rnnkit.data.tokenizers import Tokenizer

__all__ = [
    "NAMED",
    "TASKS",
    "Corpus",
    "LabelledSequences",
    "LabelledTexts",
    "Tokenizer",
    "bucket_batches",
    "load_data",
    "pad",
]
