"""The user's own data files: what they may hold, and a one-line error for what they may not."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data import load_data
from rnnkit.data.files import (
    read_corpus,
    read_labelled_text,
    read_sequences_long_csv,
    read_sequences_npz,
)


def test_labelled_text_from_csv_and_tsv_with_any_classes(tmp_path):
    csv_path = tmp_path / "reviews.csv"
    csv_path.write_text('review,stars\n"Great, really",5\nDull,1\nFine,3\n')
    texts, labels, skipped = read_labelled_text(csv_path, "review", "stars")
    assert texts == ["Great, really", "Dull", "Fine"] and labels == ["5", "1", "3"]
    assert skipped == []
    tsv_path = tmp_path / "reviews.tsv"
    tsv_path.write_text("text\tlabel\na, b\tpos\nc\tneg\n")
    assert read_labelled_text(tsv_path) == (["a, b", "c"], ["pos", "neg"], [])


def test_labelled_text_classes_and_split(tmp_path):
    path = tmp_path / "r.csv"
    rows = [f"text {k},{k % 3 * 5}" for k in range(30)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    data = load_data(str(path), "sentiment", seed=1)
    assert data.classes == ["0", "5", "10"]  # numeric labels in numeric order
    assert (len(data.train), len(data.valid), len(data.test)) == (24, 3, 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,score\na,1\nb,0\n", r"no column 'label'; its columns are \['text', 'score'\]"),
        ("text,label\na,1\nb,\n", "line 3: the label .* is empty"),
        ("text,label\na,1\n,0\n", "line 3: the text .* is empty"),
        ("text,label\n", "no rows under a header"),
    ],
)
def test_bad_labelled_text_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        read_labelled_text(path)
    assert "\n" not in str(error.value)


def test_a_single_class_is_named(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("text,label\na,1\nb,1\n")
    with pytest.raises(ValueError, match=r"has a single class \('1'\): a classifier needs two"):
        load_data(str(path), "sentiment")


def test_bad_rows_skipped_are_listed_by_line_and_rare_classes_dropped(tmp_path):
    path = tmp_path / "tweets.csv"
    rows = [f"text {k},{('pos', 'neg')[k % 2]}" for k in range(20)]
    rows[3], rows[7] = ",neg", "text 7,"  # lines 5 and 9: empty text, empty label
    rows += ["stray one,label", "stray two,label", "a typo,pos."]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"line 5: the text .* is empty \(--bad-rows skip"):
        load_data(str(path), "sentiment")
    dropped = r"dropped 2 classes .* \(3 rows\): 'label' \(2\), 'pos\.' \(1\)$"
    with pytest.warns(UserWarning, match=dropped):
        data = load_data(str(path), "sentiment", bad_rows="skip", min_class_count=3)
    assert data.skipped_rows == [(5, "the text ('text') is empty"),
                                 (9, "the label ('label') is empty")]  # fmt: skip
    assert data.dropped_classes == {"label": 2, "pos.": 1} and data.classes == ["neg", "pos"]
    assert len(data.train) + len(data.valid) + len(data.test) == 18
    no_class = pytest.raises(ValueError, match="has no class with 30 or more examples")
    with no_class, pytest.warns(UserWarning, match="dropped 4 classes"):
        load_data(str(path), "sentiment", bad_rows="skip", min_class_count=30)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_labelled_text(tmp_path / "nope.csv")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 text .* at byte 3"):
        read_corpus(latin)
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n")
    with pytest.raises(ValueError, match="is empty"):
        read_corpus(empty)


def test_corpus_is_split_by_position(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("abcdefghij" * 10)
    data = load_data(str(path), "charlm")
    assert data.train + data.valid + data.test == "abcdefghij" * 10
    assert (len(data.train), len(data.valid), len(data.test)) == (80, 10, 10)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_sequences_are_cut_to_their_lengths(tmp_path):
    X = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2)
    path = _npz(tmp_path / "s.npz", X=X, lengths=np.array([3, 1]), y=np.array(["up", "down"]))
    sequences, labels = read_sequences_npz(path)
    assert labels == ["up", "down"]
    np.testing.assert_array_equal(sequences[0], X[0])
    assert sequences[1].shape == (1, 2) and sequences[1].dtype == np.float32


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.zeros((2, 3, 1)), "lengths": np.array([3, 0]), "y": np.array([0, 1])},
         "sequence 1 has length 0"),
        ({"X": np.zeros((2, 3, 1)), "lengths": np.array([3, 4]), "y": np.array([0, 1])},
         r"lengths must be in \[1, T=3\]"),
        ({"X": np.zeros((2, 3, 1)), "y": np.array([0, 1])}, "no array lengths"),
        ({"X": np.zeros((2, 3, 1)), "lengths": np.array([3, 3]), "y": np.array([1, 1])},
         "a single class"),
        ({"X": np.zeros((2, 3, 1)), "lengths": np.array([3, 3]),
          "y": np.array([{"a": 1}, 2], dtype=object)}, "labels as integers or fixed-width strings"),
    ],
)  # fmt: skip
def test_bad_npz_is_a_one_line_error(tmp_path, arrays, message):
    path = _npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        read_sequences_npz(path)


def test_long_csv_orders_each_sequence_by_time(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("id,t,a,b,y\ns1,2,20,21,x\ns1,1,10,11,x\ns2,1,5,6,z\n")
    sequences, labels = read_sequences_long_csv(path, "id", "t", "y")
    assert labels == ["x", "z"]
    np.testing.assert_array_equal(sequences[0], [[10, 11], [20, 21]])
    path.write_text("id,t,a,y\ns1,1,1,x\ns1,2,2,z\ns2,1,1,z\n")
    with pytest.raises(ValueError, match="line 3: sequence 's1' changes label"):
        read_sequences_long_csv(path, "id", "t", "y")
