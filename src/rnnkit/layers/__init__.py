"""Layers: cells run over sequences, in either direction, stacked."""

from rnnkit.layers.base import SequenceLayer
from rnnkit.layers.bidirectional import Bidirectional
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.stacked import Stacked

__all__ = ["Bidirectional", "Recurrent", "SequenceLayer", "Stacked"]
