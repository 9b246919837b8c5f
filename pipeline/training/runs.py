"""The runs of a study built on the epoch loop: a warm-up of W full-data epochs, then pruned runs
forked from its checkpoint, each continuing from its resume checkpoint when it has one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from dynaprune import pruning
from dynaprune.pruning import MethodSpec
from dynaprune.stats import SampleStats, achieved_saving, cost_saving, lfl_diagnostics

from ..core import timing
from . import resume
from .loop import EpochCallback, EpochLoop
from .settings import ScheduleConfig
from .tasks import Task


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


def _elapsed(res: resume.Resume | None, t0: float) -> float:
    """Wall time since t0 plus that of the attempts before a resume."""
    return time.perf_counter() - t0 + (0.0 if res is None or res.state is None else res.state["elapsed_s"])


def _train(
    loop: EpochLoop, plan: pruning.EpochPlan, stats: SampleStats, *, start: int, end: int, res, t0: float, **rest
) -> tuple[list[dict], list[torch.Tensor]]:
    """Epochs [start, end) of `plan` (loop.run_epochs, `rest` passed on), continued after `res`'s
    last checkpoint when it has one, and checkpointed to it every epoch with the wall time spent
    so far (earlier attempts included)."""
    first, history = loop.continue_from(res, stats, plan, start=start)
    checkpoint = None if res is None else lambda state: res.save({**state, "elapsed_s": _elapsed(res, t0)})
    return loop.run_epochs(plan, stats, start=first, end=end, history=history, checkpoint=checkpoint, **rest)


def warmup(
    task: Task,
    schedule: ScheduleConfig,
    *,
    seed: int = 0,
    label: str = "warm-up",
    schedule_name: str = "the schedule",
    on_epoch: EpochCallback | None = None,
    res: resume.Resume | None = None,
    t0: float | None = None,
) -> dict:
    """W full-data epochs of seed `seed`: the checkpoint every pruned run of that seed forks from.
    Its statistics table holds each sample's loss and signals as recorded in the last warm-up
    epoch's training pass (or, with init_stats = eval_pass, an eval-mode scoring pass after it).
    `label` heads its progress lines; `schedule_name` is where a user changes `schedule` (its
    params section), for the errors that ask to. With `res`, checkpoints every epoch and continues
    from its state if it has one; `t0` as in `pruned_run`."""
    t0 = time.perf_counter() if t0 is None else t0
    W = schedule.warmup_epochs
    # Its progress lines count (and ETA) to W.
    loop = EpochLoop(task, schedule, total_epochs=W, schedule_name=schedule_name)
    stats = loop.new_stats()
    full = pruning.Full(pruning.Full.Options(), rate=0.0, num_samples=task.num_samples, seed=seed)
    plan = pruning.EpochPlan(full, epochs=schedule.epochs, warmup_epochs=W, seed=seed)
    history, _ = _train(loop, plan, stats, start=0, end=W, res=res, t0=t0, seed=seed, label=label, on_epoch=on_epoch)
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
    *,
    checkpoint: dict,
    entry: MethodSpec,
    rate: float,
    seed: int,
    schedule_name: str = "the schedule",
    keep_selections: bool = False,
    on_epoch: EpochCallback | None = None,
    res: resume.Resume | None = None,
    t0: float | None = None,
) -> RunResult:
    """Epochs W..E-1 with the method entry `entry` at pruning rate `rate`, starting from the warm-up
    `checkpoint` (of seed `seed`, W = schedule.warmup_epochs: the study checks that first). With
    `res`, checkpoints every epoch and continues from its state if it has one. `t0`: when the run's
    wall time starts (default now; the task's set-up may come before)."""
    t0 = time.perf_counter() if t0 is None else t0
    loop = EpochLoop(task, schedule, schedule_name=schedule_name)
    loop.load_state_dict(checkpoint["state"])
    W, E = checkpoint["epoch"], schedule.epochs
    n = task.num_samples
    method = pruning.create(
        entry.method,
        entry.options,
        rate=rate,
        num_samples=n,
        seed=seed,
        labels=task.selection_labels(),
        signals=task.signals,
    )
    stats = SampleStats.starting_table(checkpoint["stats"], entry.options.ema_momentum(), task.runtime.device)
    plan = pruning.EpochPlan(method, epochs=E, warmup_epochs=W, seed=seed)
    label = f"{entry.name}@{rate:g}" if method.uses_rate else entry.name
    history, selections = _train(
        loop,
        plan,
        stats,
        start=W,
        end=E,
        res=res,
        t0=t0,
        seed=seed,
        label=label,
        keep_selections=keep_selections,
        on_epoch=on_epoch,
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
