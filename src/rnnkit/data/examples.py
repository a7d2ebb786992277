"""The shapes a data set comes in, whatever its source (named or the user's own file)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LabelledTexts:
    """Texts with one class label each (sentiment analysis), split three ways."""

    train: list[tuple[str, int]]
    valid: list[tuple[str, int]]
    test: list[tuple[str, int]]
    classes: list[str]
    name: str = ""
    dropped_classes: dict[str, int] = field(default_factory=dict)  # too rare: class -> rows
    skipped_rows: list[tuple[int, str]] = field(default_factory=list)  # (line, what is wrong)


@dataclass
class Corpus:
    """Running text for a language model, split three ways (by document where there are
    documents: the test text is then truly unseen)."""

    train: str
    valid: str
    test: str
    name: str = ""
    documents: dict[str, list[str]] = field(default_factory=dict)  # split -> document names


@dataclass
class LabelledSequences:
    """Real-valued sequences of varying length with one class label each: each sequence a
    (T_i, C) float32 array."""

    train: list[tuple[np.ndarray, int]]
    valid: list[tuple[np.ndarray, int]]
    test: list[tuple[np.ndarray, int]]
    classes: list[str]
    name: str = ""
    dropped_classes: dict[str, int] = field(default_factory=dict)  # too rare: class -> rows

    @property
    def channels(self) -> int:
        return self.train[0][0].shape[1]
