"""The checks the engine's op tests share, each a PyTorch 2 transform of a module against
the module itself: compiled (fullgraph, dynamic shapes) it trains alike with one graph for
every batch and time; exported once it runs at any B and T; vmap(grad) equals a loop."""

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


def assert_exports_for_any_batch_and_time(module: Module, features: int) -> None:
    """Exported once with dynamic B and T, run at (B, T) = (1, 1), (5, 37), (2, 300)."""
    batch, steps = torch.export.Dim("B", min=1, max=64), torch.export.Dim("T", min=1, max=4096)
    exported = torch.export.export(
        module, (torch.randn(3, 16, features),), dynamic_shapes=({0: batch, 1: steps},)
    )
    for batch_size, length in ((1, 1), (5, 37), (2, 300)):
        x = torch.randn(batch_size, length, features)
        torch.testing.assert_close(exported.module()(x)[0], module(x)[0], atol=1e-5, rtol=0)


def assert_per_sample_gradients_match_a_loop(module: Module, features: int) -> None:
    """``vmap(grad)`` over 3 samples equals a loop of backward passes (float64 module)."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    x = torch.randn(3, 7, features, dtype=torch.float64)

    def loss(p, xi):
        y = torch.func.functional_call(module, p, (xi.unsqueeze(0),))[0]
        return y.square().sum()

    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(params, x)
    for i in range(3):
        module.zero_grad()
        module(x[i : i + 1])[0].square().sum().backward()
        for k, p in module.named_parameters():
            torch.testing.assert_close(per_sample[k][i], p.grad, atol=1e-10, rtol=1e-8, msg=k)
