"""The native loops of the cell zoo on a team of threads against the PyTorch loops: sizes
large enough for the threads to split the batch rows, shares off vector boundaries,
shrinking batches, with zoneout and recurrent-dropout masks."""

from __future__ import annotations

import pytest
import torch

from rnnkit.bptt import backend, native
from rnnkit.cells import (
    ElmanCell,
    GRUCell,
    IndRNNCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    MinGRUCell,
    MinLSTMCell,
    PeepholeLSTMCell,
    SLSTMCell,
)
from rnnkit.layers import Recurrent
from tests.cells.test_zoo import FixedMasks

LENGTHS = [40, 40, 39, 30, 30, 17, 9, 2, 1]
CELLS = {
    "lstm": lambda: LSTMCell(7, 37),
    "gru": lambda: GRUCell(7, 40),
    "elman": lambda: ElmanCell(40, 80),
    "layernorm_lstm": lambda: LayerNormLSTMCell(7, 37),
    "layernorm_gru": lambda: LayerNormGRUCell(7, 40),
    "peephole_lstm": lambda: PeepholeLSTMCell(7, 37),
    "slstm": lambda: SLSTMCell(7, 36, heads=4),
    "indrnn": lambda: IndRNNCell(7, 250),
    "mingru": lambda: MinGRUCell(7, 250),
    "minlstm": lambda: MinLSTMCell(7, 250),
}


@pytest.mark.skipif(not native.available(), reason="native engine unavailable")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("regularised", [False, True], ids=["plain", "masks"])
@pytest.mark.parametrize("name", CELLS)
def test_native_zoo_loops_on_a_team_match_the_torch_loops(name, regularised, threads):
    torch.manual_seed(0)
    cell = CELLS[name]().double()
    batch, steps, H = len(LENGTHS), LENGTHS[0], cell.hidden_size
    layer = Recurrent(cell)
    if regularised:
        zoneout = torch.bernoulli(torch.full((steps, batch, H), 0.3, dtype=torch.float64))
        mask = None
        if cell.has_recurrent_weights:
            mask = torch.bernoulli(torch.full((batch, H), 0.7, dtype=torch.float64)) / 0.7
        layer.regularisers = FixedMasks(zoneout=0.3).use(zoneout, mask)
    x = torch.randn(steps, batch, cell.input_size, dtype=torch.float64, requires_grad=True)
    before, results = torch.get_num_threads(), []
    try:
        torch.set_num_threads(threads)
        for engine in backend.BACKENDS:
            with backend.use_backend(engine):
                y, state = layer(x, lengths=LENGTHS)
                loss = (y * torch.arange(y.numel()).view_as(y).cos()).sum() + state.h.square().sum()
                results.append((y, *state, *torch.autograd.grad(loss, [x, *layer.parameters()])))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
