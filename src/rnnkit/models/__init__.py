"""Models for the tasks: many-to-one classification and many-to-many language models."""

from rnnkit.models.classifier import POOLINGS, SequenceClassifier
from rnnkit.models.language_model import LanguageModel, sample
from rnnkit.models.stack import recurrent_stack

__all__ = ["POOLINGS", "LanguageModel", "SequenceClassifier", "recurrent_stack", "sample"]
