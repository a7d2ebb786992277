"""Classification and language-model scores."""

from __future__ import annotations

import math

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


def format_confusion(matrix: Tensor, classes: list[str]) -> str:
    width = max(8, *(len(c) for c in classes))
    head = " " * width + " | " + " ".join(f"{c[:width]:>{width}}" for c in classes)
    rows = [
        f"{c[:width]:>{width}} | " + " ".join(f"{int(n):>{width}}" for n in row)
        for c, row in zip(classes, matrix, strict=True)
    ]
    return "\n".join([head, "-" * len(head), *rows])
