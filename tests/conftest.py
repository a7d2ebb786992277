"""Shared helpers: every test seeds torch itself, so each one is deterministic alone."""

from __future__ import annotations

import pytest
import torch


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
