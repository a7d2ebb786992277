"""The README's code runs as written: its Python blocks, in order, in one namespace, with
only the data they leave to the reader defined here. (Blocks fenced ```py need trained
runs; what they show is tested with runs trained on tiny data: tests/test_predict_files.py
and the task tests.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.usefixtures("backend")

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 4
    namespace = {
        "x": torch.randn(4, 12, 8),  # (B, T, I)
        "lengths": torch.tensor([12, 5, 7, 1]),
        "torch_lstm": torch.nn.LSTM(8, 64, num_layers=2, batch_first=True),
        "long_sequence": torch.randn(4, 300, 8),
        "loss_fn": lambda y: y.square().mean(),
    }
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["flow"].records[0].norms.shape == (4,)  # T of x read time-major
