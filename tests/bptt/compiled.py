"""A check the engine's op tests share: a module compiled with fullgraph and dynamic
shapes trains like the eager one, with one graph for every batch and time."""

from __future__ import annotations

import torch
from torch.nn import Module


def assert_trains_like_eager(
    compiled: Module, module: Module, features: int, grad_atol: float = 1e-5
) -> None:
    """Forward and dL/dx of ``compiled`` against ``module`` at three (B, T), batch first;
    a recompile after the first call is an error."""
    try:
        for i, steps in enumerate((4, 9, 13)):
            if i == 1:
                torch.compiler.set_stance("fail_on_recompile")
            x = torch.randn(3 + i, steps, features, requires_grad=True)
            y, _ = compiled(x)
            y.square().sum().backward()
            grad = x.grad.clone()
            x.grad = None
            y_eager, _ = module(x)
            y_eager.square().sum().backward()
            torch.testing.assert_close(y, y_eager, atol=1e-5, rtol=0)
            torch.testing.assert_close(grad, x.grad, atol=grad_atol, rtol=0)
    finally:
        torch.compiler.set_stance("default")
