"""Character and word tokenisers: a vocabulary fitted on training text, saved with a model
as JSON (never pickled).

Index 0 is padding (``<pad>``) and 1 the unknown token (``<unk>``); the rest are the
training text's tokens by falling frequency (ties in code-point order, so a fit is the same
everywhere), at most ``max_size`` of them and each seen at least ``min_freq`` times.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
#: Words (with an inner apostrophe: "don't", "it's") and single punctuation marks.
_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def split_words(text: str) -> list[str]:
    """The words and punctuation marks of ``text``, as a word-level ``Tokenizer`` reads it
    (before lower-casing)."""
    return _WORD.findall(text)


class Tokenizer:
    """``kind`` "char" or "word"; ``encode``/``decode`` between text and token indices."""

    def __init__(self, kind: str, tokens: list[str], lower: bool) -> None:
        if kind not in ("char", "word"):
            raise ValueError(f"kind must be 'char' or 'word', got {kind!r}")
        self.kind, self.lower = kind, lower
        self.tokens = [PAD, UNK, *(t for t in tokens if t not in (PAD, UNK))]
        self.index = {t: k for k, t in enumerate(self.tokens)}

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        kind: str = "word",
        max_size: int | None = None,
        min_freq: int = 1,
        lower: bool | None = None,
    ) -> Tokenizer:
        """Words are lower-cased by default, characters are not."""
        lower = kind == "word" if lower is None else lower
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise ValueError(f"max_size must be a positive int or None, got {max_size!r}")
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be a positive int, got {min_freq!r}")
        probe = cls(kind, [], lower)
        counts = Counter(token for text in texts for token in probe.split(text))
        if not counts:
            raise ValueError(
                "the training text is empty: there is nothing to build a vocabulary from"
            )
        ranked = sorted(
            (t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t)
        )
        return cls(kind, ranked[:max_size], lower)

    def __len__(self) -> int:
        return len(self.tokens)

    def split(self, text: str) -> list[str]:
        text = text.lower() if self.lower else text
        return list(text) if self.kind == "char" else split_words(text)

    def encode(self, text: str, strict: bool = False) -> list[int]:
        """Token indices of ``text``; unknown tokens become ``<unk>``, or, with ``strict``,
        a ValueError that names them."""
        pieces = self.split(text)
        if strict:
            unseen = sorted({t for t in pieces if t not in self.index})
            if unseen:
                what = "characters" if self.kind == "char" else "words"
                raise ValueError(
                    f"{what} never seen in training: {''.join(repr(t) for t in unseen[:20])}"
                )
        unk = self.index[UNK]
        return [self.index.get(t, unk) for t in pieces]

    def decode(self, ids: Iterable[int]) -> str:
        pieces = [self.tokens[k] for k in ids if k != 0]
        return "".join(pieces) if self.kind == "char" else " ".join(pieces)

    def with_boundaries(self) -> Tokenizer:
        """The same vocabulary with ``<s>`` and ``</s>`` (start and end of a sequence, for
        decoders and generators) at indices 2 and 3."""
        return Tokenizer(self.kind, [BOS, EOS, *self.tokens[2:]], self.lower)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lower": self.lower, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        try:
            return cls(data["kind"], list(data["tokens"]), bool(data["lower"]))
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a saved rnnkit tokenizer: missing or bad {error}") from None
