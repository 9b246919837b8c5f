"""Per-sample signals a method reads besides the loss. EMP's memory term for a classifier is the
entropy of its prediction; a task whose outputs are not class scores passes its own."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(softmax(logits)) per row: 0 for a one-hot prediction, log C for a uniform one."""
    logp = F.log_softmax(logits.float(), dim=1)
    return -(logp.exp() * logp).sum(dim=1)
