"""Supervised training with dynamic data pruning: the shared warm-up and the pruned runs.

The hot loop keeps everything on the device: images are gathered by index as uint8, augmented
as a batch, and the per-sample loss and memory term of the training forward pass update the
statistics table (no extra pass). The learning rate is a function of fractional epochs, so a
pruned epoch with fewer steps still covers its whole share of the schedule.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import distributed, gpus, pruning, resume
from .config import Config, MethodSpec, ScheduleConfig
from .data import ImageDataset
from .errors import UserError
from .evaluate import accuracy, predict, prediction_entropy
from .augment import InputPipeline
from .models import build_model
from .progress import EpochProgress
from .seeding import derive_seed, generator
from .stats import SampleStats, achieved_saving, lfl_diagnostics


EpochCallback = Callable[[dict], None]


class NonFiniteLossError(UserError):
    """Training diverged (loss NaN or inf): usually a learning rate too high for the setup."""


def resolve_device(name: str, world: distributed.World = distributed.World()) -> torch.device:
    """train.device as a torch device. Under torchrun, auto and cuda mean this rank's GPU (LOCAL_RANK);
    otherwise auto on a multi-GPU machine takes a GPU no other stage holds (pipeline/gpus.py)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cuda" and world.size == 1 and torch.cuda.device_count() > 1:
            name = f"cuda:{gpus.claim(torch.cuda.device_count())}"  # one stage per GPU
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device = {name!r} but no CUDA device is available: set train.device to auto or cpu")
    if name == "cuda" and world.size > 1:
        name = f"cuda:{world.local_rank}"
    device = torch.device(name)
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"train.device = {name!r} but this machine has {torch.cuda.device_count()} CUDA "
                        f"device(s): pick cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def lr_at(cfg: ScheduleConfig, t: float) -> float:
    """Learning rate at fractional epoch t in [0, E): optional linear ramp, then cosine or constant."""
    if cfg.lr_warmup_epochs > 0 and t < cfg.lr_warmup_epochs:
        return cfg.lr * (t + 1e-3) / cfg.lr_warmup_epochs
    if cfg.lr_schedule == "constant":
        return cfg.lr
    return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * t / cfg.epochs))


@dataclass
class RunResult:
    history: list[dict]
    metrics: dict  # the last epoch's evaluation (test_acc; knn_acc in pre-training)
    achieved_saving: float
    wall_time_s: float
    train_time_s: float
    lfl: dict
    visits: torch.Tensor
    model_state: dict = field(repr=False)
    selections: list[torch.Tensor] = field(default_factory=list, repr=False)

    def final_metrics(self) -> dict:
        return {
            **self.metrics,
            "achieved_saving": self.achieved_saving,
            "wall_time_s": self.wall_time_s,
            "train_time_s": self.train_time_s,
            "lfl_gini": self.lfl["lfl_gini"],
            "lfl_seen_at_most_once": self.lfl["lfl_seen_at_most_once"],
        }


class Trainer:
    """Holds the model, optimizer and device-resident data of one supervised run. Subclasses
    (SimCLR pre-training) swap the model, the input path, the per-sample losses and the
    per-epoch evaluation; the epoch loop, scoring pass and checkpointing are shared."""

    section = "train"  # the params.yaml section holding this loop's schedule
    warmup_stage = "warmup"  # the DVC stage whose checkpoint pruned runs fork from

    def __init__(self, cfg: Config, data: ImageDataset, device: torch.device | None = None, seed: int = 0):
        self.cfg = cfg
        self.seed = seed  # the run's seed: the model's initial weights (a warm-up's) and scoring views
        self.t: ScheduleConfig = getattr(cfg, self.section)
        hw = cfg.train  # device settings are shared by every loop
        self.world = distributed.setup(hw.device)
        self.device = device or resolve_device(hw.device, self.world)
        on_cuda = self.device.type == "cuda"
        if on_cuda:
            # Batch shapes are fixed, so cuDNN's one-off search for the fastest kernels pays off.
            torch.backends.cudnn.benchmark = True
        self.amp = on_cuda and hw.amp
        self.channels_last = on_cuda and hw.channels_last
        self.eval_batch_size = hw.eval_batch_size
        torch.manual_seed(derive_seed(seed, "init"))
        self.model = self.build_model(data).to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if hw.compile:
            # In place (Module.compile), so state_dict keys and checkpoints stay as without it.
            for module in self.compiled_modules():
                module.compile(dynamic=False)
        # The loop's forward passes go through `net`: under torchrun, DistributedDataParallel, which
        # averages the gradients over the ranks during backward.
        self.net = self.model if self.world.size == 1 else DistributedDataParallel(
            self.model, device_ids=[self.device.index] if on_cuda else None)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.t.lr, momentum=self.t.momentum,
                                         nesterov=self.t.nesterov and self.t.momentum > 0,
                                         weight_decay=self.t.weight_decay)
        mean, std = data.channel_stats()
        # Normalisation only: for evaluation and, in supervised runs, augmentation as configured.
        self.inputs = InputPipeline(mean, std, self.device, hw.crop_padding, hw.hflip, self.channels_last)
        pin = on_cuda
        move = lambda x: (x.pin_memory() if pin else x).to(self.device, non_blocking=True)
        self.train_x, self.train_y = move(data.train_x), move(data.train_y)
        self.test_x, self.test_y = move(data.test_x), move(data.test_y)
        self.num_samples = len(data)

    def build_model(self, data: ImageDataset) -> nn.Module:
        return build_model(self.cfg.model.arch, data.in_channels, data.num_classes)

    def compiled_modules(self) -> list[nn.Module]:
        """The modules whose forward the loop calls (what train.compile compiles)."""
        return [self.model]

    def losses(self, idx: torch.Tensor, gen: torch.Generator | None,
               sharded: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample loss (with graph) and memory term (detached) of the samples `idx`, from one
        forward pass; augmented when `gen` is given. `sharded`: `idx` is this rank's shard of a
        training batch under torchrun, which matters only to losses that compare samples (SimCLR's)."""
        with self.autocast():
            logits = self.net(self.inputs(self.train_x[idx], gen))
        per_sample = F.cross_entropy(logits.float(), self.train_y[idx], reduction="none",
                                     label_smoothing=self.cfg.train.label_smoothing)
        return per_sample, prediction_entropy(logits.detach())

    evaluate_keys = ("test_acc",)

    def evaluate(self) -> dict[str, float]:
        """The per-epoch evaluation metrics (named by evaluate_keys)."""
        return {"test_acc": self.test_accuracy()}

    def autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        # The optimizer adopts the given momentum tensors without copying them: copy first, so
        # that runs forked from one in-memory checkpoint cannot change it for each other.
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))

    def train_epoch(self, epoch: int, selection: pruning.Selection, stats: SampleStats, seed: int,
                    progress: EpochProgress | None = None) -> float:
        """One epoch over `selection` in a seeded random order; returns the mean per-sample loss.

        Under torchrun each batch is split into disjoint shards, one per rank, and the shards'
        per-sample losses and memory terms are gathered, so every rank records every sample."""
        world = self.world
        self.model.train()
        order = torch.randperm(len(selection), generator=generator(seed, "order", epoch)).to(self.device)
        indices = selection.indices[order]
        weights = None if selection.weights is None else selection.weights[order]
        # Each rank augments its own shard from a stream of its own.
        aug_gen = generator(seed, "augment", epoch, *([world.rank] if world.size > 1 else []), device=self.device)
        bs = self.t.batch_size
        steps = math.ceil(len(indices) / bs)
        if steps > 1 and len(indices) - (steps - 1) * bs < world.size:
            steps -= 1  # a last batch too small to give every rank a sample joins the one before
        loss_sum = torch.zeros((), device=self.device)
        batches = range(steps) if progress is None else progress.batches(range(steps), epoch, steps)
        for step in batches:
            end = (step + 1) * bs if step < steps - 1 else len(indices)
            batch = indices[step * bs:end]
            idx = world.shard(batch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(self.t, epoch + step / steps)
            per_sample, memory = self.losses(idx, aug_gen, sharded=True)
            w = None if weights is None else world.shard(weights[step * bs:end])
            # This rank's share of the batch's mean loss, times the ranks DDP averages over (1.0 in
            # a single process, where this is the plain batch mean).
            loss = (per_sample.mean() if w is None else (per_sample * w).mean()) * (len(idx) * world.size / len(batch))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            # The same forward pass scores the samples: no extra pass for the statistics.
            idx, per_sample, memory = world.gather(idx, per_sample.detach(), memory)
            stats.observe(idx, per_sample, memory, epoch)
            loss_sum += per_sample.sum()
        world.average_buffers(self.model)
        mean_loss = float(loss_sum) / max(len(indices), 1)
        if not math.isfinite(mean_loss):
            raise NonFiniteLossError(f"training loss became {mean_loss} in epoch {epoch + 1}: "
                                     f"lower {self.section}.lr (now {self.t.lr}) or check the data")
        return mean_loss

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return predict(self.model, images, self.inputs, self.eval_batch_size, self.autocast)

    def test_accuracy(self) -> float:
        return accuracy(self.logits(self.test_x), self.test_y)

    @torch.no_grad()
    def score_all(self, stats: SampleStats, epoch: int) -> None:
        """A scoring pass over all N samples in eval mode that trains nothing. Only for the
        `init_stats: eval_pass` ablation: by default the starting statistics are the last warm-up
        epoch's training-pass values (docs/methods.md, "Starting statistics")."""
        self.model.eval()
        gen = self.score_generator()
        try:
            for start in range(0, self.num_samples, self.score_batch_size):
                idx = torch.arange(start, min(start + self.score_batch_size, self.num_samples), device=self.device)
                loss, memory = self.losses(idx, gen)
                stats.observe(idx, loss, memory, epoch, trained=False)
        finally:
            self.model.train()

    def selection_labels(self, data: ImageDataset) -> torch.Tensor | None:
        """The labels class-stratified selection may use (SimCLR pre-training uses none)."""
        return data.train_y

    def score_generator(self) -> torch.Generator | None:
        return None  # supervised scoring sees the images as they are

    @property
    def score_batch_size(self) -> int:
        return self.eval_batch_size

    def progress(self, label: str) -> EpochProgress:
        return EpochProgress(label, self.t.epochs, quiet=not self.world.is_main)

    def run_epochs(self, plan: pruning.EpochPlan, stats: SampleStats, start: int, end: int, seed: int,
                   label: str, keep_selections: bool = False, on_epoch: EpochCallback | None = None,
                   history: list[dict] | None = None, checkpoint: EpochCallback | None = None
                   ) -> tuple[list[dict], list[torch.Tensor]]:
        """Train epochs [start, end) as the plan says. Each epoch appends a row to `history` (the rows
        of epochs before `start` when resuming), passes it to on_epoch, then hands the loop's whole
        state to `checkpoint`."""
        progress = self.progress(label)
        history = [] if history is None else list(history)
        selections = []
        for epoch in range(start, end):
            t0 = time.perf_counter()
            selection = plan.select(epoch, stats)
            train_loss = self.train_epoch(epoch, selection, stats, seed, progress)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            train_s = time.perf_counter() - t0
            metrics = self.evaluate()
            row = {"epoch": epoch, "train_loss": train_loss, **metrics, "kept": len(selection),
                   "epoch_time_s": train_s, "lr": lr_at(self.t, epoch + 1 - 1e-9)}
            history.append(row)
            if keep_selections:
                selections.append(selection.indices.cpu().clone())
            progress.epoch_done(epoch, time.perf_counter() - t0, loss=train_loss, **metrics, kept=len(selection))
            if on_epoch is not None:
                on_epoch(row)
            if checkpoint is not None:
                checkpoint({"epoch": epoch + 1, "trainer": self.state_dict(), "stats": stats.state_dict(),
                            "plan": plan.state_dict(), "history": history, "rng": resume.rng_state()})
        return history, selections

    def continue_from(self, res: resume.Resume | None, stats: SampleStats, plan: pruning.EpochPlan,
                      start: int) -> tuple[int, list[dict]]:
        """The first epoch to train and the history before it: (start, []) for a fresh run, or the
        epoch after `res`'s last checkpoint, with the model, optimizer, statistics, current subset
        and RNG states it saved restored (see pipeline/resume.py)."""
        if res is None or res.state is None:
            return start, []
        state = res.state
        self.load_state_dict(state["trainer"])
        stats.load_state_dict(state["stats"])
        plan.load_state_dict(state["plan"], self.device)
        resume.set_rng_state(state["rng"])
        return state["epoch"], state["history"]


def _elapsed(res: resume.Resume | None, t0: float) -> float:
    """Wall time since t0 plus that of the attempts before a resume."""
    return time.perf_counter() - t0 + (0.0 if res is None or res.state is None else res.state["elapsed_s"])


def _checkpointer(res: resume.Resume | None, t0: float) -> EpochCallback | None:
    """Saves the loop state with the wall time spent so far (earlier attempts included)."""
    if res is None:
        return None
    return lambda state: res.save({**state, "elapsed_s": _elapsed(res, t0)})


def warmup(cfg: Config, data: ImageDataset, seed: int = 0, device: torch.device | None = None,
           on_epoch: EpochCallback | None = None, trainer_class: type[Trainer] = Trainer,
           res: resume.Resume | None = None) -> dict:
    """W full-data epochs of seed `seed`: the checkpoint every pruned run of that seed forks from.
    Its statistics table holds each sample's loss and memory term as recorded in the last warm-up
    epoch's training pass (or, with init_stats = eval_pass, an eval-mode scoring pass after it).
    With `res`, checkpoints every epoch and continues from its state if it has one."""
    t0 = time.perf_counter()
    trainer = trainer_class(cfg, data, device, seed)
    t = trainer.t
    W = t.warmup_epochs
    stats = SampleStats(len(data), momentum=1.0, device=trainer.device)
    plan = pruning.EpochPlan(pruning.create("full", None, 0.0, len(data), seed), t.epochs, W, seed)
    start, history = trainer.continue_from(res, stats, plan, 0)
    history, _ = trainer.run_epochs(plan, stats, start, W, seed, trainer.warmup_stage, on_epoch=on_epoch,
                                    history=history, checkpoint=_checkpointer(res, t0))
    if t.init_stats == "eval_pass":
        trainer.score_all(stats, W - 1)
    return {"epoch": W, "seed": seed, "state": trainer.state_dict(), "stats": stats.state_dict(),
            "history": history, "wall_time_s": _elapsed(res, t0)}


def pruned_run(cfg: Config, data: ImageDataset, checkpoint: dict, method: MethodSpec | str, rate: float,
               seed: int, device: torch.device | None = None, keep_selections: bool = False,
               on_epoch: EpochCallback | None = None, trainer_class: type[Trainer] = Trainer,
               res: resume.Resume | None = None) -> RunResult:
    """Epochs W..E-1 with `method` at pruning rate `rate`, starting from the warm-up checkpoint.
    With `res`, checkpoints every epoch and continues from its state if it has one."""
    spec = cfg.method(method) if isinstance(method, str) else method
    t0 = time.perf_counter()
    trainer = trainer_class(cfg, data, device, seed)
    trainer.load_state_dict(checkpoint["state"])
    W, E = checkpoint["epoch"], trainer.t.epochs
    if checkpoint.get("seed", seed) != seed:
        raise UserError(f"the warm-up checkpoint is seed {checkpoint['seed']}'s but this run is seed {seed}: "
                        f"every run forks from its own seed's warm-up (rerun the {trainer.warmup_stage} stage)")
    if W != trainer.t.warmup_epochs:
        raise UserError(f"the warm-up checkpoint ran {W} epochs but {trainer.section}.warmup_epochs = "
                        f"{trainer.t.warmup_epochs}: rerun the {trainer.warmup_stage} stage")
    method_obj = pruning.create(spec.method, spec.options, rate, len(data), seed, trainer.selection_labels(data))
    stats = SampleStats.starting_table(checkpoint["stats"], spec.options.ema_momentum(), trainer.device)
    plan = pruning.EpochPlan(method_obj, E, W, seed)
    start, history = trainer.continue_from(res, stats, plan, W)
    label = spec.name if not method_obj.uses_rate else f"{spec.name}@{rate:g}"
    history, selections = trainer.run_epochs(plan, stats, start, E, seed, label, keep_selections, on_epoch,
                                             history, _checkpointer(res, t0))
    visits = stats.visits.cpu()
    return RunResult(
        history=history,
        metrics={k: history[-1][k] for k in trainer.evaluate_keys},
        achieved_saving=achieved_saving(int(visits.sum()), len(data), E),
        wall_time_s=_elapsed(res, t0),
        train_time_s=sum(row["epoch_time_s"] for row in history),
        lfl=lfl_diagnostics(visits, W),
        visits=visits,
        model_state={k: v.detach().cpu() for k, v in trainer.model.state_dict().items()},
        selections=selections,
    )
