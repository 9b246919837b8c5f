"""Evaluation passes: accuracy, and per-sample loss plus memory term without training."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(softmax(logits)) per row: 0 for a one-hot prediction, log C for a uniform one."""
    logp = F.log_softmax(logits.float(), dim=1)
    return -(logp.exp() * logp).sum(dim=1)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, prepare: Callable[[torch.Tensor], torch.Tensor],
            batch_size: int, autocast: Callable) -> torch.Tensor:
    """Logits (float32) for uint8 `images`, in eval mode, batch by batch."""
    was_training = model.training
    model.eval()
    try:
        out = []
        for start in range(0, images.shape[0], batch_size):
            with autocast():
                out.append(model(prepare(images[start:start + batch_size])).float())
        return torch.cat(out)
    finally:
        model.train(was_training)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == labels).float().mean())
