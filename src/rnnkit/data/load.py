"""One entry point for every task's data: a named data set or the user's own file.

    load_data("mr", "sentiment")                          # named, split with the seed
    load_data("reviews.csv", "sentiment", text_column="review", label_column="stars")
    load_data("tweets.csv", "sentiment", bad_rows="skip", min_class_count=20)
    load_data("corpus.txt", "charlm")
    load_data("sequences.npz", "seqclass")
    load_data("steps.csv", "seqclass", id_column="id", time_column="t", label_column="y")

A user's file is split 80/10/10 at random with the seed (a corpus: by position, its last
tenth the test text, the tenth before it the validation text). A labelled file's bad
rows are an error, or with ``bad_rows="skip"`` left out; its classes with fewer than
``min_class_count`` examples are dropped with a warning. Both are listed in the data set's
``skipped_rows`` and ``dropped_classes``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

from rnnkit.data import files
from rnnkit.data.examples import Corpus, LabelledSequences, LabelledTexts
from rnnkit.data.named import NAMED, load_named
from rnnkit.data.splits import split_three

#: What each task reads: its named data sets, and the file suffixes it accepts.
TASKS = {
    "sentiment": (["mr", "hutto"], (".csv", ".tsv", ".tab")),
    "charlm": (["shakespeare"], (".txt",)),
    "seqclass": (["japanese-vowels"], (".npz", ".csv")),
}


def load_data(source: str, task: str, seed: int = 0, bad_rows: str = "error",
              min_class_count: int = 1, **columns: str):  # fmt: skip
    """-> ``LabelledTexts`` (sentiment), ``Corpus`` (charlm) or ``LabelledSequences``
    (seqclass)."""
    if min_class_count < 1:
        raise ValueError(f"min_class_count must be at least 1, got {min_class_count}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    named, suffixes = TASKS[task]
    if source in NAMED:
        if source not in named:
            raise ValueError(f"data set {source!r} is not for {task}: use {named} or a file")
        return load_named(source, seed)
    path = Path(source)
    if path.suffix.lower() not in suffixes:
        raise ValueError(
            f"data must be one of {sorted(NAMED)} or a file ending in {', '.join(suffixes)} "
            f"for {task}, got {source!r}"
        )
    if task == "charlm":
        text = files.read_corpus(path)
        a, b = int(len(text) * 0.8), int(len(text) * 0.9)
        return Corpus(text[:a], text[a:b], text[b:], name=path.stem)
    if task == "sentiment":
        texts, labels, skipped = files.read_labelled_text(
            path, **_pick(columns, "text_column", "label_column"), bad_rows=bad_rows
        )
        data = _labelled(LabelledTexts, path, texts, labels, seed, min_class_count)
        data.skipped_rows = skipped
        return data
    if path.suffix.lower() == ".npz":
        sequences, labels = files.read_sequences_npz(path)
    else:
        picked = _pick(columns, "id_column", "time_column", "label_column", "feature_columns")
        sequences, labels = files.read_sequences_long_csv(path, **picked)
    return _labelled(LabelledSequences, path, sequences, labels, seed, min_class_count)


def _pick(columns: dict, *names: str) -> dict:
    return {k: v for k, v in columns.items() if k in names and v is not None}


def _labelled(kind, path: Path, inputs, labels, seed: int, min_class_count: int):
    """Classes in sorted order (numerically when they all are numbers), those with fewer
    than ``min_class_count`` examples dropped."""
    counts = Counter(labels)
    rare = {c: n for c, n in sorted(counts.items()) if n < min_class_count}
    if rare:
        warnings.warn(f"{path}: dropped {len(rare)} classes with fewer than "
                      f"{min_class_count} examples ({sum(rare.values())} rows): "
                      + ", ".join(f"{c!r} ({n})" for c, n in rare.items()),
                      stacklevel=3)  # fmt: skip
    kept = [c for c in counts if c not in rare]
    if len(kept) < 2:
        after = f" with {min_class_count} or more examples" if rare else ""
        found = f"a single class{after} ({kept[0]!r})" if kept else f"no class{after}"
        raise ValueError(f"{path} has {found}: a classifier needs two or more")
    numeric = all(c.lstrip("-").isdigit() for c in kept)
    classes = sorted(kept, key=int if numeric else str)
    index = {c: k for k, c in enumerate(classes)}
    examples = [(x, index[y]) for x, y in zip(inputs, labels, strict=True) if y in index]
    train, valid, test = split_three(examples, seed)
    return kind(train, valid, test, classes, name=path.stem, dropped_classes=rare)
