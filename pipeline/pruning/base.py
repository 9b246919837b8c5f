"""The interface every pruning method implements, and the options every method accepts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..schema import in_range, positive, spec
from ..stats import SampleStats


@dataclass(frozen=True)
class MethodOptions:
    """Switches any method takes (so comparisons can hold them equal).

    rescale: weight the loss of kept samples to keep the gradient's scale (1/(1 - s), or the
             method's own weights); anneal: train on all data, weight 1, once the epoch reaches
             delta * E; select_every: re-select every this many pruned epochs.
    """

    rescale: bool = False
    anneal: bool = False
    delta: float = spec(0.875, **in_range(0.0, 1.0, lo_open=True))
    select_every: int = spec(1, **positive())

    def ema_momentum(self) -> float:
        """Weight of the new value in the statistics table's moving averages."""
        return 1.0


@dataclass(frozen=True)
class Selection:
    """The samples to train in one epoch and, when rescaling, their loss weights (None: all 1)."""

    indices: torch.Tensor
    weights: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.indices.numel()


def keep_count(rate: float, num_samples: int) -> int:
    """K = round((1 - s) * N), rounding halves up (not Python's round-half-to-even)."""
    return int(math.floor((1.0 - rate) * num_samples + 0.5))


class PruningMethod:
    """Chooses each pruned epoch's subset from the statistics table.

    A subclass sets `name` and `Options` (a MethodOptions subclass with its own fields and
    defaults) and implements `select`. Every random draw uses the generator it is given, so
    the subset depends only on (seed, epoch).
    """

    name: ClassVar[str]
    Options: ClassVar[type[MethodOptions]] = MethodOptions
    uses_rate: ClassVar[bool] = True

    def __init__(self, options: MethodOptions, rate: float, num_samples: int, seed: int = 0):
        self.options = options
        self.seed = seed
        self.rate = rate
        self.num_samples = num_samples
        self.k = keep_count(rate, num_samples)

    def select(self, epoch: int, stats: SampleStats, gen: torch.Generator) -> Selection:
        raise NotImplementedError

    def uniform_weights(self, count: int, device: torch.device) -> torch.Tensor:
        """The rescaling weight 1/(1 - s) for every kept sample."""
        return torch.full((count,), 1.0 / (1.0 - self.rate), device=device)


def random_subset(pool: torch.Tensor, count: int, gen: torch.Generator) -> torch.Tensor:
    """`count` members of `pool` drawn uniformly without replacement (draws on CPU for determinism)."""
    order = torch.randperm(pool.numel(), generator=gen)[:count]
    return pool[order.to(pool.device)]


def top_k(score: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the `count` highest scores; ties go to the lower index, on every device."""
    if count <= 0:
        return torch.empty(0, dtype=torch.long, device=score.device)
    # A stable descending sort makes ties deterministic; topk's tie order is unspecified.
    return torch.sort(score, descending=True, stable=True).indices[:count]


def top_plus_explore(score: torch.Tensor, k: int, epsilon: float, gen: torch.Generator) -> torch.Tensor:
    """The top (1 - eps)K by score plus eps*K drawn uniformly from the rest (eps*K rounded half up)."""
    n_explore = int(math.floor(epsilon * k + 0.5))
    top = top_k(score, k - n_explore)
    rest_mask = torch.ones_like(score, dtype=torch.bool)
    rest_mask[top] = False
    rest = rest_mask.nonzero().squeeze(1)
    return torch.cat([top, random_subset(rest, n_explore, gen)])
