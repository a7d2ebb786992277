"""Classification, language-model and sequence-to-sequence scores."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def confusion(predicted: Tensor, actual: Tensor, classes: int) -> Tensor:
    """(K, K) counts: row = actual class, column = predicted."""
    return torch.bincount(actual * classes + predicted, minlength=classes * classes).view(
        classes, classes
    )


def classification_report(matrix: Tensor) -> dict[str, float]:
    """Accuracy and macro-averaged F1 from a confusion matrix."""
    matrix = matrix.double()
    true_positive = matrix.diag()
    precision = true_positive / matrix.sum(0).clamp(min=1)
    recall = true_positive / matrix.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return {"accuracy": float(true_positive.sum() / matrix.sum()), "macro_f1": float(f1.mean())}


def bits_per_token(nats: float) -> float:
    return nats / math.log(2)


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions that turn
    ``a`` into ``b`` (one row of the dynamic programme kept at a time)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def sequence_error_rates(
    predictions: Sequence[Sequence], references: Sequence[Sequence[Sequence]]
) -> dict[str, float]:
    """Word error rate (the share of predictions that match none of their references) and
    token error rate (edit distance to the closest reference, summed, over the summed
    lengths of those references): WER and PER for grapheme to phoneme."""
    if len(predictions) != len(references) or not predictions:
        raise ValueError(
            f"need one prediction per reference list, got {len(predictions)} and {len(references)}"
        )
    wrong, edits, length = sequence_errors(predictions, references)
    return {"wer": wrong / len(predictions), "per": edits / max(length, 1)}


def sequence_errors(
    predictions: Sequence[Sequence], references: Sequence[Sequence[Sequence]]
) -> tuple[int, int, int]:
    """-> (predictions matching none of their references, edit distances to the closest
    reference summed, those references' lengths summed): the sums behind WER and PER."""
    wrong = edits = length = 0
    for predicted, options in zip(predictions, references, strict=True):
        distance, closest = min((edit_distance(predicted, r), len(r)) for r in options)
        wrong += distance > 0
        edits += distance
        length += closest
    return wrong, edits, length


def format_confusion(matrix: Tensor, classes: list[str]) -> str:
    width = max(8, *(len(c) for c in classes))
    head = " " * width + " | " + " ".join(f"{c[:width]:>{width}}" for c in classes)
    rows = [
        f"{c[:width]:>{width}} | " + " ".join(f"{int(n):>{width}}" for n in row)
        for c, row in zip(classes, matrix, strict=True)
    ]
    return "\n".join([head, "-" * len(head), *rows])
