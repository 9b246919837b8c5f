from __future__ import annotations

from dataclasses import dataclass

import torch

from ..schema import in_range, spec
from .base import MethodOptions, PruningMethod, Selection, top_plus_explore


@dataclass(frozen=True)
class EpsilonGreedyOptions(MethodOptions):
    epsilon: float = spec(0.1, **in_range(0.0, 1.0))
    momentum: float = spec(1.0, **in_range(0.0, 1.0, lo_open=True))

    def ema_momentum(self) -> float:
        return self.momentum


class EpsilonGreedy(PruningMethod):
    """Raju et al.: the top (1 - eps)K samples by (EMA) loss plus eps*K uniform from the rest."""

    name = "epsilon_greedy"
    Options = EpsilonGreedyOptions

    def score(self, stats) -> torch.Tensor:
        return stats.mean

    def select(self, draw, stats, gen) -> Selection:
        idx = top_plus_explore(self.score(stats), self.k, self.options.epsilon, gen)
        return Selection(idx, self.uniform_weights(self.k, idx.device))
