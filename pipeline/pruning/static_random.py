from __future__ import annotations

import torch

from ..seeding import generator
from .base import PruningMethod, Selection, random_subset


class StaticRandom(PruningMethod):
    """One uniform subset of K drawn at the first pruned epoch and kept for every pruned epoch."""

    name = "static_random"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._subset: torch.Tensor | None = None

    def select(self, epoch, stats, gen) -> Selection:
        if self._subset is None:
            # Keyed by the seed alone, so a resumed run redraws the very same subset.
            own = generator(self.seed, "static_random")
            self._subset = random_subset(torch.arange(len(stats), device=stats.loss.device), self.k, own)
        return Selection(self._subset, self.uniform_weights(self.k, self._subset.device))
