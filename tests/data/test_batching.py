"""Padding and length bucketing."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data import bucket_batches, pad


def test_pad_returns_lengths_and_rejects_empty_sequences():
    padded, lengths = pad([torch.tensor([1, 2, 3]), torch.tensor([4])])
    assert padded.tolist() == [[1, 2, 3], [4, 0, 0]] and lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        pad([torch.tensor([1]), torch.tensor([], dtype=torch.int64)])


def test_buckets_cover_every_index_once_and_repeat_per_epoch():
    lengths = [
        int(n) for n in torch.randint(1, 100, (1000,), generator=torch.Generator().manual_seed(0))
    ]
    batches = bucket_batches(lengths, 32, seed=0, epoch=0, pool=10)
    assert sorted(k for b in batches for k in b) == list(range(1000))
    assert batches == bucket_batches(lengths, 32, seed=0, epoch=0, pool=10)
    assert batches != bucket_batches(lengths, 32, seed=0, epoch=1, pool=10)

    def padding(batches):
        return sum(
            max(lengths[k] for k in b) * len(b) - sum(lengths[k] for k in b) for b in batches
        )

    unsorted = [list(range(k, min(k + 32, 1000))) for k in range(0, 1000, 32)]
    assert padding(batches) < padding(unsorted) / 5
