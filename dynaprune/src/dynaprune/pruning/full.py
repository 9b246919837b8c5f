from __future__ import annotations

import torch

from .base import PruningMethod, Selection


class Full(PruningMethod):
    """No pruning: every sample, every epoch (the s = 0 reference; the rate is ignored)."""

    name = "full"
    uses_rate = False

    def select(self, draw, stats, gen) -> Selection:
        return Selection(torch.arange(len(stats), device=stats.loss.device))
