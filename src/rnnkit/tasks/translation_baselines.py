"""chrF and the baselines of ``rnnkit train seq2seq``: copying the source, and a
word-by-word dictionary of the training pairs.

chrF (Popovic 2015) is sacrebleu's (chrF2: character n-grams of orders 1 to 6, recall
weighted twice as much as precision, statistics summed over the whole test set), each
output scored against its example's first reference.
"""

from __future__ import annotations

from collections import Counter


def chrf(outputs: list[str], references: list[list[str]]) -> float:
    """Corpus chrF (0-100) of the outputs, each against the first of its references."""
    from sacrebleu.metrics import CHRF

    if len(outputs) != len(references) or not outputs:
        raise ValueError(f"need one reference list per output, got {len(outputs)} and "
                         f"{len(references)}")  # fmt: skip
    return float(CHRF().corpus_score(outputs, [[r[0] for r in references]]).score)


class WordDictionary:
    """Each source word translated by the target word that co-occurs with it most
    strongly in the training pairs, by the Dice coefficient

        dice(s, t) = 2 C(s, t) / (C(s) + C(t)),

    C counting the pairs that hold the word (or both words); a word never seen in training
    is copied. Words are lower-cased and split on spaces."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        source_count, target_count, both = Counter(), Counter(), Counter()
        for source, target in pairs:
            s, t = set(source.lower().split()), set(target.lower().split())
            source_count.update(s)
            target_count.update(t)
            both.update((a, b) for a in s for b in t)
        best: dict[str, tuple[float, str]] = {}
        for (a, b), n in both.items():
            dice = 2 * n / (source_count[a] + target_count[b])
            if (dice, b) > best.get(a, (0.0, "")):
                best[a] = (dice, b)
        self.table = {a: b for a, (_, b) in best.items()}

    def translate(self, text: str) -> str:
        return " ".join(self.table.get(word, word) for word in text.lower().split())
