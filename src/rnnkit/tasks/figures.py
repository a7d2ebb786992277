"""Figures of the command line: matplotlib without a display, saved atomically as PNG."""

from __future__ import annotations

import io
from pathlib import Path

from rnnkit.train.files import write_atomic


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_png(figure, path: Path) -> None:
    """Lay out, render and close ``figure``; ``path`` is replaced only once it is whole."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    write_atomic(path, lambda f: f.write(buffer.getvalue()))
