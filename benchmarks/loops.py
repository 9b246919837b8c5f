"""The training loops being timed: the study's real loop and a bare loop of the same model.

The real loop is `EpochLoop.run_epochs` itself, with everything a study run does per epoch:
batched augmentation, per-sample statistics from the training forward pass, the method's
selection, the progress line and per-epoch MLflow logging. Only the per-epoch evaluation is
switched off: the bare loop has none, and it is a fixed per-epoch cost timed on its own.

The bare loop is the floor: forward, backward and step of the same model and optimizer on
batches built in advance (no augmentation, no statistics, no selection, no logging).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F

from dynaprune import pruning
from dynaprune.seeding import generator
from pipeline.core.data import ImageDataset
from pipeline.core.ssl import nt_xent
from pipeline.study.config import Config
from pipeline.study.grids import Grid
from pipeline.study.tracking import StageRun
from pipeline.training.loop import EpochLoop
from pipeline.training.tasks import SimCLRTask, SupervisedTask

SEED = 0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def long_schedule(cfg: Config, section: str) -> Config:
    """The config with a schedule long enough that the timed epochs never reach its end."""
    schedule = replace(getattr(cfg, section), epochs=10_000, warmup_epochs=1)
    return replace(cfg, **{section: schedule})


class RealLoop:
    """One task of the study in its epoch loop, stepping one epoch at a time with a chosen method and rate."""

    def __init__(self, grid: Grid, cfg: Config, data: ImageDataset, device: torch.device, run: StageRun):
        cfg = long_schedule(cfg, grid.section)
        self.task = grid.setup(cfg).task(data, seed=SEED, device=device)
        # Timed epochs: no evaluation, and progress lines without the long schedule's total and ETA.
        self.loop = EpochLoop(self.task, getattr(cfg, grid.section), evaluate=False, total_epochs=None)
        self.stats = self.loop.new_stats()
        self.run = run
        self.section = grid.section
        self.epoch = 0

    def epoch_seconds(self, method: str, rate: float) -> tuple[float, int]:
        """Wall time of one epoch of `method` at `rate` (selection included), and the samples it trained."""
        n = self.task.num_samples
        # Warm-up 0: every epoch of this plan is a pruned one.
        plan = pruning.EpochPlan(pruning.create(method, None, rate, n, SEED), 10_000, 0, SEED)
        device = self.task.runtime.device
        synchronize(device)
        t0 = time.perf_counter()
        history, _ = self.loop.run_epochs(
            plan,
            self.stats,
            start=self.epoch,
            end=self.epoch + 1,
            seed=SEED,
            label=f"{self.section} {method}@{rate:g}",
            on_epoch=self.run.log_epoch,
        )
        synchronize(device)
        self.epoch += 1
        return time.perf_counter() - t0, history[0]["kept"]

    def evaluation_seconds(self) -> float:
        """One per-epoch evaluation as the study runs it (not part of the loop's time)."""
        device = self.task.runtime.device
        synchronize(device)
        t0 = time.perf_counter()
        self.task.evaluate()
        synchronize(device)
        return time.perf_counter() - t0


class BareLoop:
    """The same model and optimizer as `RealLoop`'s, on the same device settings, stepping
    through batches built in advance with the plain mean loss."""

    def __init__(self, grid: Grid, cfg: Config, data: ImageDataset, device: torch.device):
        cfg = long_schedule(cfg, grid.section)
        self.task = grid.setup(cfg).task(data, seed=SEED, device=device)
        schedule = getattr(cfg, grid.section)
        self.optimizer = EpochLoop(self.task, schedule).optimizer
        builders = {SupervisedTask: _supervised_batches, SimCLRTask: _simclr_batches}
        self.batches, self.loss = builders[grid.task_class](self.task, schedule.batch_size)
        self.num_samples = self.task.num_samples

    def epoch_seconds(self) -> float:
        model, optimizer = self.task.model, self.optimizer
        model.train()
        device = self.task.runtime.device
        synchronize(device)
        t0 = time.perf_counter()
        for batch in self.batches:
            loss = self.loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(device)
        return time.perf_counter() - t0


Batches = tuple[list, Callable[[object], torch.Tensor]]


def _supervised_batches(task: SupervisedTask, bs: int) -> Batches:
    batches = [
        (task.inputs(task.train_x[i : i + bs]), task.train_y[i : i + bs]) for i in range(0, task.num_samples, bs)
    ]

    def loss(batch):
        x, y = batch
        with task.runtime.autocast():
            logits = task.model(x)
        return F.cross_entropy(logits.float(), y)

    return batches, loss


def _simclr_batches(task: SimCLRTask, bs: int) -> Batches:
    gen = generator(SEED, "bare views", device=task.runtime.device)
    batches = [torch.cat(task.views(task.train_x[i : i + bs], gen)) for i in range(0, task.num_samples, bs)]

    def loss(views):
        with task.runtime.autocast():
            _, z = task.model(views)
        return nt_xent(*z.float().chunk(2), task.temperature).mean()

    return batches, loss
