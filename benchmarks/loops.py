"""The training loops being timed: the study's real loop and a bare loop of the same model.

The real loop is `Trainer.run_epochs` itself, with everything a study run does per epoch:
batched augmentation, per-sample statistics from the training forward pass, the method's
selection, the progress line and per-epoch MLflow logging. Only the per-epoch evaluation is
switched off: the bare loop has none, and it is a fixed per-epoch cost timed on its own.

The bare loop is the floor: forward, backward and step of the same model and optimizer on
batches built in advance (no augmentation, no statistics, no selection, no logging).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

import torch
import torch.nn.functional as F

from pipeline import pruning
from pipeline.config import Config
from pipeline.data import ImageDataset
from pipeline.pretrain import SimCLRTrainer
from pipeline.progress import EpochProgress
from pipeline.seeding import generator
from pipeline.ssl import nt_xent
from pipeline.stats import SampleStats
from pipeline.tracking import StageRun
from pipeline.train import Trainer

SEED = 0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def long_schedule(cfg: Config, section: str) -> Config:
    """The config with a schedule long enough that the timed epochs never reach its end."""
    schedule = replace(getattr(cfg, section), epochs=10_000, warmup_epochs=1)
    return replace(cfg, **{section: schedule})


class RealLoop:
    """One trainer of the study, stepping one epoch at a time with a chosen method and rate."""

    def __init__(self, trainer_class: type[Trainer], cfg: Config, data: ImageDataset, device: torch.device,
                 run: StageRun):
        # Timed epochs: no evaluation, and progress lines without the long schedule's total and ETA.
        timed = {"evaluate": lambda self: {}, "progress": lambda self, label: EpochProgress(label, None)}
        no_evaluation = type(f"Timed{trainer_class.__name__}", (trainer_class,), timed)
        self.trainer = no_evaluation(long_schedule(cfg, trainer_class.section), data, device)
        self.evaluate = lambda: trainer_class.evaluate(self.trainer)
        self.stats = SampleStats(len(data), device=self.trainer.device)
        self.run = run
        self.epoch = 0

    def epoch_seconds(self, method: str, rate: float) -> tuple[float, int]:
        """Wall time of one epoch of `method` at `rate` (selection included), and the samples it trained."""
        n = self.trainer.num_samples
        # Warm-up 0: every epoch of this plan is a pruned one.
        plan = pruning.EpochPlan(pruning.create(method, None, rate, n, SEED), 10_000, 0, SEED)
        synchronize(self.trainer.device)
        t0 = time.perf_counter()
        history, _ = self.trainer.run_epochs(plan, self.stats, self.epoch, self.epoch + 1, SEED,
                                             f"{self.trainer.section} {method}@{rate:g}", on_epoch=self.run.log_epoch)
        synchronize(self.trainer.device)
        self.epoch += 1
        return time.perf_counter() - t0, history[0]["kept"]

    def evaluation_seconds(self) -> float:
        """One per-epoch evaluation as the study runs it (not part of the loop's time)."""
        synchronize(self.trainer.device)
        t0 = time.perf_counter()
        self.evaluate()
        synchronize(self.trainer.device)
        return time.perf_counter() - t0


class BareLoop:
    """The same model and optimizer as `RealLoop`'s, on the same device settings, stepping
    through batches built in advance with the plain mean loss."""

    def __init__(self, trainer_class: type[Trainer], cfg: Config, data: ImageDataset, device: torch.device):
        self.trainer = trainer_class(long_schedule(cfg, trainer_class.section), data, device)
        builders = {Trainer: _supervised_batches, SimCLRTrainer: _simclr_batches}
        self.batches, self.loss = builders[trainer_class](self.trainer)
        self.num_samples = self.trainer.num_samples

    def epoch_seconds(self) -> float:
        model, optimizer = self.trainer.model, self.trainer.optimizer
        model.train()
        synchronize(self.trainer.device)
        t0 = time.perf_counter()
        for batch in self.batches:
            loss = self.loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(self.trainer.device)
        return time.perf_counter() - t0


Batches = tuple[list, Callable[[object], torch.Tensor]]


def _supervised_batches(trainer: Trainer) -> Batches:
    bs = trainer.t.batch_size
    batches = [(trainer.inputs(trainer.train_x[i:i + bs]), trainer.train_y[i:i + bs])
               for i in range(0, trainer.num_samples, bs)]

    def loss(batch):
        x, y = batch
        with trainer.autocast():
            logits = trainer.model(x)
        return F.cross_entropy(logits.float(), y)

    return batches, loss


def _simclr_batches(trainer: SimCLRTrainer) -> Batches:
    bs = trainer.t.batch_size
    gen = generator(SEED, "bare views", device=trainer.device)
    batches = [torch.cat(trainer.views(trainer.train_x[i:i + bs], gen)) for i in range(0, trainer.num_samples, bs)]

    def loss(views):
        with trainer.autocast():
            _, z = trainer.model(views)
        return nt_xent(*z.float().chunk(2), trainer.t.temperature).mean()

    return batches, loss
