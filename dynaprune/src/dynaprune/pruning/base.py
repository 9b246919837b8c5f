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
             method's own weights); anneal: epochs e >= floor(delta * E) (numbered from 0) train
             on all data with weight 1 (SeTa: a random share); select_every: re-select every this
             many pruned epochs.
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
    defaults) and implements `select(draw, stats, gen)`, where `draw` counts the run's selections
    (0 for the first pruned epoch; with select_every > 1, one per re-draw). Every random draw uses
    the generator it is given (or one derived from the seed), so the subset depends only on
    (seed, draw). `labels` (one class per sample, or None where a task has none, as in SimCLR)
    serve class-stratified methods. `reads` names the per-sample signals beyond the loss that
    `select` reads from the table (`stats.signal(name)`); a run refuses a method whose signals
    its task does not produce.
    """

    name: ClassVar[str]
    Options: ClassVar[type[MethodOptions]] = MethodOptions
    uses_rate: ClassVar[bool] = True
    reads: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, options: MethodOptions, rate: float, num_samples: int, seed: int = 0, labels: torch.Tensor | None = None
    ):
        self.options = options
        self.seed = seed
        self.rate = rate
        self.num_samples = num_samples
        self.labels = labels
        self.k = keep_count(rate, num_samples)
        self.check(options, rate)

    @property
    def stratified(self) -> bool:
        """Whether this configuration draws per class, and so needs the labels."""
        return bool(getattr(self.options, "per_class", False))

    @classmethod
    def check(cls, options: MethodOptions, rate: float) -> None:
        """Raise ConfigError where these options cannot run at `rate` (params.yaml's grids are
        checked with it when they load, so that a cell does not fail halfway through a study)."""

    def select(self, draw: int, stats: SampleStats, gen: torch.Generator) -> Selection:
        raise NotImplementedError

    def anneal(self, stats: SampleStats, gen: torch.Generator) -> Selection:
        """An annealing epoch's selection: all data with weight 1 (SeTa keeps a random share)."""
        return Selection(torch.arange(len(stats), device=stats.loss.device))

    def uniform_weights(self, count: int, device: torch.device) -> torch.Tensor:
        """The rescaling weight 1/(1 - s) for every kept sample."""
        return torch.full((count,), 1.0 / (1.0 - self.rate), device=device)


def random_subset(pool: torch.Tensor, count: int, gen: torch.Generator) -> torch.Tensor:
    """`count` members of `pool` drawn uniformly without replacement (draws on CPU for determinism)."""
    if count <= 0:
        return pool[:0]
    order = torch.randperm(pool.numel(), generator=gen)[:count]
    return pool[order.to(pool.device)]


def per_class(labels: torch.Tensor, rate: float) -> list[tuple[torch.Tensor, int]]:
    """For each class (ascending): its members' indices and how many of them a class-stratified
    selection keeps at `rate`, round((1 - rate) * n_c), halves up (as DLC's authors budget)."""
    groups = []
    for c in torch.unique(labels).tolist():
        members = (labels == c).nonzero().squeeze(1)
        groups.append((members, keep_count(rate, members.numel())))
    return groups


def stratified_subset(labels: torch.Tensor, rate: float, gen: torch.Generator) -> torch.Tensor:
    """A class-stratified uniform draw, ascending: round((1 - rate) * n_c) of each class's n_c
    members (per_class), each class drawn in turn from `gen`."""
    return torch.cat([random_subset(members, count, gen) for members, count in per_class(labels, rate)]).sort().values


def top_k_mask(score: torch.Tensor, count: int) -> torch.Tensor:
    """Mask of the `count` highest scores; ties at the threshold go to the lower index, on every device.

    O(N): one selection of the count-th largest value (no full sort: a stable sort of ImageNet's
    1.28M scores alone takes ~150 ms on a CPU), then masks.
    """
    n = score.numel()
    if count >= n:
        return torch.ones(n, dtype=torch.bool, device=score.device)
    if count <= 0:
        return torch.zeros(n, dtype=torch.bool, device=score.device)
    threshold = torch.kthvalue(score, n - count + 1).values
    mask = score > threshold
    ties = (score == threshold).nonzero().squeeze(1)
    mask[ties[: count - int(mask.sum())]] = True
    return mask


def top_k(score: torch.Tensor, count: int) -> torch.Tensor:
    """Indices (ascending) of the `count` highest scores; ties go to the lower index."""
    return top_k_mask(score, count).nonzero().squeeze(1)


def top_plus_explore(score: torch.Tensor, k: int, epsilon: float, gen: torch.Generator) -> torch.Tensor:
    """The top (1 - eps)K by score plus eps*K drawn uniformly from the rest (eps*K rounded half up)."""
    n_explore = int(math.floor(epsilon * k + 0.5))
    top = top_k_mask(score, k - n_explore)
    rest = (~top).nonzero().squeeze(1)
    return torch.cat([top.nonzero().squeeze(1), random_subset(rest, n_explore, gen)])
