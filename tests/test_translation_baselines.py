"""chrF and the word-by-word dictionary of rnnkit train seq2seq's evaluation."""

from __future__ import annotations

import pytest

from rnnkit.tasks.translation_baselines import WordDictionary, chrf


def test_chrf_of_a_pair_worked_out_by_hand():
    """'le chat' against 'the cat', spaces removed: 'lechat' and 'thecat'. Unigrams: 5 of 6
    match (e, c, h, a, t); bigrams 2 of 5 (ec, at); none longer. Precision and recall are
    both (5/6 + 2/5) / 6 over the six orders, so chrF2 is that value, times 100."""
    assert chrf(["le chat"], [["the cat"]]) == pytest.approx(100 * (5 / 6 + 2 / 5) / 6)
    assert chrf(["the cat"], [["the cat", "a cat"]]) == 100.0
    with pytest.raises(ValueError, match="one reference list per output, got 1 and 2"):
        chrf(["a"], [["a"], ["b"]])


def test_the_dictionary_takes_the_strongest_co_occurrence_and_copies_the_unknown():
    pairs = [("the cat", "le chat"), ("the dog", "le chien"), ("a cat", "un chat"),
             ("a dog", "un chien"), ("the bird", "l'oiseau")]  # fmt: skip
    dictionary = WordDictionary(pairs)
    assert dictionary.table["cat"] == "chat" and dictionary.table["the"] == "le"
    assert dictionary.translate("A Dog sleeps") == "un chien sleeps"
