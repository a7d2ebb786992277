"""Shared helpers: every test seeds torch itself, so each one is deterministic alone.

Tests that run the engine take the ``backend`` fixture and so run once on the native
loops and once on the PyTorch loops. Where the native engine is not built, its half is
skipped, unless RNNKIT_REQUIRE_NATIVE=1 (as in CI), which makes that an error.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from rnnkit.bptt import backend as engine_backend
from rnnkit.bptt import native
from rnnkit.cli import main

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


TINY = ["--hidden", "8", "--embedding-dim", "8", "--quiet", "--batch-size", "4"]


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """One tiny run of each task, trained once for the whole suite (the export and server
    tests read them): sentiment, seqclass, charlm, generator, forecast, seq2seq."""
    tmp = tmp_path_factory.mktemp("runs")
    good = ["great fun", "a joy", "wonderful and warm", "truly great", "so much fun"]
    bad = ["dull", "a bore", "awful and cold", "truly awful", "so much noise"]
    reviews = tmp / "reviews.csv"
    reviews.write_text("text,label\n" + "\n".join(
        [f"{t},pos" for t in good * 3] + [f"{t},neg" for t in bad * 3]) + "\n")  # fmt: skip
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 9, 3)).astype(np.float32)
    X[1::2] += 2.0
    np.savez(tmp / "seq.npz", X=X, lengths=rng.integers(3, 10, size=40), y=np.arange(40) % 2)
    (tmp / "corpus.txt").write_text("ROMEO:\nBut soft, what light.\n\nJULIET:\nAy me.\n" * 40)
    t = np.arange(60)
    sales = 20 + 0.2 * t + 3 * np.sin(2 * np.pi * t / 12)
    rows = (f"{2000 + k // 12}-{k % 12 + 1:02d},{sales[k]:.3f},{k % 5}\n" for k in range(60))
    (tmp / "shop.csv").write_text("date,sales,price\n" + "".join(rows))
    words = sorted({"".join(rng.choice(list("abcd"), size=rng.integers(2, 6))) for _ in range(300)})
    (tmp / "copy.tsv").write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in words))
    commands = {
        "sentiment": ["sentiment", "--data", reviews, "--epochs", "2", *TINY],
        "seqclass": ["seqclass", "--data", tmp / "seq.npz", "--epochs", "2", "--layers", "2",
                     "--bidirectional", *TINY],
        "charlm": ["charlm", "--data", tmp / "corpus.txt", "--steps", "20", "--epochs", "1",
                   "--validate-chars", "200", *TINY],
        "generator": ["generator", "--data", reviews, "--epochs", "2", "--min-freq", "1", *TINY],
        "forecast": ["forecast", "--data", tmp / "shop.csv", "--target", "sales", "--covariates",
                     "price", "--horizon", "6", "--epochs", "3", "--ensemble", "2", "--hidden",
                     "8", "--quiet"],
        "seq2seq": ["seq2seq", "--data", tmp / "copy.tsv", "--source-tokens", "char",
                    "--target-tokens", "word", "--epochs", "2", "--cell", "gru", *TINY],
    }  # fmt: skip
    for name, argv in commands.items():
        assert main([str(a) for a in ("train", *argv, "--out", tmp / name)]) == 0, name
    return tmp
