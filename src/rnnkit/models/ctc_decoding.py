"""CTC decoding for a character-level recogniser: greedy, and prefix beam search with an
optional character n-gram language model and word list.

``log_probs`` (T, K) are one utterance's log-softmax outputs; label 0 is the CTC blank and
label k >= 1 is the character ``alphabet[k - 1]``, so K = len(alphabet) + 1. A path
pi in {0, ..., K-1}^T reads as the labelling B(pi): repeats merged, then blanks dropped, and

    P(y | x) = sum over paths pi with B(pi) = y of prod_t p_t(pi_t).

Decoded texts come back with leading/trailing spaces stripped and repeated spaces collapsed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor

START, END = "\x02", "\x03"  # ASCII start/end of text: never characters of a transcript


def _check(log_probs: Tensor, alphabet: str) -> None:
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs must be 2-D (T, K), got shape {tuple(log_probs.shape)}")
    if log_probs.shape[1] != len(alphabet) + 1:
        k = log_probs.shape[1]
        raise ValueError(f"log_probs has K = {k} labels, K must be len(alphabet) + 1 (0: blank)")


def _tidy(text: str) -> str:
    return " ".join(word for word in text.split(" ") if word)


def greedy_decode(log_probs: Tensor, alphabet: str) -> str:
    """Best-path decoding, log_probs (T, K) -> B(argmax_k log_probs[t, k] for t = 1..T)."""
    _check(log_probs, alphabet)
    best = torch.unique_consecutive(log_probs.argmax(dim=1)).tolist()
    return _tidy("".join(alphabet[k - 1] for k in best if k != 0))


class CharacterNgram:
    """Character n-gram language model with interpolated Witten-Bell smoothing.

    A text is padded on the left with order - 1 start symbols and ends with an end symbol.
    For the context h of the order - 1 previous symbols and h' = h without its first one,

        P(c | h) = (C(h c) + N(h) P(c | h')) / (C(h) + N(h)),

    where C(h c) counts c after h in training, C(h) = sum_c C(h c) and N(h) is the number of
    distinct symbols seen after h; an unseen h gives P(c | h) = P(c | h'). The recursion ends
    in 1 / V, uniform over the V = |vocabulary| + 1 symbols (characters and end), so every
    P(. | h) sums to 1 over them. A character outside the vocabulary gets what a vocabulary
    character never seen in any context would get: small but finite (``fit``'s ``alphabet``
    adds characters to the vocabulary to keep the model normalised over them too).
    """

    def __init__(self, order: int, vocabulary: str, counts: dict[str, dict[str, int]]) -> None:
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an int >= 1, got {order!r}")
        self.order = order
        self.vocabulary = "".join(sorted(set(vocabulary)))
        self.counts = counts
        # Symbol indices of the distributions; one more slot for "any other character".
        self._index = {char: i for i, char in enumerate(self.vocabulary + END)}
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def fit(cls, texts: Iterable[str], order: int = 4, alphabet: str = "") -> CharacterNgram:
        """Counts every symbol after each of its contexts of lengths 0 .. order - 1."""
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an int >= 1, got {order!r}")
        counts: dict[str, dict[str, int]] = {}
        seen = set(alphabet)
        for text in texts:
            if START in text or END in text:
                raise ValueError("texts must not contain the start/end symbols \\x02, \\x03")
            seen.update(text)
            padded = START * (order - 1) + text + END
            for i in range(order - 1, len(padded)):
                for n in range(order):
                    follows = counts.setdefault(padded[i - n : i], {})
                    follows[padded[i]] = follows.get(padded[i], 0) + 1
        return cls(order, "".join(seen), counts)

    def context(self, history: str) -> str:
        """The last order - 1 symbols of the start-padded history: all that P(. | h) sees."""
        padded = START * (self.order - 1) + history
        return padded[len(padded) - (self.order - 1) :]

    def _log_distribution(self, context: str) -> np.ndarray:
        """log P(. | context), (V + 1,): vocabulary, end, then any other character."""
        cached = self._cache.get(context)
        if cached is None:
            size = len(self.vocabulary) + 1
            p = np.full(size + 1, 1.0 / size)
            for n in range(len(context) + 1):  # from the empty context up to the whole one
                follows = self.counts.get(context[len(context) - n :])
                if follows:
                    seen = np.zeros(size + 1)
                    for char, count in follows.items():
                        seen[self._index[char]] = count
                    p = (seen + len(follows) * p) / (seen.sum() + len(follows))
            cached = self._cache[context] = np.log(p)
        return cached

    def char_log_probs(self, history: str, chars: str) -> np.ndarray:
        """log P(c | history) for every c in chars, (len(chars),) float64."""
        dist = self._log_distribution(self.context(history))
        return dist[[self._index.get(char, len(dist) - 1) for char in chars]]

    def log_prob(self, history: str, char: str) -> float:
        """Natural log of P(char | the last order - 1 characters of history)."""
        if len(char) != 1:
            raise ValueError(f"char must be one character, got {char!r}")
        return float(self.char_log_probs(history, char)[0])

    def end_log_prob(self, history: str) -> float:
        """log P(end | history): the probability that the text ends after history."""
        return self.log_prob(history, END)

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order, "vocabulary": list(self.vocabulary), "counts": self.counts}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharacterNgram:
        counts = {h: {c: int(n) for c, n in f.items()} for h, f in d["counts"].items()}
        return cls(int(d["order"]), "".join(d["vocabulary"]), counts)


class WordList:
    """The words a transcript may use, kept with all their prefixes so that a partial
    transcript can be checked as it grows one character at a time."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(words)
        if any(not word or " " in word for word in self.words):
            raise ValueError("words must be non-empty and contain no space")
        self.prefixes = frozenset(w[:i] for w in self.words for i in range(len(w) + 1)) | {""}

    def allows(self, text: str) -> bool:
        """Every word followed by a space is listed, the last (partial) one starts a word.
        Empty words (leading or repeated spaces) are allowed: decoding collapses them."""
        *done, last = text.split(" ")
        return last in self.prefixes and all(not word or word in self.words for word in done)

    def allows_next(self, text: str, chars: str) -> list[bool]:
        """allows(text + c) for every c in chars, given allows(text): only the last word
        can change."""
        word = text.rpartition(" ")[2]
        ends = not word or word in self.words
        return [ends if c == " " else word + c in self.prefixes for c in chars]

    def complete(self, text: str) -> bool:
        """allows(text), and the last word is itself listed (or the text ends in a space)."""
        last = text.rpartition(" ")[2]
        return self.allows(text) and (not last or last in self.words)

    def to_dict(self) -> dict[str, Any]:
        return {"words": sorted(self.words)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordList:
        return cls(d["words"])


def _step(
    prefixes: list[str],
    pb: np.ndarray,
    pnb: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    alphabet: str,
    beam: int,
    prune: float,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One step of prefix_beam_search: B prefixes with log p_b, log p_nb (B,), the step's
    log y (K,) and log w (B, K - 1) -> the `beam` best prefixes after it, likewise."""
    chars = y[1:]
    cand = np.flatnonzero((chars >= prune) | (chars == chars.max()))  # (C,) labels - 1
    total = np.logaddexp(pb, pnb)
    last = np.array([alphabet.index(p[-1]) if p else -1 for p in prefixes])
    # (B, C): prefix i extended by character cand[j]; only paths ending in a blank extend
    # a prefix by its own last character.
    ext = np.where(last[:, None] == cand, pb[:, None], total[:, None]) + chars[cand]
    ext += w[:, cand]
    stay_b = total + y[0]
    stay_nb = np.where(last >= 0, pnb + chars[last], -np.inf)
    # An extension that spells a kept prefix adds to it instead of competing with it.
    row_of = {p: i for i, p in enumerate(prefixes)}
    col_of = {int(k): j for j, k in enumerate(cand)}
    for i, p in enumerate(prefixes):
        if p and p[:-1] in row_of and (j := col_of.get(int(last[i]))) is not None:
            stay_nb[i] = np.logaddexp(stay_nb[i], ext[row_of[p[:-1]], j])
            ext[row_of[p[:-1]], j] = -np.inf
    # New prefixes are all different strings: only their `beam` best can be kept.
    flat = ext.ravel()
    top = np.argpartition(-flat, beam)[:beam] if flat.size > beam else np.arange(flat.size)
    rows, cols = np.divmod(top, len(cand))
    names = prefixes + [prefixes[i] + alphabet[cand[j]] for i, j in zip(rows, cols, strict=True)]
    pb = np.concatenate([stay_b, np.full(len(top), -np.inf)])
    pnb = np.concatenate([stay_nb, flat[top]])
    scores = np.logaddexp(pb, pnb)
    keep = np.argsort(-scores, kind="stable")[:beam]
    keep = keep[np.isfinite(scores[keep])] if np.isfinite(scores[keep[0]]) else keep[:1]
    return [names[k] for k in keep], pb[keep], pnb[keep]


def prefix_beam_search(
    log_probs: Tensor,
    alphabet: str,
    beam: int = 8,
    language_model: CharacterNgram | None = None,
    lm_weight: float = 0.5,
    word_list: WordList | None = None,
    insertion_bonus: float = 0.0,
    prune: float = -12.0,
) -> str:
    """CTC prefix beam search (Graves 2012; Hannun et al. 2014), log_probs (T, K) -> text.

    Every kept prefix l carries p_b(l, t) and p_nb(l, t), the probabilities of the paths of
    t steps reading l and ending in a blank or in l's last character c_l; p = p_b + p_nb,
    p_b('', 0) = 1, p_nb('', 0) = 0. With y_t the outputs at step t and
    log w(l, c) = lm_weight log P_LM(c | l) + insertion_bonus (-inf if word_list forbids l c):

        p_b(l, t)     = p(l, t-1) y_t(blank)
        p_nb(l, t)   += p_nb(l, t-1) y_t(c_l)                    (repeat: merged into l)
        p_nb(l c, t) += w(l, c) y_t(c) p(l, t-1)                 (c != c_l)
        p_nb(l c, t) += w(l, c) y_t(c) p_b(l, t-1)               (c == c_l: needs a blank)

    all in log space (log-sum-exp). Characters with log y_t(c) < prune are not tried (the
    best one always is); the `beam` prefixes of largest p(l, t) are kept. The result is the
    prefix maximising log p(l, T) + lm_weight log P_LM(end | l) among those the word list
    calls complete (the best of all if none is).
    """
    _check(log_probs, alphabet)
    if not isinstance(beam, int) or beam < 1:
        raise ValueError(f"beam must be an int >= 1, got {beam!r}")
    cache: dict[str, np.ndarray] = {}  # prefix l -> log w(l, .), (K - 1,)

    def weights(prefix: str) -> np.ndarray:
        if prefix not in cache:
            row = np.full(len(alphabet), float(insertion_bonus))
            if language_model is not None:
                row += lm_weight * language_model.char_log_probs(prefix, alphabet)
            if word_list is not None:
                row[~np.array(word_list.allows_next(prefix, alphabet))] = -np.inf
            cache[prefix] = row
        return cache[prefix]

    prefixes, pb, pnb = [""], np.zeros(1), np.full(1, -np.inf)
    for y in log_probs.detach().to("cpu", torch.float64).numpy():  # (K,) per step
        w = np.stack([weights(p) for p in prefixes])
        prefixes, pb, pnb = _step(prefixes, pb, pnb, y, w, alphabet, beam, prune)
    final = np.logaddexp(pb, pnb)
    if language_model is not None:
        final += lm_weight * np.array([language_model.end_log_prob(p) for p in prefixes])
    if word_list is not None:
        complete = np.array([word_list.complete(p) for p in prefixes])
        if complete.any():
            final = np.where(complete, final, -np.inf)
    return _tidy(prefixes[int(np.argmax(final))])


def decode(
    log_probs: Tensor,
    alphabet: str,
    beam: int = 1,
    language_model: CharacterNgram | None = None,
    lm_weight: float = 0.5,
    word_list: WordList | None = None,
    insertion_bonus: float = 0.0,
    prune: float = -12.0,
) -> str:
    """``greedy_decode`` for beam 1 without a language model or word list, otherwise
    ``prefix_beam_search`` with these options (so a given model or list is never ignored)."""
    if beam == 1 and language_model is None and word_list is None:
        return greedy_decode(log_probs, alphabet)
    return prefix_beam_search(
        log_probs, alphabet, beam, language_model, lm_weight, word_list, insertion_bonus, prune
    )
