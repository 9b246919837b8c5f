from __future__ import annotations

from dataclasses import dataclass

import torch

from ..schema import spec
from .epsilon_greedy import EpsilonGreedy, EpsilonGreedyOptions


@dataclass(frozen=True)
class EMPOptions(EpsilonGreedyOptions):
    # Negative beta is a valid ablation: it favours samples the model already remembers.
    beta: float = spec(1.0)


class EMP(EpsilonGreedy):
    """Enhance Memory Pruning: score = (EMA) loss + beta * memory term, epsilon-greedy selection.

    The memory term is the last observed entropy of the model's prediction (supervised) or of
    the encoder's view-similarity distribution (SimCLR); see docs/methods.md. With beta = 0
    this is exactly `epsilon_greedy`, so any difference is the memory term's.
    """

    name = "emp"
    Options = EMPOptions
    reads = ("memory",)

    def score(self, stats) -> torch.Tensor:
        return stats.mean + self.options.beta * stats.signal("memory")
