"""The epoch loop: any task, any pruning method. A warm-up of W full-data epochs, then pruned
runs forked from it.

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
from dataclasses import dataclass, field

import torch

from ..core import pruning, timing
from ..core.errors import UserError
from ..core.pruning import MethodSpec
from ..core.seeding import generator
from ..core.stats import SampleStats, achieved_saving, cost_saving, lfl_diagnostics
from . import resume
from .progress import EpochProgress
from .settings import ScheduleConfig
from .tasks import Task

EpochCallback = Callable[[dict], None]


class NonFiniteLossError(UserError):
    """Training diverged (loss NaN or inf): usually a learning rate too high for the setup."""


def lr_at(cfg: ScheduleConfig, t: float) -> float:
    """Learning rate at fractional epoch t in [0, E): optional linear ramp, then cosine or constant."""
    if cfg.lr_warmup_epochs > 0 and t < cfg.lr_warmup_epochs:
        return cfg.lr * (t + 1e-3) / cfg.lr_warmup_epochs
    if cfg.lr_schedule == "constant":
        return cfg.lr
    return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * t / cfg.epochs))


def optimizer(model: torch.nn.Module, cfg: ScheduleConfig) -> torch.optim.Optimizer:
    """The schedule's optimizer over the model's trainable parameters. AdamW decays the weight
    matrices only, not biases and normalisation weights (the usual transformer recipe)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        decay = [p for p in params if p.dim() > 1]
        rest = [p for p in params if p.dim() <= 1]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov and cfg.momentum > 0,
        weight_decay=cfg.weight_decay,
    )


def weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """The batch loss: the mean of the per-sample losses, each times its selection weight."""
    return per_sample.mean() if weights is None else (per_sample * weights).mean()


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
    stats: dict = field(repr=False)  # the statistics table at the end (SampleStats.state_dict)
    selections: list[torch.Tensor] = field(default_factory=list, repr=False)
    token_saving: float | None = None  # achieved saving weighted by tokens (tasks on text)

    def final_metrics(self) -> dict:
        return {
            **self.metrics,
            **({} if self.token_saving is None else {"achieved_token_saving": self.token_saving}),
            "achieved_saving": self.achieved_saving,
            "wall_time_s": self.wall_time_s,
            "train_time_s": self.train_time_s,
            "lfl_gini": self.lfl["lfl_gini"],
            "lfl_seen_at_most_once": self.lfl["lfl_seen_at_most_once"],
        }


class EpochLoop:
    """SGD over a task's samples as an epoch plan selects them. `evaluate` False skips the
    per-epoch evaluation (benchmarks time it apart); `total_epochs` is what progress lines count
    to (None: open-ended)."""

    def __init__(self, task: Task, schedule: ScheduleConfig, evaluate: bool = True, total_epochs: int | None = -1):
        self.task = task
        self.t = schedule
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
        """One epoch over `selection` in a seeded random order; returns the mean per-sample loss.

        Under torchrun each batch is split into disjoint shards, one per rank, and the shards'
        per-sample losses and signals are gathered, so every rank records every sample."""
        world, device = self.world, self.runtime.device
        self.task.model.train()
        order = torch.randperm(len(selection), generator=generator(seed, "order", epoch)).to(device)
        bs = self.t.batch_size
        arranged = self.task.arrange(selection.indices[order], bs, generator(seed, "batches", epoch))
        if arranged is not None:
            order = order[arranged.to(order.device)]
        indices = selection.indices[order]
        weights = None if selection.weights is None else selection.weights[order]
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
            loss = weighted_mean(per_sample, w) * (len(idx) * world.size / len(batch))
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
                f"lower {self.task.section}.lr (now {self.t.lr}) or check the data"
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
                train_loss = self.train_epoch(epoch, selection, stats, seed, progress)
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
        self, res: resume.Resume | None, stats: SampleStats, plan: pruning.EpochPlan, start: int
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


def _elapsed(res: resume.Resume | None, t0: float) -> float:
    """Wall time since t0 plus that of the attempts before a resume."""
    return time.perf_counter() - t0 + (0.0 if res is None or res.state is None else res.state["elapsed_s"])


def _checkpointer(res: resume.Resume | None, t0: float) -> EpochCallback | None:
    """Saves the loop state with the wall time spent so far (earlier attempts included)."""
    if res is None:
        return None
    return lambda state: res.save({**state, "elapsed_s": _elapsed(res, t0)})


def warmup(
    task: Task,
    schedule: ScheduleConfig,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    res: resume.Resume | None = None,
    t0: float | None = None,
) -> dict:
    """W full-data epochs of seed `seed`: the checkpoint every pruned run of that seed forks from.
    Its statistics table holds each sample's loss and signals as recorded in the last warm-up
    epoch's training pass (or, with init_stats = eval_pass, an eval-mode scoring pass after it).
    With `res`, checkpoints every epoch and continues from its state if it has one; `t0` as in
    `pruned_run`."""
    t0 = time.perf_counter() if t0 is None else t0
    loop = EpochLoop(task, schedule)
    W = schedule.warmup_epochs
    stats = loop.new_stats()
    plan = pruning.EpochPlan(pruning.create("full", None, 0.0, task.num_samples, seed), schedule.epochs, W, seed)
    start, history = loop.continue_from(res, stats, plan, 0)
    history, _ = loop.run_epochs(
        plan,
        stats,
        start,
        W,
        seed,
        task.warmup_stage,
        on_epoch=on_epoch,
        history=history,
        checkpoint=_checkpointer(res, t0),
    )
    if schedule.init_stats == "eval_pass":
        with timing.phase("scoring"):
            loop.score_all(stats, W - 1)
    return {
        "epoch": W,
        "seed": seed,
        "state": loop.state_dict(),
        "stats": stats.state_dict(),
        "history": history,
        "wall_time_s": _elapsed(res, t0),
    }


def pruned_run(
    task: Task,
    schedule: ScheduleConfig,
    checkpoint: dict,
    spec: MethodSpec,
    rate: float,
    seed: int,
    keep_selections: bool = False,
    on_epoch: EpochCallback | None = None,
    res: resume.Resume | None = None,
    t0: float | None = None,
) -> RunResult:
    """Epochs W..E-1 with `spec`'s method at pruning rate `rate`, starting from the warm-up
    checkpoint. With `res`, checkpoints every epoch and continues from its state if it has one.
    `t0`: when the run's wall time starts (default now; the task's set-up may come before)."""
    t0 = time.perf_counter() if t0 is None else t0
    loop = EpochLoop(task, schedule)
    loop.load_state_dict(checkpoint["state"])
    W, E = checkpoint["epoch"], schedule.epochs
    if checkpoint.get("seed", seed) != seed:
        raise UserError(
            f"the warm-up checkpoint is seed {checkpoint['seed']}'s but this run is seed {seed}: "
            f"every run forks from its own seed's warm-up (rerun the {task.warmup_stage} stage)"
        )
    if W != schedule.warmup_epochs:
        raise UserError(
            f"the warm-up checkpoint ran {W} epochs but {task.section}.warmup_epochs = "
            f"{schedule.warmup_epochs}: rerun the {task.warmup_stage} stage"
        )
    n = task.num_samples
    method = pruning.create(spec.method, spec.options, rate, n, seed, task.selection_labels(), task.signals)
    stats = SampleStats.starting_table(checkpoint["stats"], spec.options.ema_momentum(), task.runtime.device)
    plan = pruning.EpochPlan(method, E, W, seed)
    start, history = loop.continue_from(res, stats, plan, W)
    label = spec.name if not method.uses_rate else f"{spec.name}@{rate:g}"
    history, selections = loop.run_epochs(
        plan, stats, start, E, seed, label, keep_selections, on_epoch, history, _checkpointer(res, t0)
    )
    visits = stats.visits.cpu()
    return RunResult(
        history=history,
        metrics={k: history[-1][k] for k in task.metrics},
        achieved_saving=achieved_saving(int(visits.sum()), n, E),
        wall_time_s=_elapsed(res, t0),
        train_time_s=sum(row["epoch_time_s"] for row in history),
        lfl=lfl_diagnostics(visits, W),
        visits=visits,
        model_state={k: v.detach().cpu() for k, v in task.model.state_dict().items()},
        stats=stats.state_dict(),
        selections=selections,
        token_saving=None if task.sample_cost is None else cost_saving(visits, task.sample_cost.cpu(), E),
    )
