from __future__ import annotations

import torch

from .base import PruningMethod, Selection, random_subset


class Random(PruningMethod):
    """Random*: a fresh uniform subset of K samples every epoch."""

    name = "random"

    def select(self, draw, stats, gen) -> Selection:
        idx = random_subset(torch.arange(len(stats), device=stats.loss.device), self.k, gen)
        return Selection(idx, self.uniform_weights(self.k, idx.device))
