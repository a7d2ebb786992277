"""Shared helpers: every test seeds torch itself, so each one is deterministic alone.

Tests that run the engine take the ``backend`` fixture and so run once on the native
loops and once on the PyTorch loops. Where the native engine is not built, its half is
skipped, unless RNNKIT_REQUIRE_NATIVE=1 (as in CI), which makes that an error.
"""

from __future__ import annotations

import os

import pytest
import torch

from rnnkit.bptt import backend as engine_backend
from rnnkit.bptt import native

if os.environ.get("RNNKIT_REQUIRE_NATIVE") == "1" and not native.available():
    raise RuntimeError(
        f"RNNKIT_REQUIRE_NATIVE=1 but the native engine is unavailable: {native.unavailable_reason}"
    )


@pytest.fixture(params=engine_backend.BACKENDS)
def backend(request):
    if request.param == "native" and not native.available():
        pytest.skip(f"native engine unavailable: {native.unavailable_reason}")
    with engine_backend.use_backend(request.param):
        yield request.param


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def weighted_loss(y: torch.Tensor, state: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """A loss that gives every output element and state entry a different gradient, so a
    swapped or dropped term cannot cancel out."""
    ramp = torch.linspace(-1.0, 1.0, y.numel(), dtype=y.dtype, device=y.device).view_as(y)
    return (y * ramp).sum() + sum((s * s).sum() for s in state)


def assert_close(actual, expected, tol: float, what: str = "") -> None:
    torch.testing.assert_close(actual, expected, atol=tol, rtol=tol, msg=lambda m: f"{what}: {m}")
