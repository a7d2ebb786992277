"""A run that takes no optimiser step is an error (NoTrainingStep, a ValueError), not a
result: it writes no final checkpoint, and the run directory takes a fresh run after it."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnkit.train import NonFiniteTraining, NoTrainingStep, TrainConfig, Trainer, shuffled_batches


def data(rows: int = 24):
    x = torch.randn(rows, 4)
    return x, x.sum(1, keepdim=True)


def mse(model, batch):
    x, target = batch
    return torch.nn.functional.mse_loss(model(x), target)


def always_nan(model, batch):
    return mse(model, batch) * math.nan


def steps_logged(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def test_all_batches_skipped_is_an_error_and_saves_no_checkpoint(tmp_path):
    config = TrainConfig(epochs=2, quiet=True, checkpoint_every=1)  # 8 batches < max_bad_steps
    trainer = Trainer(torch.nn.Linear(4, 1), always_nan, shuffled_batches(data(), 6), config,
                      tmp_path)  # fmt: skip
    with pytest.raises(ValueError) as error:
        trainer.fit()
    assert isinstance(error.value, NoTrainingStep)
    assert str(error.value) == (
        "no optimiser step was taken: all 8 batches were skipped because their loss or "
        "gradients were not finite; check the data for NaN or infinity"
    )
    assert not list(tmp_path.glob("ckpt-*.pt"))
    assert steps_logged(tmp_path) == [0] * 8  # the skipped batches are still logged


def test_too_many_in_a_row_before_any_step_is_the_same_value_error(tmp_path):
    config = TrainConfig(epochs=5, max_bad_steps=3, quiet=True)
    trainer = Trainer(torch.nn.Linear(4, 1), always_nan, shuffled_batches(data(), 6), config,
                      tmp_path)  # fmt: skip
    with pytest.raises(NoTrainingStep, match="3 non-finite losses .* in a row from the first"):
        trainer.fit()
    with pytest.raises(NonFiniteTraining):  # still what it was, for callers that catch that
        trainer.fit()
    assert not list(tmp_path.glob("ckpt-*.pt"))


def test_no_batch_at_all_is_named(tmp_path):
    trainer = Trainer(torch.nn.Linear(4, 1), mse, lambda epoch: [], TrainConfig(quiet=True),
                      tmp_path)  # fmt: skip
    with pytest.raises(NoTrainingStep, match="no optimiser step was taken: there was no batch"):
        trainer.fit()


def test_after_a_failed_run_a_resumed_one_starts_afresh_and_logs_as_one(tmp_path):
    config = TrainConfig(epochs=1, quiet=True)
    failed = Trainer(torch.nn.Linear(4, 1), always_nan, shuffled_batches(data(), 6), config,
                     tmp_path)  # fmt: skip
    with pytest.raises(NoTrainingStep):
        failed.fit()
    result = Trainer(torch.nn.Linear(4, 1), mse, shuffled_batches(data(), 6), config,
                     tmp_path).fit(resume=True)  # fmt: skip
    assert result.steps == 4 and steps_logged(tmp_path) == [1, 2, 3, 4]
    assert [p.name for p in tmp_path.glob("ckpt-*.pt")] == ["ckpt-000000004.pt"]


def test_a_normal_run_and_a_resume_that_adds_no_step_are_unchanged(tmp_path):
    batches = shuffled_batches(data(), 6)
    config = TrainConfig(epochs=1, quiet=True)
    result = Trainer(torch.nn.Linear(4, 1), mse, batches, config, tmp_path).fit()
    assert (result.steps, result.epochs, result.stopped) == (4, 1, "epochs")
    # Resumed with nothing left to do, or with every new batch skipped: the earlier steps count.
    again = Trainer(torch.nn.Linear(4, 1), mse, batches, config, tmp_path).fit(resume=True)
    assert again.steps == 4
    more = TrainConfig(epochs=2, quiet=True)
    nan = Trainer(torch.nn.Linear(4, 1), always_nan, batches, more, tmp_path).fit(resume=True)
    assert nan.steps == 4 and nan.epochs == 2
