"""BestEpoch keeps the weights of the lowest metric and restores exactly those."""

from __future__ import annotations

import torch

from rnnkit.train import BestEpoch


def test_the_lowest_metric_wins_and_is_restored():
    model = torch.nn.Linear(2, 1)
    metrics = iter([3.0, 1.0, 2.0])
    best = BestEpoch(lambda m: next(metrics))
    assert best.restore(model) is None  # nothing kept yet: the weights stay
    seen = []
    for value in (0.0, 5.0, 9.0):
        with torch.no_grad():
            model.weight.fill_(value)
        seen.append(best(model))
    assert seen == [3.0, 1.0, 2.0]
    assert best.restore(model) == 1.0
    assert torch.equal(model.weight, torch.full((1, 2), 5.0))
