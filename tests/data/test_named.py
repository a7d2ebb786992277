"""The named data sets load offline from their packages, split the same way for the same
seed, and never share an example (or a play) between splits."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data import load_data
from rnnkit.data.named import (
    load_hutto, load_japanese_vowels, load_mr, load_shakespeare, play_text, read_ts,
)


def test_mr_has_the_scored_sentences_split_80_10_10():
    data = load_mr(seed=0)
    sizes = len(data.train), len(data.valid), len(data.test)
    assert sum(sizes) == 10566  # 10,605 less 37 scored exactly 0 and 2 repeated
    assert sizes[1] == sizes[2] == round(10566 * 0.1)
    labels = [y for _, y in data.train + data.valid + data.test]
    assert 0.45 < np.mean(labels) < 0.55 and data.classes == ["negative", "positive"]
    assert all(text and not text.startswith(" ") for text, _ in data.test)
    texts = [{t for t, _ in part} for part in (data.train, data.valid, data.test)]
    assert not (texts[0] & texts[2]) and not (texts[1] & texts[2])


def test_hutto_adds_reviews_tweets_and_editorials_to_mr():
    data, mr = load_hutto(seed=0), load_mr(seed=0)
    texts = [{t for t, _ in part} for part in (data.train, data.valid, data.test)]
    everything = set().union(*texts)
    # 10,568 + 3,610 + 4,196 + 4,946 rated other than 0, less 74 repeated texts
    assert len(everything) == sum(len(t) for t in texts) == 23246
    assert {t for t, _ in mr.train + mr.valid + mr.test} < everything
    assert "Yay. Another good phone interview." in everything  # a tweet rated +1.44
    assert not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    assert data.name == "hutto" and data.classes == ["negative", "positive"]


def test_splits_repeat_for_a_seed_and_change_with_it():
    first, again, other = load_mr(seed=3), load_mr(seed=3), load_mr(seed=4)
    assert first.test == again.test
    assert first.test != other.test


def test_shakespeare_is_split_by_play():
    data = load_shakespeare(seed=0)
    plays = [set(data.documents[k]) for k in ("train", "valid", "test")]
    assert [len(p) for p in plays] == [34, 2, 2]
    assert not (plays[0] & plays[1]) and not (plays[0] & plays[2]) and not (plays[1] & plays[2])
    assert len(data.train) > 4_000_000 and len(data.test) > 100_000
    assert "**" not in data.train and "\nROMEO:\n" in data.train + data.valid + data.test


def test_play_text_keeps_speeches_and_drops_the_markup():
    markdown = (
        "# A Play\n\n## ACT I\n\n_Enter ROMEO and\nJULIET_\n\n"
        "**ROMEO**  \nBut soft, what light  \nthrough yonder window breaks?\n\n"
        "**JULIET**  \nAy me.\n"
    )
    assert play_text(markdown) == (
        "ROMEO:\nBut soft, what light\nthrough yonder window breaks?\n\nJULIET:\nAy me.\n"
    )


def test_japanese_vowels_keeps_the_official_split():
    data = load_japanese_vowels(seed=0)
    assert len(data.train) + len(data.valid) == 270 and len(data.test) == 370
    assert data.classes == [str(k) for k in range(1, 10)] and data.channels == 12
    lengths = [x.shape[0] for x, _ in data.train + data.valid + data.test]
    assert min(lengths) == 7 and max(lengths) == 29
    assert all(x.dtype == np.float32 for x, _ in data.test)


def test_read_ts_reads_channels_and_labels(tmp_path):
    path = tmp_path / "tiny.ts"
    path.write_text("# comment\n@problemName Tiny\n@data\n1,2,3:4,5,6:b\n7:8:a\n")
    sequences, labels = read_ts(path)
    assert labels == ["b", "a"]
    np.testing.assert_array_equal(sequences[0], [[1, 4], [2, 5], [3, 6]])
    assert sequences[1].shape == (1, 2)


@pytest.mark.parametrize(
    ("source", "task", "message"),
    [
        ("imdb", "sentiment", "data must be one of"),
        ("mr", "charlm", "not for charlm: use \\['shakespeare'\\]"),
        ("reviews.json", "sentiment", r"a file ending in \.csv, \.tsv, \.tab"),
        ("mr", "translate", "task must be one of"),
    ],
)
def test_bad_sources_name_what_is_allowed(source, task, message):
    with pytest.raises(ValueError, match=message):
        load_data(source, task)
