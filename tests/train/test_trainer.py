"""The training loop: non-finite steps skipped and logged, stopping rules, bad configuration."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnkit.train import NonFiniteTraining, TrainConfig, Trainer, shuffled_batches


def data(rows: int = 24):
    x = torch.randn(rows, 4)
    return x, x.sum(1, keepdim=True)


def mse(model, batch):
    x, target = batch
    return torch.nn.functional.mse_loss(model(x), target)


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_training_lowers_the_loss_and_logs_every_step(tmp_path):
    model = torch.nn.Linear(4, 1)
    config = TrainConfig(epochs=20, lr=0.05, quiet=True)
    result = Trainer(model, mse, shuffled_batches(data(), 6), config, tmp_path).fit()
    steps = [r for r in records(tmp_path) if "loss" in r]
    assert result.steps == len(steps) == 80 and result.stopped == "epochs"
    assert steps[-1]["loss"] < steps[0]["loss"] / 10
    assert all(r["grad_norm"] > 0 and not r["skipped"] for r in steps)


def test_a_non_finite_loss_skips_the_step_and_is_logged(tmp_path):
    model = torch.nn.Linear(4, 1)
    calls = []

    def sometimes_nan(model, batch):
        calls.append(1)
        loss = mse(model, batch)
        return loss * math.nan if len(calls) == 2 else loss

    config = TrainConfig(epochs=1, quiet=True)
    result = Trainer(model, sometimes_nan, shuffled_batches(data(), 6), config, tmp_path).fit()
    logged = records(tmp_path)
    assert [r["skipped"] for r in logged] == [False, True, False, False]
    assert result.steps == 3  # the skipped batch took no optimiser step
    assert logged[1]["step"] == logged[0]["step"] == 1


def test_too_many_non_finite_steps_in_a_row_stop_the_run(tmp_path):
    model = torch.nn.Linear(4, 1)
    config = TrainConfig(epochs=5, max_bad_steps=3, checkpoint_every=1, quiet=True)
    always_inf = lambda model, batch: mse(model, batch) * math.inf  # noqa: E731
    with pytest.raises(NonFiniteTraining, match="3 non-finite losses or gradients in a row"):
        Trainer(model, always_inf, shuffled_batches(data(), 6), config, tmp_path).fit()
    assert not list(tmp_path.glob("ckpt-*.pt"))  # nothing was saved from a non-finite step
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_early_stopping_on_a_validation_metric(tmp_path):
    model = torch.nn.Linear(4, 1)
    metrics = iter([3.0, 2.0, 2.5, 2.1, 2.2, 1.0])
    config = TrainConfig(epochs=6, patience=3, quiet=True)
    result = Trainer(model, mse, shuffled_batches(data(), 6), config, tmp_path,
                     validate=lambda model: next(metrics)).fit()  # fmt: skip
    assert result.stopped == "early stopping" and result.epochs == 5 and result.best_metric == 2.0


def test_the_same_batches_for_the_same_epoch_and_a_new_order_for_the_next():
    batches = shuffled_batches(data(10), 4, seed=3)
    first, again, second = batches(0), batches(0), batches(1)
    assert [len(b[0]) for b in first] == [4, 4, 2]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0][0], second[0][0])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"optimizer": "adam"}, "optimizer must be one of"),
        ({"lr": 0}, "lr must be positive"),
        ({"clip_norm": -1.0}, "clip_norm must be positive or None"),
        ({"warmup_steps": -1}, "warmup_steps must be >= 0"),
        ({"keep_checkpoints": 0}, "keep_checkpoints must be positive"),
        ({"epochs": 0}, "epochs must be positive or None"),
        ({"epochs": None}, r"epochs=None .* needs a time_budget"),
    ],
)
def test_bad_configuration_names_the_setting(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change)


def test_a_time_budget_stops_the_run(tmp_path):
    model = torch.nn.Linear(4, 1)
    config = TrainConfig(epochs=1000, time_budget=0.3, quiet=True)
    result = Trainer(model, mse, shuffled_batches(data(), 6), config, tmp_path).fit()
    assert result.stopped == "time budget" and 0 < result.epochs < 1000


def test_without_an_epoch_count_the_run_lasts_its_budget(tmp_path):
    config = TrainConfig(epochs=None, time_budget=0.3, schedule="cosine", quiet=True)
    result = Trainer(torch.nn.Linear(4, 1), mse, shuffled_batches(data(), 6), config,
                     tmp_path).fit()  # fmt: skip
    assert result.stopped == "time budget" and result.epochs > 1
    epochs = {r["epoch"] for r in records(tmp_path) if "loss" in r}
    assert len(epochs) > 1


def test_without_an_epoch_count_an_empty_epoch_ends_the_run(tmp_path):
    from rnnkit.train import NoTrainingStep

    config = TrainConfig(epochs=None, time_budget=3600, quiet=True)
    with pytest.raises(NoTrainingStep, match="there was no batch"):
        Trainer(torch.nn.Linear(4, 1), mse, lambda epoch: [], config, tmp_path).fit()


def test_tensorboard_event_files_are_written(tmp_path):
    model = torch.nn.Linear(4, 1)
    Trainer(
        model, mse, shuffled_batches(data(), 6), TrainConfig(epochs=1, quiet=True), tmp_path
    ).fit()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_warm_up_then_cosine_decay():
    from rnnkit.train.schedule import lr_factor

    factor = lr_factor("cosine", warmup=4, total=14)
    assert [factor(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert factor(9) == pytest.approx(0.5) and factor(14) == pytest.approx(0.0)
    assert lr_factor("constant", warmup=0, total=None)(100) == 1.0
    with pytest.raises(ValueError, match="needs the number of steps"):
        lr_factor("cosine", warmup=0, total=None)


def test_cosine_ends_at_the_time_budget_when_that_comes_first():
    from rnnkit.train.schedule import lr_factor

    used = [0.0]
    factor = lr_factor("cosine", warmup=0, total=100, elapsed=lambda: used[0])
    assert factor(50) == pytest.approx(0.5)  # half the steps, no time used: the steps lead
    used[0] = 0.5
    assert factor(10) == pytest.approx(0.5)  # half the budget gone after 10 of 100 steps
    used[0] = 1.2
    assert factor(20) == 0.0
    no_length = lr_factor("cosine", warmup=2, total=None, elapsed=lambda: used[0])
    assert no_length(0) == 0.5 and no_length(30) == 0.0


def test_a_time_budgeted_cosine_run_ends_on_a_small_rate(tmp_path):
    config = TrainConfig(epochs=10**6, time_budget=0.3, schedule="cosine", lr=0.1, quiet=True,
                         checkpoint_every=10**9)  # fmt: skip
    trainer = Trainer(torch.nn.Linear(4, 1), mse, shuffled_batches(data(), 6), config, tmp_path)
    result = trainer.fit()
    assert result.stopped == "time budget"
    # 10**6 epochs were asked for, so by steps the rate would have barely moved.
    assert trainer.scheduler.get_last_lr()[0] < 0.01


def test_a_loss_that_is_not_a_scalar_is_named(tmp_path):
    per_row = lambda model, batch: (model(batch[0]) - batch[1]).square()  # noqa: E731
    trainer = Trainer(torch.nn.Linear(4, 1), per_row, shuffled_batches(data(), 6),
                      TrainConfig(epochs=1, quiet=True), tmp_path)  # fmt: skip
    with pytest.raises(TypeError, match=r"loss must return a scalar tensor .*got \(6, 1\)"):
        trainer.fit()


def test_carry_state_needs_the_state_back(tmp_path):
    trainer = Trainer(torch.nn.Linear(4, 1), lambda model, batch, state: mse(model, batch),
                      shuffled_batches(data(), 6), TrainConfig(epochs=1, quiet=True), tmp_path,
                      carry_state=True)  # fmt: skip
    with pytest.raises(TypeError, match=r"must return \(loss, state\)"):
        trainer.fit()
