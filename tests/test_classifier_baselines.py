"""The simple classifiers rnnkit's are measured against (rnnkit.tasks.classifier_baselines)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.tasks.classifier_baselines import fit_baseline

WORDS = {0: ["good", "great", "fine"], 1: ["bad", "awful", "dull"], 2: ["blue", "green", "red"]}
FILLER = ["the", "film", "was", "a", "plot", "of", "and", "it"]


def texts(classes: int, count: int, seed: int) -> list[tuple[str, int]]:
    """Each text: filler words and one word of its class, in random order."""
    rng = np.random.default_rng(seed)
    found = []
    for k in range(count):
        label = k % classes
        words = [*rng.choice(FILLER, size=5), rng.choice(WORDS[label])]
        found.append((" ".join(rng.permutation(words)), label))
    return found


@pytest.mark.parametrize("name", ["tfidf-lr", "nbsvm"])
@pytest.mark.parametrize("classes", [2, 3])
def test_text_baselines_learn_the_words_that_decide(name, classes):
    predict = fit_baseline(name, texts(classes, 120, 0), texts(classes, 30, 1))
    test = texts(classes, 60, 2)
    predicted = predict([t for t, _ in test])
    assert predicted.shape == (60,) and (predicted == [y for _, y in test]).mean() >= 0.95


def test_summary_statistics_separate_sequences_by_level():
    def sequences(count, seed):
        rng = np.random.default_rng(seed)
        return [(rng.normal(size=(int(rng.integers(5, 20)), 3)) + 1.5 * (k % 2), k % 2)
                for k in range(count)]  # fmt: skip

    predict = fit_baseline("summary-lr", sequences(80, 0), sequences(20, 1))
    test = sequences(40, 2)
    assert (predict([x for x, _ in test]) == [y for _, y in test]).mean() >= 0.95


def test_an_unknown_baseline_is_named():
    with pytest.raises(ValueError, match="baseline must be one of .*'nbsvm'.*got 'svm'"):
        fit_baseline("svm", texts(2, 10, 0), texts(2, 4, 1))
