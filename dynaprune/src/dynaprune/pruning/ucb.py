from __future__ import annotations

from dataclasses import dataclass

import torch

from ..schema import in_range, non_negative, spec
from .base import MethodOptions, PruningMethod, Selection, top_plus_explore


@dataclass(frozen=True)
class UCBOptions(MethodOptions):
    c: float = spec(1.0, **non_negative())
    sqrt: bool = False
    momentum: float = spec(0.8, **in_range(0.0, 1.0, lo_open=True))
    # Share of K drawn uniformly from the rest; 0 as published (UCB never explores).
    epsilon: float = spec(0.0, **in_range(0.0, 1.0))

    def ema_momentum(self) -> float:
        return self.momentum


class UCB(PruningMethod):
    """Raju et al.: score = EMA mean + c * EMA variance of the loss (or c * its sqrt); top K.

    The mean and variance follow the reference implementation's update (dynaprune/src/dynaprune/stats.py):
    v <- (1 - m) v + m d^2, mu <- (1 - m) mu + m x, with m = `momentum` on the new value.
    """

    name = "ucb"
    Options = UCBOptions

    def score(self, stats) -> torch.Tensor:
        spread = stats.var.clamp_min(0).sqrt() if self.options.sqrt else stats.var
        return stats.mean + self.options.c * spread

    def select(self, draw, stats, gen) -> Selection:
        idx = top_plus_explore(self.score(stats), self.k, self.options.epsilon, gen)
        return Selection(idx, self.uniform_weights(self.k, idx.device))
