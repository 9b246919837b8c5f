from __future__ import annotations

from dataclasses import dataclass

import torch

from ..seeding import generator
from .base import MethodOptions, PruningMethod, Selection, random_subset, stratified_subset


@dataclass(frozen=True)
class StaticRandomOptions(MethodOptions):
    # Class-stratified as DLC's authors draw it; False draws K uniformly from all N.
    per_class: bool = True


class StaticRandom(PruningMethod):
    """One subset drawn at the first pruned epoch and kept for every pruned epoch.

    Class-stratified by default: each class keeps round((1 - s) * n_c) of its n_c samples. Where
    the task has no labels (SimCLR pre-training) or `per_class` is off, K uniform from all N.
    """

    name = "static_random"
    Options = StaticRandomOptions

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._subset: torch.Tensor | None = None

    def select(self, draw, stats, gen) -> Selection:
        if self._subset is None:
            # Keyed by the seed alone, so a resumed run redraws the very same subset.
            own = generator(self.seed, "static_random")
            device = stats.loss.device
            if self.options.per_class and self.labels is not None:
                self._subset = stratified_subset(self.labels.cpu(), self.rate, own).to(device)
            else:
                self._subset = random_subset(torch.arange(len(stats), device=device), self.k, own)
        return Selection(self._subset, self.uniform_weights(len(self._subset), self._subset.device))
