"""One entry point for every task's data: a named data set or the user's own file.

    load_data("mr", "sentiment")                          # named, split with the seed
    load_data("reviews.csv", "sentiment", text_column="review", label_column="stars")
    load_data("corpus.txt", "charlm")
    load_data("sequences.npz", "seqclass")
    load_data("steps.csv", "seqclass", id_column="id", time_column="t", label_column="y")

A user's file is split 80/10/10 at random with the seed (a corpus: by position, its last
tenth the test text, the tenth before it the validation text).
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.data import files
from rnnkit.data.examples import Corpus, LabelledSequences, LabelledTexts
from rnnkit.data.named import NAMED, load_named
from rnnkit.data.splits import split_three

#: What each task reads: its named data sets, and the file suffixes it accepts.
TASKS = {
    "sentiment": (["mr"], (".csv", ".tsv", ".tab")),
    "charlm": (["shakespeare"], (".txt",)),
    "seqclass": (["japanese-vowels"], (".npz", ".csv")),
}


def load_data(source: str, task: str, seed: int = 0, **columns: str):
    """-> ``LabelledTexts`` (sentiment), ``Corpus`` (charlm) or ``LabelledSequences``
    (seqclass)."""
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
    name = path.stem
    if task == "charlm":
        text = files.read_corpus(path)
        a, b = int(len(text) * 0.8), int(len(text) * 0.9)
        return Corpus(text[:a], text[a:b], text[b:], name=name)
    if task == "sentiment":
        texts, labels = files.read_labelled_text(
            path, **_pick(columns, "text_column", "label_column")
        )
        return _labelled(LabelledTexts, texts, labels, seed, name)
    if path.suffix.lower() == ".npz":
        sequences, labels = files.read_sequences_npz(path)
    else:
        picked = _pick(columns, "id_column", "time_column", "label_column", "feature_columns")
        sequences, labels = files.read_sequences_long_csv(path, **picked)
    return _labelled(LabelledSequences, sequences, labels, seed, name)


def _pick(columns: dict, *names: str) -> dict:
    return {k: v for k, v in columns.items() if k in names and v is not None}


def _labelled(kind, inputs, labels, seed, name):
    """Classes in sorted order (numerically when they all are numbers)."""
    distinct = set(labels)
    numeric = all(c.lstrip("-").isdigit() for c in distinct)
    classes = sorted(distinct, key=int if numeric else str)
    index = {c: k for k, c in enumerate(classes)}
    examples = [(x, index[y]) for x, y in zip(inputs, labels, strict=True)]
    train, valid, test = split_three(examples, seed)
    return kind(train, valid, test, classes, name=name)
