"""Source-target pairs for sequence-to-sequence tasks: a user's TSV file, ``cmudict``
(grapheme to phoneme) or ``wesnoth-fr`` (English to French).

Examples are grouped by source: one source with several references ("read" -> R IY D and
R EH D) is one example, so that all its references fall into the same split, and a
prediction counts as right when it matches any of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.packages import package_file
from rnnkit.data.splits import split_three
from rnnkit.data.tokenizers import KINDS
from rnnkit.data.wesnoth import catalog_dir, read_catalog_pairs

#: (source, [reference targets]); every target is a non-empty string.
Example = tuple[str, list[str]]


@dataclass
class Pairs:
    """Examples split three ways; ``source_kind`` and ``target_kind`` ("char", "word" or
    "subword") say how texts are cut into tokens (phonemes are words: space-separated)."""

    train: list[Example]
    valid: list[Example]
    test: list[Example]
    source_kind: str
    target_kind: str
    name: str = ""


def group_by_source(pairs: list[tuple[str, str]]) -> list[Example]:
    """Pairs -> examples, in the order sources first appear; repeated pairs kept once."""
    grouped: dict[str, list[str]] = {}
    for source, target in pairs:
        references = grouped.setdefault(source, [])
        if target not in references:
            references.append(target)
    return list(grouped.items())


def read_pairs_tsv(path: Path) -> list[tuple[str, str]]:
    """``source<TAB>target`` per line (blank lines skipped). A line without a tab, or with
    an empty side, is an error that names the file and line."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if "\t" not in line:
                raise ValueError(f"{path}, line {number}: expected source<TAB>target, no tab")
            source, target = (side.strip() for side in line.split("\t", 1))
            if not source or not target:
                side = "source" if not source else "target"
                raise ValueError(f"{path}, line {number}: the {side} is empty")
            pairs.append((source, target))
    if not pairs:
        raise ValueError(f"{path} holds no source<TAB>target lines")
    return pairs


# "word(2)" marks a word's second pronunciation; "# ..." ends a line with a comment.
_ALTERNATIVE, _COMMENT = re.compile(r"\(\d+\)$"), re.compile(r"\s*#.*$")


def load_cmudict(seed: int = 0, valid: float = 0.02, test: float = 0.1) -> Pairs:
    """The CMU Pronouncing Dictionary (``cmudict`` 1.1.3): 126k words, spelled in lower-case
    letters (and ' . -), each with one or more ARPAbet pronunciations.

    Stress marks are dropped (AH0, AH1 -> AH), leaving the 39 phonemes most G2P results
    on CMUdict are reported over. Words, not pronunciations, are split: ``test`` of them
    held out, ``valid`` for early stopping and model choice, at random with ``seed``."""
    path = package_file("cmudict", "data/cmudict.dict")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, *phonemes = _COMMENT.sub("", line).split()
            phonemes = [p.rstrip("012") for p in phonemes]
            pairs.append((_ALTERNATIVE.sub("", word), " ".join(phonemes)))
    train, valid_part, test_part = split_three(group_by_source(pairs), seed, valid, test)
    return Pairs(train, valid_part, test_part, "char", "word", name="cmudict")


def load_pairs(source: str, seed: int = 0, source_kind: str = "char",
               target_kind: str = "char") -> Pairs:  # fmt: skip
    """``cmudict``, ``wesnoth-fr`` (English -> French, ``rnnkit.data.wesnoth``) or a TSV
    file; the last two split 80/10/10 by source with ``seed``."""
    if source == "cmudict":
        return load_cmudict(seed)
    for name, kind in (("source_kind", source_kind), ("target_kind", target_kind)):
        if kind not in KINDS:
            raise ValueError(f"{name} must be one of {KINDS}, got {kind!r}")
    if source == "wesnoth-fr":
        pairs, name = read_catalog_pairs(catalog_dir()), source
    else:
        path = Path(source)
        if path.suffix.lower() not in (".tsv", ".tab", ".txt"):
            raise ValueError(
                f"data must be cmudict, wesnoth-fr or a .tsv/.tab/.txt file, got {source!r}"
            )
        if not path.is_file():
            raise ValueError(f"data file {source} does not exist")
        pairs, name = read_pairs_tsv(path), path.stem
    train, valid, test = split_three(group_by_source(pairs), seed)
    return Pairs(train, valid, test, source_kind, target_kind, name=name)
