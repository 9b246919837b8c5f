"""The optimizer of a schedule and its learning rate at any fractional epoch."""

from __future__ import annotations

import math

import torch

from .settings import ScheduleConfig


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
