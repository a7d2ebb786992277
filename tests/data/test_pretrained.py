"""Pretrained word embeddings from the all-MiniLM-L6-v2 package: the right rows, read safely."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from rnnkit.data.packages import package_file
from rnnkit.data.pretrained import PACKAGE, TABLE, pretrained_embeddings, wordpiece


def test_wordpiece_is_greedy_longest_match_first():
    vocabulary = {"ang": 0, "angri": 1, "##ly": 2, "##l": 3, "##y": 4, "x": 5}
    assert wordpiece("angrily", vocabulary) == [1, 2]
    assert wordpiece("angrilyq", vocabulary) is None
    assert wordpiece("x", vocabulary) == [5]


def test_embeddings_are_the_tables_rows_or_the_mean_of_the_pieces():
    with safe_open(str(package_file(PACKAGE, "model/model.safetensors")), "pt") as f:
        table = f.get_tensor(TABLE)
    words = package_file(PACKAGE, "model/vocab.txt").read_text().splitlines()
    index = {w: k for k, w in enumerate(words)}
    tokens = ["<pad>", "<unk>", "happy", ",", "moviegoers", "qqzxqqzx\u2603"]
    embeddings, found = pretrained_embeddings(tokens)
    assert embeddings.shape == (6, 384) and not embeddings[0].any()
    torch.testing.assert_close(embeddings[2], table[index["happy"]])
    torch.testing.assert_close(embeddings[3], table[index[","]])
    pieces = wordpiece("moviegoers", index)  # movie ##go ##ers
    assert len(pieces) == 3
    torch.testing.assert_close(embeddings[4], table[pieces].mean(0))
    assert found == pytest.approx(3 / 4)  # the snowman word has no pieces


def test_unknown_pretrained_name():
    with pytest.raises(ValueError, match=r"pretrained must be one of \('minilm',\)"):
        pretrained_embeddings(["a"], "glove")
