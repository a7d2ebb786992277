"""The training loop: optimiser and warm-up, clipping, skipped non-finite steps, progress,
metrics, checkpoints and an exact resume.

    trainer = Trainer(model, loss, batches, TrainConfig(epochs=5), run_dir="runs/lstm")
    result = trainer.fit()               # or fit(resume=True) after an interruption

``loss(model, batch) -> Tensor`` computes one batch's scalar loss; ``batches(epoch)``
returns that epoch's batches, the same ones in the same order every time it is called
with the same epoch (``rnnkit.train.batches`` builds such functions): resuming skips the
batches already done, so a run killed at any point and resumed ends with the same weights
as one never interrupted.

Truncated BPTT over long streams: with ``carry_state=True`` the loss is called as
``loss(model, batch, state) -> (loss, state)``, and the state it returns is handed to the
next batch detached, so gradients stop at the batch boundary while the state flows on
(``stream_batches`` cuts a long stream into such batches). The state starts as None at
each epoch (and after a skipped step), and is saved in checkpoints (as plain tuples).
Over many independent sequences (``sequence_batches``), the lanes where a new sequence
begins restart from a zero state.

Data-parallel: in a process launched by torchrun or ``rnnkit train ... --nproc N`` (after
``rnnkit.train.world.join()``), the model runs under ``DistributedDataParallel`` and each
rank takes its rows of every global batch (``rnnkit.train.sharding``: its lanes, for
truncated BPTT), its loss weighted so that the averaged gradients are the global batch's,
as one process computes them. Every decision is agreed by the ranks (a skipped
non-finite step, the time budget; the validation metric is the same on all when
``validate`` reduces over ranks); rank 0 alone writes metrics and checkpoints, which hold
the whole carried state, so that a run resumes with any number of processes. The loss
must run the model by calling it, ``model(...)``: that call is what DDP synchronises.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from rnnkit.train.batches import SequenceChunk
from rnnkit.train.checkpoint import load_latest, save_checkpoint
from rnnkit.train.metrics import MetricsLog, NoMetrics
from rnnkit.train.rng import rng_state, seed_everything, set_rng_state
from rnnkit.train.schedule import SCHEDULES, lr_factor
from rnnkit.train.sharding import batch_rows, share_batch
from rnnkit.train.world import World, contact, current

OPTIMIZERS = ("adamw", "sgd")


@dataclass
class TrainConfig:
    """How ``Trainer`` trains: optimiser, schedule, clipping, checkpoints, stopping."""

    epochs: int | None = 10  # None: as many as the time budget holds
    time_budget: float | None = None  # seconds for this invocation; None: epochs only
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    warmup_steps: int = 0  # the learning rate rises linearly over these steps, then
    schedule: str = "constant"  # stays, or decays to 0 by the last step or the end of the
    # time budget, whichever comes first ("cosine")
    clip_norm: float | None = 1.0  # global gradient norm; None: measured, not clipped
    clip_value: float | None = None  # each gradient entry into [-v, v]
    max_bad_steps: int = 10  # non-finite losses or gradients in a row before stopping
    checkpoint_every: int = 100  # steps; and always at the end
    keep_checkpoints: int = 3
    patience: int | None = None  # epochs without a better validation metric before stopping
    seed: int = 0
    quiet: bool = False  # no progress bar (there is none either when stderr is not a terminal)
    tensorboard: bool = True  # event files too, when the tensorboard package is installed

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        for name in ("lr", "max_bad_steps", "checkpoint_every", "keep_checkpoints"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.epochs is None and self.time_budget is None:
            raise ValueError("epochs=None (as many as the time budget holds) needs a time_budget")
        for name in ("epochs", "clip_norm", "clip_value", "time_budget", "patience"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")


@dataclass
class TrainResult:
    """What ``Trainer.fit`` returns."""

    steps: int  # optimiser steps taken, over every invocation
    epochs: int  # epochs completed
    stopped: str  # "epochs", "time budget" or "early stopping"
    best_metric: float | None


class NonFiniteTraining(RuntimeError):
    """Too many non-finite losses or gradients in a row."""


class NoTrainingStep(ValueError):
    """``fit`` ended, or stopped, without one optimiser step: the model is as initialised,
    and nothing should be saved as if trained. A ValueError (the CLI's one-line error):
    the usual cause is NaN or infinity in the data."""


class NonFiniteFromTheStart(NonFiniteTraining, NoTrainingStep):
    """Too many non-finite losses or gradients in a row before any step was taken."""


class Trainer:
    def __init__(
        self,
        model: torch.nn.Module,
        loss: Callable[[torch.nn.Module, Any], Tensor],
        batches: Callable[[int], Iterable],
        config: TrainConfig,
        run_dir: str | Path,
        validate: Callable[[torch.nn.Module], float] | None = None,
        on_step: Callable[[int], None] | None = None,
        carry_state: bool = False,
        weight_of: Callable[[Any], float] | None = None,
    ) -> None:
        """``validate(model)`` returns a metric where lower is better (early stopping);
        ``on_step(step)`` runs after every optimiser step (and its checkpoint);
        ``weight_of(batch)`` counts what the loss averages over when that is not the rows
        (the target tokens, for a loss that ignores padding): the ranks' losses are
        weighted by it (``rnnkit.train.sharding``)."""
        self.model, self.loss, self.batches, self.config = model, loss, batches, config
        self.run_dir, self.validate, self.on_step = Path(run_dir), validate, on_step
        self.carry_state, self.weight_of = carry_state, weight_of
        self.world = current()
        self.forward = _Synchronised(model, self.world) if self.world.size > 1 else model
        self.lanes: int | None = None  # the global batch's rows, for the carried state
        self.state: Any = None  # the carried recurrent state (truncated BPTT)
        self.params = [p for p in model.parameters() if p.requires_grad]
        if config.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(
                self.params, lr=config.lr, weight_decay=config.weight_decay
            )
        else:
            self.optimizer = torch.optim.SGD(
                self.params,
                lr=config.lr,
                momentum=config.momentum,
                weight_decay=config.weight_decay,
            )
        per_epoch = batches(0)
        known = config.epochs is not None and isinstance(per_epoch, Sequence)
        total = config.epochs * len(per_epoch) if known else None
        self.started: float | None = None  # time.monotonic() when fit() began
        elapsed = self._budget_used if config.time_budget is not None else None
        factor = lr_factor(config.schedule, config.warmup_steps, total, elapsed)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.step = self.epoch = self.batch_in_epoch = self.bad_in_a_row = 0
        self.batches_run = 0  # by this fit() call, stepped or skipped
        self.best_metric: float | None = None
        self.epochs_without_improvement = 0

    def _seconds(self) -> float:
        """Seconds since this invocation's ``fit`` began (logged with each record)."""
        return round(time.monotonic() - self.started, 3)

    def _budget_used(self) -> float:
        """The share of this invocation's time budget used so far (0 before fit; needs a
        budget)."""
        if self.started is None:
            return 0.0
        return (time.monotonic() - self.started) / self.config.time_budget

    # -- the loop --------------------------------------------------------------------------

    def fit(self, resume: bool = False) -> TrainResult:
        """Train for ``config.epochs`` (or the time budget; with ``epochs=None``, until
        the budget ends or early stopping); with ``resume``, continue from
        the newest readable checkpoint in the run directory, if any (with none, start
        afresh, dropping the metrics of whatever run was there).

        Raises ``NoTrainingStep`` (a ValueError), and writes no final checkpoint, when the
        run has taken no optimiser step at all, this call included."""
        if self.world.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        resumed = resume and self._restore()
        self._check_same_start()
        if not resumed:  # each rank its own stream (dropout); rank 0 as one process's
            seed_everything(self.config.seed + 1_000_003 * self.world.rank)
        self.metrics = (
            MetricsLog(self.run_dir, self.config.tensorboard, self.step if resume else None)
            if self.world.is_main
            else NoMetrics()
        )
        if resume:  # without a checkpoint: from (0, 0), so every old record goes
            self.metrics.forget_after(self.epoch, self.batch_in_epoch)
        self.batches_run = 0
        try:
            self.started = time.monotonic()
            stopped = "epochs"
            while self._epochs_left() and stopped == "epochs":
                ran = self.batches_run
                stopped = self._run_epoch()
                if self.config.epochs is None and self.batches_run == ran:
                    break  # an empty epoch: without an epoch count, the next would be too
                if stopped == "epochs":
                    stopped = self._end_epoch()
            if self.step == 0:
                raise NoTrainingStep(self._why_no_step(resumed))
            self._checkpoint()
        finally:
            self.metrics.close()
        return TrainResult(self.step, self.epoch, stopped, self.best_metric)

    def _epochs_left(self) -> bool:
        return self.config.epochs is None or self.epoch < self.config.epochs

    def _why_no_step(self, resumed: bool) -> str:
        if self.batches_run == 0:
            where = "the resumed run had no batch left" if resumed else "there was no batch"
            return f"no optimiser step was taken: {where} to train on"
        return (
            f"no optimiser step was taken: all {self.batches_run} batches were skipped because "
            "their loss or gradients were not finite; check the data for NaN or infinity"
        )

    def _run_epoch(self) -> str:
        batches = self.batches(self.epoch)
        total = len(batches) if isinstance(batches, Sequence) else None
        remaining = itertools.islice(batches, self.batch_in_epoch, None)
        of = f"/{self.config.epochs}" if self.config.epochs is not None else ""
        bar = tqdm(remaining, total=None if total is None else total - self.batch_in_epoch,
                   desc=f"epoch {self.epoch + 1}{of}", unit="batch",
                   disable=self.config.quiet or not sys.stderr.isatty() or not self.world.is_main,
                   leave=False)  # fmt: skip
        with bar:
            for batch in bar:
                record = self._train_step(batch)
                bar.set_postfix(loss=f"{record['loss']:.4g}", norm=f"{record['grad_norm']:.3g}")
                if self.step % self.config.checkpoint_every == 0 and not record["skipped"]:
                    self._checkpoint()
                if self.on_step is not None:
                    self.on_step(self.step)
                # Agreed: a rank that stopped alone would leave the others waiting.
                if self.config.time_budget is not None and self.world.any(self._budget_used() >= 1):
                    return "time budget"
        return "epochs"

    def _train_step(self, batch: Any) -> dict[str, Any]:
        self.model.train()
        self.lanes = batch_rows(batch)
        if self.carry_state and self.world.size > 1 and (self.lanes or 0) < self.world.size:
            raise ValueError(
                f"truncated BPTT shares the batch's {self.lanes} lanes among the processes: "
                f"the batch size must be at least the number of processes, {self.world.size}"
            )
        batch, weight = share_batch(batch, self.world, self.weight_of)
        if self.carry_state:
            if isinstance(batch, SequenceChunk):
                self.state = _restart_lanes(self.state, batch.fresh)
            returned = self.loss(self.forward, batch, self.state)
            if not (isinstance(returned, tuple) and len(returned) == 2):
                raise TypeError(
                    "with carry_state=True, loss(model, batch, state) must return (loss, state)"
                )
            loss, state = returned
        else:
            loss, state = self.loss(self.forward, batch), None
        if not (isinstance(loss, Tensor) and loss.numel() == 1):
            got = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise TypeError(f"loss must return a scalar tensor (the batch's loss), got {got}")
        norm = math.nan
        # The global batch's loss, and whether every rank's is finite, agreed before the
        # backward pass: all ranks take it (its gradients are all-reduced) or none does.
        local = float(loss.detach())
        ok = math.isfinite(local)
        agreed = self.world.sum(torch.tensor([local * weight if ok else 0.0, float(not ok)],
                                             dtype=torch.float64))  # fmt: skip
        finite = bool(agreed[1] == 0)
        # Logged: the global batch's loss; when skipped, this rank's own non-finite loss
        # (NaN on a rank whose loss was finite while another's was not).
        logged = float(agreed[0]) if finite else (math.nan if ok else local)
        if finite:
            # DDP averages the ranks' gradients: N * w_r * L_r averages to sum_r w_r L_r.
            with contact():
                (loss * (weight * self.world.size)).backward()
            max_norm = self.config.clip_norm if self.config.clip_norm is not None else math.inf
            # clip_grad_norm_ returns the norm before clipping: logged every step.
            norm = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))
            finite = math.isfinite(norm)
        if finite:
            if self.config.clip_value is not None:
                torch.nn.utils.clip_grad_value_(self.params, self.config.clip_value)
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            self.bad_in_a_row = 0
        else:
            self.bad_in_a_row += 1
            state = None  # a non-finite step's state would poison the next ones
        self.state = _detached(state)
        self.optimizer.zero_grad(set_to_none=True)
        self.batch_in_epoch += 1
        self.batches_run += 1
        # epoch, batch: where the run stands after this record (batches done in the epoch).
        record = {
            "step": self.step, "epoch": self.epoch, "batch": self.batch_in_epoch,
            "loss": logged, "grad_norm": norm,
            "lr": self.scheduler.get_last_lr()[0], "skipped": not finite,
            "seconds": self._seconds(),
        }  # fmt: skip
        self.metrics.write(record)
        if self.bad_in_a_row >= self.config.max_bad_steps and self.step == 0:
            raise NonFiniteFromTheStart(
                f"no optimiser step was taken: stopped after {self.bad_in_a_row} non-finite "
                "losses or gradients in a row from the first batch; check the data for NaN or "
                "infinity"
            )
        if self.bad_in_a_row >= self.config.max_bad_steps:
            raise NonFiniteTraining(
                f"stopped after {self.bad_in_a_row} non-finite losses or gradients in a row "
                f"(epoch {self.epoch}, batch {self.batch_in_epoch}); the last good weights are in "
                f"{self.run_dir}. Try a lower learning rate or clip_norm."
            )
        return record

    def _end_epoch(self) -> str:
        self.epoch += 1
        self.batch_in_epoch = 0
        self.state = None  # the next epoch's streams start afresh
        if self.validate is None:
            return "epochs"
        self.model.eval()
        with torch.no_grad():
            metric = float(self.validate(self.model))
        self.metrics.write({"step": self.step, "epoch": self.epoch, "batch": 0,
                            "validation": metric, "seconds": self._seconds()})  # fmt: skip
        if self.best_metric is None or metric < self.best_metric:
            self.best_metric, self.epochs_without_improvement = metric, 0
        else:
            self.epochs_without_improvement += 1
        patience = self.config.patience
        if patience is not None and self.epochs_without_improvement >= patience:
            return "early stopping"
        return "epochs"

    # -- files -----------------------------------------------------------------------------

    def _checkpoint(self) -> None:
        """Every rank takes part (the carried state and the random streams are gathered
        from all of them); rank 0 writes."""
        carried = _map_tensors(self._whole_lanes, self.state)
        rng = rng_state()
        if self.world.size > 1:  # row r: rank r's torch stream (dropout masks)
            mine = rng["torch"].to(torch.int32).unsqueeze(0)  # gloo sums no uint8
            rng["torch_by_rank"] = self.world.gather_rows(mine, self.world.size).to(torch.uint8)
        if not self.world.is_main:
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng,
            "position": {
                "step": self.step,
                "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch,
                "bad_in_a_row": self.bad_in_a_row,
                "best_metric": self.best_metric,
                "epochs_without_improvement": self.epochs_without_improvement,
                "state": _plain(carried),
            },  # fmt: skip
            "config": asdict(self.config),
        }
        save_checkpoint(self.run_dir, self.step, state, self.config.keep_checkpoints)

    def _restore(self) -> bool:
        found = load_latest(self.run_dir)
        if found is None:
            return False
        _, state = found
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        by_rank = state["rng"].get("torch_by_rank")
        if by_rank is not None and len(by_rank) == self.world.size:
            torch.set_rng_state(by_rank[self.world.rank].clone())
        elif self.world.size > 1:  # another number of processes: fresh streams per rank
            step = state["position"]["step"]
            torch.manual_seed(self.config.seed + 1_000_003 * self.world.rank + step)
        for name, value in state["position"].items():
            setattr(self, name, value)
        self.state = _map_tensors(self._my_lanes, self.state)
        return True

    def _check_same_start(self) -> None:
        """Every rank resumes from the same step (a rank on a machine that cannot see the
        run directory would start afresh, and the ranks' batches would differ)."""
        if self.world.size == 1:
            return
        mine = torch.tensor([[float(self.step)]], dtype=torch.float64)
        steps = self.world.gather_rows(mine, self.world.size).flatten().tolist()
        if len(set(steps)) > 1:
            found = ", ".join(f"rank {r}: step {int(s)}" for r, s in enumerate(steps))
            raise ValueError(
                f"--resume: the ranks found different checkpoints in {self.run_dir} ({found}); "
                "the run directory must be one that every machine sees"
            )

    def _whole_lanes(self, tensor: Tensor) -> Tensor:
        """A carried state tensor of every lane, from each rank's (batch in dim -2)."""
        return self.world.gather_rows(tensor, self.lanes, tensor.dim() - 2)

    def _my_lanes(self, tensor: Tensor) -> Tensor:
        """This rank's lanes of a carried state tensor of every lane (batch in dim -2)."""
        rows = self.world.share(tensor.shape[-2])
        return tensor.narrow(tensor.dim() - 2, rows.start, rows.stop - rows.start)


class _Synchronised:
    """The model as the loss sees it in a data-parallel run: a call runs through
    ``DistributedDataParallel`` (its backward all-reduces the gradients, bucketed and
    overlapped with the backward pass); any other attribute is the model's own."""

    def __init__(self, model: torch.nn.Module, world: World) -> None:
        on_cuda = next(model.parameters()).is_cuda
        # DDP makes every rank start from rank 0's weights and buffers.
        devices = [world.local_rank] if on_cuda else None
        self.ddp = DistributedDataParallel(model, device_ids=devices)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.ddp(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ddp.module, name)


def _restart_lanes(state: Any, fresh: Tensor) -> Any:
    """The state with the lanes (batch rows) that begin a new sequence set to zero, the
    initial state. Each tensor has its batch in the second-to-last dimension, as torch.nn's
    and rnnkit's recurrent layers return it: (num_layers, B, H) or (B, H)."""
    keep = (~fresh).view(-1, 1)
    return _map_tensors(lambda t: t * keep.to(t.dtype), state)


def _detached(state: Any) -> Any:
    """The state with every tensor cut from the graph."""
    return _map_tensors(Tensor.detach, state)


def _map_tensors(fn: Callable[[Tensor], Tensor], state: Any) -> Any:
    """``fn`` applied to every tensor of a state, its tuples, NamedTuples and lists kept."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(_map_tensors(fn, s) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(_map_tensors(fn, s) for s in state)
    return state


def _plain(state: Any) -> Any:
    """NamedTuples as plain tuples: a checkpoint holds tensors and built-in types only."""
    if isinstance(state, (tuple, list)):
        return tuple(_plain(s) for s in state)
    return state
