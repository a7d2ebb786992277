"""Models for the tasks: many-to-one classification, many-to-many language models,
one-to-many generation, sequence-to-sequence with attention and CTC speech recognition."""

from rnnkit.models.classifier import POOLINGS, SequenceClassifier
from rnnkit.models.conditional_generator import ConditionalGenerator
from rnnkit.models.language_model import LanguageModel, sample
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.models.speech_recognizer import SpeechRecognizer
from rnnkit.models.stack import recurrent_stack

__all__ = [
    "POOLINGS", "ConditionalGenerator", "LanguageModel", "Seq2Seq", "SequenceClassifier",
    "SpeechRecognizer",
    "recurrent_stack", "sample",
]  # fmt: skip
