"""Keep the weights of the best validation epoch, for early stopping to return to."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


class BestEpoch:
    """A ``validate`` for ``Trainer`` that wraps ``metric(model) -> float`` (lower is better)
    and copies the weights whenever it improves; ``restore`` loads the best copy back.

        best = BestEpoch(lambda model: error_rate(model, valid))
        Trainer(model, loss, batches, config, out, validate=best).fit()
        best.restore(model)    # (the best of this invocation: a resumed run starts afresh)
    """

    def __init__(self, metric: Callable[[torch.nn.Module], float]) -> None:
        self.metric = metric
        self.value = math.inf
        self.state: dict[str, torch.Tensor] | None = None

    def __call__(self, model: torch.nn.Module) -> float:
        value = self.metric(model)
        if value < self.value:
            self.value = value
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return value

    def restore(self, model: torch.nn.Module) -> float | None:
        """Load the best weights into ``model``; -> their metric, or None if none was kept."""
        if self.state is None:
            return None
        model.load_state_dict(self.state)
        return self.value
