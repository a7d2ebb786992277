"""Layers: cells run over sequences, in either direction, stacked, or one step at a time."""

from rnnkit.layers.base import SequenceLayer
from rnnkit.layers.bidirectional import Bidirectional
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.stacked import Stacked
from rnnkit.layers.stream import Stream

__all__ = ["Bidirectional", "Recurrent", "SequenceLayer", "Stacked", "Stream"]
