"""The epoch loop: any task, any pruning method, epoch by epoch as an EpochPlan says (the
warm-up and pruned runs built on it: pipeline/training/runs.py).

The hot loop keeps everything on the device: samples are gathered by index, augmented as a
batch by the task, and the per-sample loss and signals of the training forward pass update the
statistics table (no extra pass). The learning rate is a function of fractional epochs, so a
pruned epoch with fewer steps still covers its whole share of the schedule.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import torch

from dynaprune import pruning
from dynaprune.seeding import generator
from dynaprune.stats import SampleStats

from ..core import timing
from ..core.errors import UserError
from . import resume
from .optim import lr_at, optimizer
from .progress import EpochProgress
from .settings import ScheduleConfig
from .tasks import Task

EpochCallback = Callable[[dict], None]


class NonFiniteLossError(UserError):
    """Training diverged (loss NaN or inf): usually a learning rate too high for the setup."""


class EpochLoop:
    """SGD over a task's samples as an epoch plan selects them. `evaluate` False skips the
    per-epoch evaluation (benchmarks time it apart); `total_epochs` is what progress lines count
    to (None: open-ended); `schedule_name` is where a user changes `schedule`, for the error that
    asks them to."""

    def __init__(
        self,
        task: Task,
        schedule: ScheduleConfig,
        *,
        evaluate: bool = True,
        total_epochs: int | None = -1,
        schedule_name: str = "the schedule",
    ):
        self.task = task
        self.t = schedule
        self.schedule_name = schedule_name
        self.runtime = task.runtime
        self.world = task.runtime.world
        self.evaluate = evaluate
        self.total_epochs = schedule.epochs if total_epochs == -1 else total_epochs
        self.optimizer = optimizer(task.model, schedule)

    def state_dict(self) -> dict:
        return {"model": self.task.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.task.model.load_state_dict(state["model"])
        # The optimizer adopts the given momentum tensors without copying them: copy first, so
        # that runs forked from one in-memory checkpoint cannot change it for each other.
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))

    def new_stats(self, momentum: float = 1.0) -> SampleStats:
        return SampleStats(self.task.num_samples, momentum, self.runtime.device, self.task.signals)

    def train_epoch(
        self,
        epoch: int,
        selection: pruning.Selection,
        stats: SampleStats,
        seed: int,
        progress: EpochProgress | None = None,
    ) -> float:
        """One epoch over `selection`, in the order given (EpochPlan.order), which the task may
        arrange into batches (text: similar lengths together); returns the mean per-sample loss.

        Under torchrun each batch is split into disjoint shards, one per rank, and the shards'
        per-sample losses and signals are gathered, so every rank records every sample."""
        world, device = self.world, self.runtime.device
        self.task.model.train()
        bs = self.t.batch_size
        indices, weights = selection.indices, selection.weights
        arranged = self.task.arrange(indices, bs, generator(seed, "batches", epoch))
        if arranged is not None:
            arranged = arranged.to(indices.device)
            indices, weights = indices[arranged], None if weights is None else weights[arranged]
        # Each rank augments its own shard from a stream of its own.
        aug_gen = generator(seed, "augment", epoch, *([world.rank] if world.size > 1 else []), device=device)
        steps = math.ceil(len(indices) / bs)
        if steps > 1 and len(indices) - (steps - 1) * bs < world.size:
            steps -= 1  # a last batch too small to give every rank a sample joins the one before
        loss_sum = torch.zeros((), device=device)
        batches = range(steps) if progress is None else progress.batches(range(steps), epoch, steps)
        for step in batches:
            end = (step + 1) * bs if step < steps - 1 else len(indices)
            batch = indices[step * bs : end]
            idx = world.shard(batch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(self.t, epoch + step / steps)
            per_sample, signals = self.task.losses(idx, aug_gen, sharded=True)
            w = None if weights is None else world.shard(weights[step * bs : end])
            # This rank's share of the batch's mean loss, times the ranks DDP averages over (1.0 in
            # a single process, where this is the plain batch mean).
            loss = pruning.weighted_mean(per_sample, w) * (len(idx) * world.size / len(batch))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            # The same forward pass scores the samples: no extra pass for the statistics.
            idx, per_sample, *values = world.gather(idx, per_sample.detach(), *signals.values())
            stats.observe(idx, per_sample, epoch, **dict(zip(signals, values)))
            loss_sum += per_sample.sum()
        world.average_buffers(self.task.model)
        mean_loss = float(loss_sum) / max(len(indices), 1)
        if not math.isfinite(mean_loss):
            raise NonFiniteLossError(
                f"training loss became {mean_loss} in epoch {epoch + 1}: "
                f"lower {self.schedule_name}.lr (now {self.t.lr}) or check the data"
            )
        return mean_loss

    @torch.no_grad()
    def score_all(self, stats: SampleStats, epoch: int) -> None:
        """A scoring pass over all N samples in eval mode that trains nothing. Only for the
        `init_stats: eval_pass` ablation: by default the starting statistics are the last warm-up
        epoch's training-pass values (docs/methods.md, "Starting statistics")."""
        task = self.task
        task.model.eval()
        gen = task.score_generator()
        try:
            for start in range(0, task.num_samples, task.score_batch_size):
                idx = torch.arange(
                    start, min(start + task.score_batch_size, task.num_samples), device=self.runtime.device
                )
                loss, signals = task.losses(idx, gen)
                stats.observe(idx, loss, epoch, trained=False, **signals)
        finally:
            task.model.train()

    def run_epochs(
        self,
        plan: pruning.EpochPlan,
        stats: SampleStats,
        *,
        start: int,
        end: int,
        seed: int,
        label: str,
        keep_selections: bool = False,
        on_epoch: EpochCallback | None = None,
        history: list[dict] | None = None,
        checkpoint: EpochCallback | None = None,
    ) -> tuple[list[dict], list[torch.Tensor]]:
        """Train epochs [start, end) as the plan says. Each epoch appends a row to `history` (the rows
        of epochs before `start` when resuming), passes it to on_epoch, then hands the loop's whole
        state to `checkpoint`."""
        progress = EpochProgress(label, self.total_epochs, quiet=not self.world.is_main)
        history = [] if history is None else list(history)
        selections = []
        for epoch in range(start, end):
            t0 = time.perf_counter()
            with timing.phase("selection"):
                selection = plan.select(epoch, stats)
            timing.mark("first_step", first=True)
            with timing.phase("train"):
                train_loss = self.train_epoch(epoch, plan.order(epoch, selection), stats, seed, progress)
                self.runtime.synchronize()
            timing.mark("last_step")
            train_s = time.perf_counter() - t0
            with timing.phase("eval"):
                metrics = self.task.evaluate() if self.evaluate else {}
            timing.mark("epochs_done")  # the last epoch's, evaluation included
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                **metrics,
                "kept": len(selection),
                "epoch_time_s": train_s,
                "lr": lr_at(self.t, epoch + 1 - 1e-9),
            }
            history.append(row)
            if keep_selections:
                selections.append(selection.indices.cpu().clone())
            progress.epoch_done(epoch, time.perf_counter() - t0, loss=train_loss, **metrics, kept=len(selection))
            if on_epoch is not None:
                on_epoch(row)
            if checkpoint is not None:
                checkpoint(
                    {
                        "epoch": epoch + 1,
                        "trainer": self.state_dict(),
                        "stats": stats.state_dict(),
                        "plan": plan.state_dict(),
                        "history": history,
                        "rng": resume.rng_state(),
                    }
                )
        return history, selections

    def continue_from(
        self, res: resume.Resume | None, stats: SampleStats, plan: pruning.EpochPlan, *, start: int
    ) -> tuple[int, list[dict]]:
        """The first epoch to train and the history before it: (start, []) for a fresh run, or the
        epoch after `res`'s last checkpoint, with the model, optimizer, statistics, current subset
        and RNG states it saved restored (see pipeline/training/resume.py)."""
        if res is None or res.state is None:
            return start, []
        state = res.state
        self.load_state_dict(state["trainer"])
        stats.load_state_dict(state["stats"])
        plan.load_state_dict(state["plan"], self.runtime.device)
        resume.set_rng_state(state["rng"])
        return state["epoch"], state["history"]
