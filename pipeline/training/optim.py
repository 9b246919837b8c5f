"""The optimizer of a schedule and its learning rate at any fractional epoch."""

from __future__ import annotations

import math

import torch

from .settings import ScheduleConfig


def lr_at(schedule: ScheduleConfig, t: float) -> float:
    """Learning rate at fractional epoch t in [0, E): optional linear ramp, then cosine or constant."""
    if schedule.lr_warmup_epochs > 0 and t < schedule.lr_warmup_epochs:
        return schedule.lr * (t + 1e-3) / schedule.lr_warmup_epochs
    if schedule.lr_schedule == "constant":
        return schedule.lr
    return 0.5 * schedule.lr * (1.0 + math.cos(math.pi * t / schedule.epochs))


def optimizer(model: torch.nn.Module, schedule: ScheduleConfig) -> torch.optim.Optimizer:
    """The schedule's optimizer over the model's trainable parameters. AdamW decays the weight
    matrices only, not biases and normalisation weights (the usual transformer recipe)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if schedule.optimizer == "adamw":
        decay = [p for p in params if p.dim() > 1]
        rest = [p for p in params if p.dim() <= 1]
        groups = [{"params": decay, "weight_decay": schedule.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=schedule.lr)
    return torch.optim.SGD(
        params,
        lr=schedule.lr,
        momentum=schedule.momentum,
        nesterov=schedule.nesterov and schedule.momentum > 0,
        weight_decay=schedule.weight_decay,
    )
