from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..schema import in_range, spec
from .base import MethodOptions, PruningMethod, Selection, random_subset, top_k


@dataclass(frozen=True)
class OrderDPOptions(MethodOptions):
    # The uniform random share of all N drawn first; the authors' CIFAR command uses 0.8
    # (with their top-q share 0.375: 0.8 * 0.375 = 0.3 kept, i.e. s = 0.7).
    subset: float = spec(0.8, **in_range(0.0, 1.0, lo_open=True))


class OrderDP(PruningMethod):
    """OrderDP (ICLR 2026, "A Theoretically Guaranteed Lossless Dynamic Data Pruning Framework").

    Each pruned epoch: draw a uniform random share `subset` of all N samples (round(subset * N),
    without replacement), then keep the K = round((1 - s) * N) of them with the highest last
    loss. The authors' top-q share is therefore K / round(subset * N): the study's rate fixes K,
    as for every other method, so its achieved saving equals the nominal rate. No weights and
    no annealing by default, as in the authors' code (its delta is stored but never prunes less).
    """

    name = "orderdp"
    Options = OrderDPOptions

    def __init__(self, options, rate, num_samples, seed=0, labels=None):
        super().__init__(options, rate, num_samples, seed, labels)
        self.subset_size = max(self.k, int(math.floor(options.subset * num_samples + 0.5)))

    @classmethod
    def check(cls, options, rate) -> None:
        if 1.0 - rate > options.subset + 1e-9:
            raise ConfigError(
                f"orderdp keeps {1 - rate:g} of the data at rate {rate:g}, more than its random share subset = "
                f"{options.subset:g}: set its subset to at least {1 - rate:g} or leave rate {rate:g} out of its grid"
            )

    def select(self, draw, stats, gen) -> Selection:
        pool = random_subset(torch.arange(len(stats), device=stats.loss.device), self.subset_size, gen)
        # Ties (e.g. equal starting scores) go to the earlier-drawn sample, i.e. are broken at random.
        kept = pool[top_k(stats.loss[pool], self.k)]
        return Selection(kept, self.uniform_weights(self.k, kept.device))
