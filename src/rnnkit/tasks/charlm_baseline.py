"""The baseline of ``rnnkit train charlm``: a character n-gram model with interpolated
Kneser-Ney smoothing (Kneser & Ney 1995; the interpolated form of Chen & Goodman 1999),
counted on the training text in seconds with numpy (no loop over characters).

For the context h of the n - 1 characters before c and h' = h without its first one,

    P(c | h) = max(C(h c) - D, 0) / C(h) + D N(h) / C(h) P(c | h'),

C(h) = sum_c C(h c), N(h) the number of distinct characters seen after h, and an unseen
h gives P(c | h'). At the highest order C counts the training text; below it C(h c) is
the continuation count, the number of distinct characters seen before h c (a string
that follows many contexts is likely in a new one). Each order's discount is
D = n1 / (n1 + 2 n2), n1 and n2 its numbers of strings counted once and twice. The
recursion ends in the uniform 1 / (V + 1) over the V training characters and one slot for
any other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class _Level:
    """One order's counts, strings as sorted int64 codes (``CharNgram._codes``)."""

    grams: np.ndarray  # h c, unique and sorted
    counts: np.ndarray  # C(h c)
    contexts: np.ndarray  # h, unique and sorted
    context_counts: np.ndarray  # C(h)
    followers: np.ndarray  # N(h)
    discount: float  # D


class CharNgram:
    """``CharNgram.fit(text, order)``; ``bits_per_char(text)`` of any other text."""

    def __init__(self, alphabet: str) -> None:
        self.alphabet = alphabet
        self.index = {c: k for k, c in enumerate(alphabet)}
        self.levels: list[_Level] = []  # context lengths 0, 1, ..., order - 1

    @property
    def order(self) -> int:
        return len(self.levels)

    @property
    def base(self) -> int:
        """V + 1 symbols: the alphabet and "any other"."""
        return len(self.alphabet) + 1

    def encode(self, text: str) -> np.ndarray:
        other = len(self.alphabet)
        return np.array([self.index.get(c, other) for c in text], dtype=np.int64)

    def _codes(self, codes: np.ndarray, width: int) -> np.ndarray:
        """Every ``width``-gram as sum_k c_k base^(width - 1 - k), (N - width + 1,)."""
        found = np.zeros(len(codes) - width + 1, dtype=np.int64)
        for k in range(width):
            found = found * self.base + codes[k : len(codes) - width + 1 + k]
        return found

    @classmethod
    def fit(cls, text: str, order: int = 6) -> CharNgram:
        if not isinstance(order, int) or not 1 <= order <= 9:  # 9: codes fit in int64
            raise ValueError(f"order must be an int from 1 to 9, got {order!r}")
        if len(text) < order:
            raise ValueError(f"the training text has {len(text)} characters: fewer than the "
                             f"order, {order}")  # fmt: skip
        model = cls("".join(sorted(set(text))))
        codes = model.encode(text)
        grams, counts = np.unique(model._codes(codes, order), return_counts=True)
        levels = []
        for width in range(order, 0, -1):
            if width < order:  # continuation counts: distinct characters before each
                grams, counts = np.unique(levels[-1].grams % model.base**width,
                                          return_counts=True)  # fmt: skip
            contexts, start, followers = np.unique(grams // model.base, return_index=True,
                                                   return_counts=True)  # fmt: skip
            once, twice = np.count_nonzero(counts == 1), np.count_nonzero(counts == 2)
            discount = once / (once + 2 * twice) if once else 0.5
            levels.append(_Level(grams, counts, contexts, np.add.reduceat(counts, start),
                                 followers, discount))  # fmt: skip
        model.levels = levels[::-1]
        return model

    def log2_probabilities(self, text: str) -> np.ndarray:
        """log2 P(text[i] | the order - 1 characters before it), (N,); the first characters,
        with fewer before them, by the shorter contexts they have."""
        codes = self.encode(text)
        if len(codes) == 0:
            raise ValueError("the text to score is empty")
        p = np.full(len(codes), 1.0 / self.base)
        for width, level in enumerate(self.levels[: len(codes)], start=1):
            grams = self._codes(codes, width)  # h c at positions width - 1, ..., N - 1
            context_count, followers = _lookup(level.contexts, grams // self.base,
                                               level.context_counts, level.followers)  # fmt: skip
            (count,) = _lookup(level.grams, grams, level.counts)
            total = np.maximum(context_count, 1)
            lower = p[width - 1 :]
            mixed = (np.maximum(count - level.discount, 0)
                     + level.discount * followers * lower) / total  # fmt: skip
            p[width - 1 :] = np.where(context_count > 0, mixed, lower)
        return np.log2(p)

    def bits_per_char(self, text: str) -> float:
        return float(-self.log2_probabilities(text).mean())


def _lookup(keys: np.ndarray, queries: np.ndarray, *values: np.ndarray) -> list[np.ndarray]:
    """Each of ``values`` where ``queries`` sit in the sorted ``keys``; 0 for a query that
    is not among them."""
    at = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    found = keys[at] == queries
    return [np.where(found, v[at], 0) for v in values]


def fit_on_validation(train: str, valid: str, orders=(5, 6, 7, 8)) -> CharNgram:
    """The model of the order (of ``orders``, those the training text is long enough for)
    with the fewest bits per character on ``valid``."""
    models = [CharNgram.fit(train, order) for order in orders if order <= len(train)]
    models = models or [CharNgram.fit(train, len(train))]
    return min(models, key=lambda model: model.bits_per_char(valid))
