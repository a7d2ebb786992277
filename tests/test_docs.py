"""The API reference builds strictly: a malformed docstring, a broken link or an unresolved
cross-reference is a warning, and mkdocs.yml's ``strict: true`` makes a warning an error.

mkdocs comes with the ``docs`` extra (``make install``); without it this test fails rather
than skips, so a missing tool cannot pass for a clean build.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_strictly(tmp_path):
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}{build.stderr}"
    expected = {  # page: text it must contain
        "index.html": "API reference",
        "api/rnnkit/index.html": "record_gradient_flow",
        "api/nn/index.html": 'id="rnnkit.nn.LSTM"',
        "api/layers/index.html": 'id="rnnkit.layers.Bidirectional"',
        "api/cells/index.html": 'id="rnnkit.cells.LSTMCell"',
        "api/bptt/index.html": 'id="rnnkit.bptt.explicit_bptt"',
        "api/models/index.html": 'id="rnnkit.models.Seq2Seq"',
        "api/train/index.html": 'id="rnnkit.train.TrainConfig"',
        "api/data/index.html": 'id="rnnkit.data.Tokenizer"',
        "api/tasks/index.html": 'id="rnnkit.tasks.registry.load"',
    }
    for page, text in expected.items():
        path = site / page
        assert path.is_file(), f"{page} was not built"
        assert text in path.read_text(encoding="utf-8"), f"{page} lacks {text!r}"
    assert "output, (h_n, c_n) = lstm(x)" in (site / "api/nn/index.html").read_text()
