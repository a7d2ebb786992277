"""Tokenisers: a deterministic vocabulary, the unknown token, strict encoding, JSON round trip."""

from __future__ import annotations

import json

import pytest

from rnnkit.data import Tokenizer


def test_word_tokenizer_lowercases_splits_punctuation_and_ranks_by_frequency():
    tok = Tokenizer.fit(["The cat, the dog.", "THE end!"], "word")
    assert tok.split("He didn't go... Really?") == [
        "he",
        "didn't",
        "go",
        ".",
        ".",
        ".",
        "really",
        "?",
    ]
    assert tok.tokens[:3] == ["<pad>", "<unk>", "the"]  # 3 times, then ties in code-point order
    assert tok.tokens[3:] == ["!", ",", ".", "cat", "dog", "end"]
    assert tok.encode("the bird") == [2, 1]
    assert tok.decode(tok.encode("The dog.")) == "the dog ."


def test_vocabulary_limits():
    texts = ["a a a b b c"]
    assert Tokenizer.fit(texts, "word", min_freq=2).tokens == ["<pad>", "<unk>", "a", "b"]
    assert Tokenizer.fit(texts, "word", max_size=1).tokens == ["<pad>", "<unk>", "a"]
    with pytest.raises(ValueError, match="min_freq must be a positive int"):
        Tokenizer.fit(texts, "word", min_freq=0)
    with pytest.raises(ValueError, match="training text is empty"):
        Tokenizer.fit(["", "  "], "word")


def test_char_tokenizer_round_trips_and_names_unseen_characters():
    tok = Tokenizer.fit(["ROMEO:\nBut soft"], "char")
    assert tok.decode(tok.encode("Bout\nROME")) == "Bout\nROME"
    assert tok.encode("Z")[0] == 1
    with pytest.raises(ValueError, match="characters never seen in training: 'Z''é'"):
        tok.encode("Zé", strict=True)


def test_json_round_trip():
    tok = Tokenizer.fit(["one two two"], "word", lower=False)
    again = Tokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.tokens == tok.tokens and again.kind == "word" and not again.lower
    with pytest.raises(ValueError, match="not a saved rnnkit tokenizer"):
        Tokenizer.from_dict({"kind": "word"})


PLAYS = ["they play", "he played", "she is playing", "we replay it", "a player plays",
         "the players played", "they replayed it", "playing is fun"] * 5  # fmt: skip


def test_subword_tokenizer_reads_an_unseen_word_as_seen_pieces():
    tok = Tokenizer.fit(PLAYS, "subword", max_size=40)
    assert tok.kind == "subword" and len(tok) <= 40 + 2
    pieces = tok.split("Replaying")  # lower-cased, never seen whole
    assert len(pieces) > 1 and "".join(pieces) == "\u2581replaying"
    assert 1 not in tok.encode("Replaying")  # no piece is unknown
    assert tok.decode(tok.encode("They REPLAYED it")) == "they replayed it"
    again = Tokenizer.fit(PLAYS, "subword", max_size=40)
    assert again.tokens == tok.tokens and again.subwords.model == tok.subwords.model
    with pytest.raises(ValueError, match="pieces never seen in training: 'zq'"):
        tok.encode("zq", strict=True)


def test_subword_tokenizer_json_round_trip_and_bad_files():
    tok = Tokenizer.fit(PLAYS, "subword", max_size=40)
    again = Tokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.encode("replaying it") == tok.encode("replaying it")
    assert again.decode(tok.encode("they play")) == "they play"
    broken = tok.to_dict() | {"subwords": "bm90IGEgbW9kZWw="}  # base64 of "not a model"
    for bad in (broken, tok.to_dict() | {"subwords": "%%%"}, {"kind": "subword", "tokens": [],
                                                              "lower": True}):  # fmt: skip
        with pytest.raises(ValueError, match="saved rnnkit tokenizer|needs its fitted subwords"):
            Tokenizer.from_dict(bad)
