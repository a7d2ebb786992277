"""Padded batches in ONNX: ``lengths`` become ONNX's ``sequence_lens`` (plain cells) or a
mask in the Scan (the zoo), in any order and both directions; run in onnxruntime at B in
{1, 3, 32} x T in {1, 17, 256} against the eager modules. One export for all of them."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch
from torch import Tensor
from torch.nn import Module, ModuleList

from rnnkit import nn as rnn

SHAPES = [(b, t) for b in (1, 3, 32) for t in (1, 17, 256)]


class _Padded(Module):
    """A GRU (bidirectional), a 2-layer LSTM and an LSTM with a projection (bidirectional:
    a Scan, as the zoo's cells) on the same padded batch -> each one's y and final h. (Not
    a layer-norm LSTM: at its default initialisation float32 rounding alone grows past 1e-4
    within 256 steps, in every implementation.)"""

    def __init__(self) -> None:
        super().__init__()
        self.rnns = ModuleList([
            rnn.GRU(5, 6, batch_first=True, bidirectional=True),
            rnn.LSTM(5, 6, num_layers=2, batch_first=True),
            rnn.LSTM(5, 6, batch_first=True, proj_size=3, bidirectional=True),
        ])  # fmt: skip

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        outputs = []
        for layer in self.rnns:
            y, state = layer(x, lengths=lengths)
            outputs += [y, state[0] if isinstance(state, tuple) else state]
        return tuple(outputs)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    torch.manual_seed(0)
    module = _Padded().eval()
    path = tmp_path_factory.mktemp("onnx") / "padded.onnx"
    batch, steps = torch.export.Dim("B", min=1, max=64), torch.export.Dim("T", min=1, max=4096)
    example = (torch.randn(3, 16, 5), torch.tensor([16, 5, 9]))
    torch.onnx.export(module, example, path, dynamo=True, verbose=False,
                      dynamic_shapes=({0: batch, 1: steps}, {0: batch}))  # fmt: skip
    return module, ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(("batch", "steps"), SHAPES)
def test_onnxruntime_matches_eager_on_padded_batches(session, batch, steps):
    module, runtime = session
    x = torch.randn(batch, steps, 5)
    lengths = torch.randint(1, steps + 1, (batch,))
    lengths[batch // 2] = steps  # unsorted: the longest in the middle
    names = [i.name for i in runtime.get_inputs()]
    got = runtime.run(None, {names[0]: x.numpy(), names[1]: lengths.numpy()})
    with torch.no_grad():
        expected = module(x, lengths)
    for k, (a, e) in enumerate(zip(got, expected, strict=True)):
        torch.testing.assert_close(torch.from_numpy(a), e, atol=1e-4, rtol=0, msg=f"output {k}")
