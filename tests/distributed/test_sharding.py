"""Each rank's share of a batch and the weight of its loss (rnnkit.train.sharding), and the
world of one process (rnnkit.train.world), without starting any process."""

from __future__ import annotations

import pytest
import torch

from rnnkit.train import SequenceChunk
from rnnkit.train.sharding import share_batch
from rnnkit.train.world import World


@pytest.mark.parametrize("rows", [1, 2, 5, 7, 64])
@pytest.mark.parametrize("size", [2, 3, 8])
def test_the_shares_are_disjoint_contiguous_and_cover_every_row(rows, size):
    shares = [World(rank, size).share(rows) for rank in range(size)]
    covered = [row for part in shares for row in range(rows)[part]]
    assert covered == list(range(rows))


def test_a_rank_takes_its_rows_of_every_tensor_and_the_rest_whole():
    x, lengths, y = torch.arange(10.0).view(5, 2), torch.tensor([2, 1, 2, 2, 1]), torch.arange(5)
    (mine, mine_lengths, mine_y, flag), weight = share_batch((x, lengths, y, 0.5), World(1, 2))
    assert torch.equal(mine, x[2:]) and torch.equal(mine_lengths, lengths[2:])
    assert torch.equal(mine_y, y[2:]) and flag == 0.5
    assert weight == pytest.approx(3 / 5)


def test_dicts_and_named_tuples_keep_their_kind():
    chunk = SequenceChunk((torch.ones(4, 3),), torch.ones(4, 3, dtype=torch.bool), torch.zeros(4))
    mine, _ = share_batch({"chunk": chunk, "scale": torch.tensor(2.0)}, World(0, 2))
    assert isinstance(mine["chunk"], SequenceChunk)
    assert mine["chunk"].valid.shape == (2, 3) and mine["chunk"].fresh.shape == (2,)
    assert mine["scale"].item() == 2.0  # a scalar goes whole to every rank


def test_weights_count_what_the_loss_averages_over():
    tokens = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]])  # 0: padding
    count = lambda batch: float((batch != 0).sum())  # noqa: E731
    weights = [share_batch(tokens, World(rank, 2), count)[1] for rank in range(2)]
    assert weights == [pytest.approx(3 / 6), pytest.approx(3 / 6)]
    rows = [share_batch(tokens, World(rank, 2))[1] for rank in range(2)]
    assert rows == [pytest.approx(1 / 3), pytest.approx(2 / 3)]


def test_an_empty_share_borrows_a_row_with_weight_zero():
    batch = (torch.tensor([[3.0]]), torch.tensor([1]))
    (x, y), weight = share_batch(batch, World(0, 2))
    assert weight == 0.0 and x.shape == (1, 1) and y.tolist() == [1]
    assert share_batch(batch, World(1, 2))[1] == 1.0


def test_a_batch_without_a_batch_dimension_is_refused_by_name():
    with pytest.raises(ValueError, match="batch dimension"):
        share_batch((1.0, "text"), World(0, 2))


def test_one_process_is_its_own_world():
    alone = World()
    assert share_batch("anything", alone) == ("anything", 1.0)
    assert alone.sum(torch.tensor([1.5, 2.0])).tolist() == [1.5, 2.0]
    assert alone.any(True) and not alone.any(False)
    assert alone.mean(4, lambda part: (10.0, 4.0)) == 2.5
    state = torch.ones(2, 3, 4)
    assert alone.gather_rows(state, 3, 1) is state
