"""CTC decoding against hand-worked answers and a brute-force sum over every path; the
Witten-Bell n-gram against hand-computed probabilities; word lists and LM weights."""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict

import numpy as np
import pytest
import torch
from torch import Tensor

from rnnkit.models.ctc_decoding import (
    CharacterNgram,
    WordList,
    decode,
    greedy_decode,
    prefix_beam_search,
)

ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"
TEXTS = ["the cat sat on the mat", "then the dog ate the bone", "the end", "there they were"]


def frames(alphabet: str, *rows: dict[str, float]) -> Tensor:
    """(T, K) log-probabilities: each row's named labels ("" is the blank) get their
    probability and the other labels share the rest equally."""
    out, k = [], len(alphabet) + 1
    for row in rows:
        p = torch.full((k,), (1 - sum(row.values())) / max(k - len(row), 1), dtype=torch.float64)
        for char, prob in row.items():
            p[alphabet.index(char) + 1 if char else 0] = prob
        out.append(p.log())
    return torch.stack(out).float()


def exact_labelling_probs(log_probs: Tensor, alphabet: str) -> dict[str, float]:
    """P(y | x) for every y, summing prod_t p_t(pi_t) over all K^T paths pi."""
    probs = log_probs.double().exp().numpy()
    steps, k = probs.shape
    totals: dict[str, float] = defaultdict(float)
    for path in itertools.product(range(k), repeat=steps):
        merged = [label for label, _ in itertools.groupby(path)]
        text = "".join(alphabet[label - 1] for label in merged if label != 0)
        totals[text] += float(np.prod(probs[np.arange(steps), list(path)]))
    return totals


def test_greedy_merges_repeats_and_keeps_repeats_split_by_a_blank():
    # best labels: a a - a b b - - b -> "a" "a" "b" "b" (a blank separates the repeats)
    best = ["a", "a", "", "a", "b", "b", "", "", "b", ""]
    log_probs = frames("ab", *({char: 0.8} for char in best))
    assert greedy_decode(log_probs, "ab") == "aabb"
    assert decode(log_probs, "ab") == "aabb"


def test_greedy_strips_and_collapses_spaces():
    best = [" ", "", "a", " ", "", " ", "b", " "]
    assert greedy_decode(frames(" ab", *({char: 0.7} for char in best)), " ab") == "a b"


def test_beam_search_sums_paths_where_greedy_takes_one():
    # P("") = 0.6^2 = 0.36 (the greedy path) but P("a") = 0.4^2 + 2 * 0.4 * 0.6 = 0.64.
    log_probs = frames("a", {"": 0.6, "a": 0.4}, {"": 0.6, "a": 0.4})
    assert greedy_decode(log_probs, "a") == ""
    assert prefix_beam_search(log_probs, "a", beam=4) == "a"


def test_wide_beam_finds_the_most_probable_labelling_by_brute_force():
    greedy_differs = 0
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        log_probs = torch.log_softmax(1.5 * torch.randn(5, 3, generator=g), dim=1)
        totals = exact_labelling_probs(log_probs, "ab")
        assert math.isclose(sum(totals.values()), 1.0, rel_tol=1e-6)
        best = max(totals, key=totals.__getitem__)
        # at most 63 labellings of length <= 5 over "ab": a beam of 64 keeps all of them
        assert prefix_beam_search(log_probs, "ab", beam=64, prune=-math.inf) == best, seed
        assert decode(log_probs, "ab", beam=64) == best, seed
        greedy_differs += greedy_decode(log_probs, "ab") != best
    assert greedy_differs > 0  # the problems are not all ones greedy decoding solves


def test_ngram_matches_hand_computed_witten_bell():
    # "aab", order 2: after "": a 2, b 1, end 1 (N = 3); after "a": a 1, b 1 (N = 2);
    # after the start: a 1 (N = 1); uniform 1/3 over a, b, end.
    lm = CharacterNgram.fit(["aab"], order=2)
    p1 = {"a": (2 + 3 / 3) / 7, "b": (1 + 3 / 3) / 7, "end": (1 + 3 / 3) / 7, "z": 1 / 7}
    assert math.isclose(lm.log_prob("xa", "b"), math.log((1 + 2 * p1["b"]) / 4))
    assert math.isclose(lm.log_prob("a", "a"), math.log((1 + 2 * p1["a"]) / 4))
    assert math.isclose(lm.end_log_prob("ba"), math.log(2 * p1["end"] / 4))
    assert math.isclose(lm.log_prob("a", "z"), math.log(2 * p1["z"] / 4))
    assert math.isclose(lm.log_prob("", "a"), math.log((1 + p1["a"]) / 2))
    assert math.isclose(lm.log_prob("b", "a"), math.log(p1["a"] / 2))  # "b": end 1 (N = 1)
    assert math.isclose(lm.log_prob("z", "a"), math.log(p1["a"]))  # "z" never seen


@pytest.mark.parametrize("order", [1, 2, 4])
def test_ngram_sums_to_one_over_alphabet_and_end(order: int):
    lm = CharacterNgram.fit(TEXTS, order=order, alphabet=ALPHABET)
    for history in ["", "t", "th", "the ca", "zzq", "the cat sat on the"]:
        total = sum(math.exp(lm.log_prob(history, c)) for c in ALPHABET)
        assert abs(total + math.exp(lm.end_log_prob(history)) - 1) < 1e-9, history


def test_ngram_gives_characters_never_seen_a_small_finite_probability():
    lm = CharacterNgram.fit(TEXTS, order=3)  # no alphabet: "q" and "'" are never seen
    assert set("q'").isdisjoint(lm.vocabulary)
    for history in ["", "th", "the c"]:
        seen = sum(math.exp(lm.log_prob(history, c)) for c in lm.vocabulary)
        assert abs(seen + math.exp(lm.end_log_prob(history)) - 1) < 1e-9
        assert (
            -math.inf
            < lm.log_prob(history, "q")
            < min(lm.log_prob(history, c) for c in lm.vocabulary)
        )


def test_ngram_prefers_texts_like_its_training_texts_and_round_trips_through_json():
    lm = CharacterNgram.fit(TEXTS, order=4, alphabet=ALPHABET)

    def score(text: str) -> float:
        chars = sum(lm.log_prob(text[:i], c) for i, c in enumerate(text))
        return chars + lm.end_log_prob(text)

    assert score("the cat ate the bone") > score("teh cta aet hte bnoe") + 10
    loaded = CharacterNgram.from_dict(json.loads(json.dumps(lm.to_dict())))
    assert loaded.order == 4
    for history, char in [("", "t"), ("the c", "a"), ("xyz", "q"), ("the dog", " ")]:
        assert loaded.log_prob(history, char) == lm.log_prob(history, char)
    assert loaded.end_log_prob("the end") == lm.end_log_prob("the end")


def test_word_list_checks_partial_and_complete_transcripts():
    words = WordList(["one", "two", "three"])
    assert words.allows("") and words.allows("t") and words.allows("one tw")
    assert words.allows("one two ") and words.allows(" one  th")
    assert not words.allows("tx") and not words.allows("on tw") and not words.allows("four")
    assert words.complete("one") and words.complete("two three") and words.complete("one ")
    assert not words.complete("on") and not words.complete("one thr")
    assert words.allows_next("tw", " o") == [False, True]
    assert words.allows_next("two", " o") == [True, False]
    for text in ["", "t", "two", "two t", " one  th", "three "]:
        assert words.allows_next(text, ALPHABET) == [words.allows(text + c) for c in ALPHABET]
    assert words.to_dict() == {"words": ["one", "three", "two"]}
    loaded = WordList.from_dict(json.loads(json.dumps(words.to_dict())))
    assert loaded.words == words.words and loaded.prefixes == words.prefixes


def test_word_list_forces_a_listed_word():
    log_probs = frames(ALPHABET, {"o": 0.9}, {"n": 0.9}, {"": 0.55, "e": 0.4})
    assert greedy_decode(log_probs, ALPHABET) == "on"
    assert prefix_beam_search(log_probs, ALPHABET) == "on"
    words = WordList(["one", "two", "three"])
    assert prefix_beam_search(log_probs, ALPHABET, word_list=words) == "one"
    assert decode(log_probs, ALPHABET, beam=4, word_list=words) == "one"


def test_word_list_prunes_unlisted_prefixes_during_the_search():
    # With a beam of 2, "tx" and "ty" would push "tw" out before the end; the list must
    # stop them from being kept at all.
    log_probs = frames(ALPHABET, {"t": 0.9}, {"w": 0.3, "x": 0.35, "y": 0.33}, {"o": 0.9})
    words = WordList(["two", "tea"])
    assert prefix_beam_search(log_probs, ALPHABET, beam=2) == "txo"
    assert prefix_beam_search(log_probs, ALPHABET, beam=2, word_list=words) == "two"


def test_language_model_weight_tips_a_close_decision():
    # "the cat" against "tho cat": the same last two characters, so the same P(end | .)
    # under an order-3 model; only P(e | "th") against P(o | "th") can decide.
    first = frames(ALPHABET, {"t": 0.9}, {"h": 0.9}, {"o": 0.45, "e": 0.4, "": 0.1})
    log_probs = torch.cat([first, frames(ALPHABET, *({c: 0.9} for c in " cat"))])
    lm = CharacterNgram.fit(TEXTS, order=3, alphabet=ALPHABET)
    assert prefix_beam_search(log_probs, ALPHABET) == "tho cat"
    assert prefix_beam_search(log_probs, ALPHABET, language_model=lm, lm_weight=0.0) == "tho cat"
    assert prefix_beam_search(log_probs, ALPHABET, language_model=lm, lm_weight=1.0) == "the cat"


def test_language_model_end_probability_counts_at_the_end():
    # Trained on "ab" only: P(b | a) = (5 + 1/3) / 6 = P(end | b), but P(end | a) = 1/18.
    # Acoustically P("a") = .9 * .6 + .9 * .05 > P("ab") = .9 * .35; with the model,
    # log .585 + log(1/18) < log .315 + 2 log(16/18).
    lm = CharacterNgram.fit(["ab"] * 5, order=2)
    log_probs = frames("ab", {"a": 0.9}, {"": 0.6, "b": 0.35})
    assert prefix_beam_search(log_probs, "ab") == "a"
    assert prefix_beam_search(log_probs, "ab", language_model=lm, lm_weight=1.0) == "ab"


def test_insertion_bonus_favours_more_characters():
    log_probs = frames("ab", {"a": 0.9}, {"": 0.6, "b": 0.35})  # P("a") = .585, P("ab") = .315
    assert prefix_beam_search(log_probs, "ab", insertion_bonus=0.5) == "a"  # 0.5 < log(.585/.315)
    assert prefix_beam_search(log_probs, "ab", insertion_bonus=0.7) == "ab"


def test_pruned_characters_are_not_tried_but_the_best_one_is():
    # P("a") = .3 * .3 + .3 * .65 + .3 * .3 = .375 beats P("b") = .295 and P("") = .195.
    # With prune = -1.1 the first step tries only "b" (log .4 = -0.92, log .3 = -1.2); the
    # second step tries only "a", its best (log .3), so P("b") = .4 * .65 + .4 * .05 wins.
    log_probs = frames("ab", {"a": 0.3, "b": 0.4}, {"a": 0.3, "b": 0.05})
    assert prefix_beam_search(log_probs, "ab", beam=8, prune=-math.inf) == "a"
    assert prefix_beam_search(log_probs, "ab", beam=8, prune=-1.1) == "b"
    assert prefix_beam_search(log_probs, "ab", beam=8, prune=0.0) == "b"  # best kept anyway


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="log_probs"):
        greedy_decode(torch.zeros(4, 3, 1), "ab")
    with pytest.raises(ValueError, match="log_probs"):
        prefix_beam_search(torch.zeros(3), "ab")
    with pytest.raises(ValueError, match="alphabet"):
        prefix_beam_search(torch.zeros(4, 4), "ab")
    with pytest.raises(ValueError, match="alphabet"):
        greedy_decode(torch.zeros(4, 2), "ab")
    with pytest.raises(ValueError, match="beam"):
        prefix_beam_search(torch.zeros(4, 3), "ab", beam=0)
    with pytest.raises(ValueError, match="order"):
        CharacterNgram.fit(TEXTS, order=0)
    with pytest.raises(ValueError, match="words"):
        WordList(["one", "two words"])
