"""The character n-gram baseline (rnnkit.tasks.charlm_baseline) against a plain-dict
interpolated Kneser-Ney written out here from the formula."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from rnnkit.tasks.charlm_baseline import CharNgram, fit_on_validation


def reference(train: str, order: int):
    """P(c | h) by the docstring's recursion, with dicts."""
    alphabet = sorted(set(train))
    counts = [None] * (order + 1)
    counts[order] = Counter(train[i : i + order] for i in range(len(train) - order + 1))
    for width in range(order - 1, 0, -1):  # continuation: distinct characters before
        counts[width] = Counter(gram[1:] for gram in counts[width + 1])

    def discount(width):
        values = list(counts[width].values())
        once, twice = values.count(1), values.count(2)
        return once / (once + 2 * twice) if once else 0.5

    context_total, followers = [defaultdict(int) for _ in range(order + 1)], [
        defaultdict(int) for _ in range(order + 1)]  # fmt: skip
    for width in range(1, order + 1):
        for gram, n in counts[width].items():
            context_total[width][gram[:-1]] += n
            followers[width][gram[:-1]] += 1

    def probability(history: str, c: str) -> float:
        p = 1 / (len(alphabet) + 1)
        for width in range(1, min(order, len(history) + 1) + 1):  # as long as the history
            h = history[len(history) - width + 1 :] if width > 1 else ""
            total = context_total[width].get(h, 0)
            if total:
                d = discount(width)
                p = (max(counts[width].get(h + c, 0) - d, 0) + d * followers[width][h] * p) / total
        return p

    return probability


@pytest.mark.parametrize("order", [1, 3, 5])
def test_matches_the_formula_written_out_with_dicts(order):
    rng = np.random.default_rng(order)
    train = "".join(rng.choice(list("abcde "), size=2000, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.1]))
    test = "".join(rng.choice(list("abcdef "), size=200))  # "f": never seen in training
    model = CharNgram.fit(train, order)
    probability = reference(train, order)
    expected = [math.log2(probability(test[i - order + 1 : i], test[i]))
                for i in range(order - 1, len(test))]  # fmt: skip
    found = model.log2_probabilities(test)
    np.testing.assert_allclose(found[order - 1 :], expected, rtol=1e-9)
    # the first characters, by the shorter contexts before them
    start = [math.log2(probability(test[:i], test[i])) for i in range(order - 1)]
    np.testing.assert_allclose(found[: order - 1], start, rtol=1e-9)


def test_every_distribution_sums_to_one():
    train = "the cat sat on the mat; the dog sat on the log."
    model = CharNgram.fit(train, 4)
    for history in ("the", "sat", "xyz", "on "):
        # every training character, and one other (all others share its slot)
        total = sum(2 ** model.log2_probabilities(history + c)[-1] for c in model.alphabet + "#")
        assert total == pytest.approx(1.0)


def test_the_order_is_chosen_on_validation_text():
    train = "abcabcabcabd" * 50
    model = fit_on_validation(train, "abcabcabd" * 5, orders=(1, 4))
    assert model.order == 4  # a unigram model cannot see the pattern
    assert model.bits_per_char("abcabcabc") < CharNgram.fit(train, 1).bits_per_char("abcabcabc")


@pytest.mark.parametrize("order, text, message", [(0, "abc", "order must be an int from 1 to 9"),
                                                  (10, "abc" * 9, "from 1 to 9"),
                                                  (4, "abc", "fewer than the order")])  # fmt: skip
def test_bad_arguments_are_named(order, text, message):
    with pytest.raises(ValueError, match=message):
        CharNgram.fit(text, order)
