"""Character, word and subword tokenisers: a vocabulary fitted on training text, saved with
a model as JSON (never pickled). Subwords are pieces of words fitted by a unigram language
model (``rnnkit.data.subwords``).

Index 0 is padding (``<pad>``) and 1 the unknown token (``<unk>``); the rest are the
training text's tokens by falling frequency (ties in code-point order, so a fit is the same
everywhere), at most ``max_size`` of them and each seen at least ``min_freq`` times.
"""

from __future__ import annotations

import binascii
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rnnkit.data.subwords import SIZE, Subwords

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
#: Words (with an inner apostrophe: "don't", "it's") and single punctuation marks.
_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def split_words(text: str) -> list[str]:
    """The words and punctuation marks of ``text``, as a word-level ``Tokenizer`` reads it
    (before lower-casing)."""
    return _WORD.findall(text)


KINDS = ("char", "word", "subword")


class Tokenizer:
    """``kind`` "char", "word" or "subword" (with its fitted ``subwords``);
    ``encode``/``decode`` between text and token indices."""

    def __init__(
        self, kind: str, tokens: list[str], lower: bool, subwords: Subwords | None = None
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if (kind == "subword") != (subwords is not None):
            raise ValueError("a subword tokenizer needs its fitted subwords, and only it")
        self.kind, self.lower, self.subwords = kind, lower, subwords
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
        """Words and subwords are lower-cased by default, characters are not. Subwords: a
        segmentation into at most ``max_size`` pieces (default ``subwords.SIZE``) is fitted
        on ``texts`` first; the vocabulary is its pieces, the ones the texts use most first."""
        lower = kind != "char" if lower is None else lower
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise ValueError(f"max_size must be a positive int or None, got {max_size!r}")
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be a positive int, got {min_freq!r}")
        subwords = None
        if kind == "subword":
            texts = [text.lower() if lower else text for text in texts]
            subwords = Subwords.fit(texts, max_size or SIZE)
        probe = cls(kind, [], lower, subwords)
        counts = Counter(token for text in texts for token in probe.split(text))
        if not counts:
            raise ValueError(
                "the training text is empty: there is nothing to build a vocabulary from"
            )
        ranked = sorted(
            (t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t)
        )
        if subwords:  # pieces the training text never needed still spell unseen words
            ranked += [piece for piece in subwords.vocabulary() if piece not in counts]
        return cls(kind, ranked[:max_size], lower, subwords)

    def __len__(self) -> int:
        return len(self.tokens)

    def split(self, text: str) -> list[str]:
        text = text.lower() if self.lower else text
        if self.kind == "subword":
            return self.subwords.pieces(text)
        return list(text) if self.kind == "char" else split_words(text)

    def encode(self, text: str, strict: bool = False) -> list[int]:
        """Token indices of ``text``; unknown tokens become ``<unk>``, or, with ``strict``,
        a ValueError that names them."""
        pieces = self.split(text)
        if strict:
            unseen = sorted({t for t in pieces if t not in self.index})
            if unseen:
                what = {"char": "characters", "word": "words", "subword": "pieces"}[self.kind]
                raise ValueError(
                    f"{what} never seen in training: {''.join(repr(t) for t in unseen[:20])}"
                )
        unk = self.index[UNK]
        return [self.index.get(t, unk) for t in pieces]

    def decode(self, ids: Iterable[int]) -> str:
        pieces = [self.tokens[k] for k in ids if k != 0]
        if self.kind == "subword":
            return Subwords.join(pieces)
        return "".join(pieces) if self.kind == "char" else " ".join(pieces)

    def with_boundaries(self) -> Tokenizer:
        """The same vocabulary with ``<s>`` and ``</s>`` (start and end of a sequence, for
        decoders and generators) at indices 2 and 3."""
        return Tokenizer(self.kind, [BOS, EOS, *self.tokens[2:]], self.lower, self.subwords)

    def to_dict(self) -> dict[str, Any]:
        saved = {"kind": self.kind, "lower": self.lower, "tokens": self.tokens}
        return saved | ({"subwords": self.subwords.to_text()} if self.subwords else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        try:
            subwords = Subwords.from_text(str(data["subwords"])) if "subwords" in data else None
            return cls(data["kind"], list(data["tokens"]), bool(data["lower"]), subwords)
        except (KeyError, TypeError, binascii.Error, RuntimeError) as error:
            raise ValueError(f"not a saved rnnkit tokenizer: missing or bad {error}") from None
