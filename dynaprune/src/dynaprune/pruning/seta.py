from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..schema import in_range, positive, spec
from .base import MethodOptions, PruningMethod, Selection, random_subset


@dataclass(frozen=True)
class SeTaOptions(MethodOptions):
    anneal: bool = True  # SeTa's annealing trains a random share, not all data
    groups: int = spec(5, **positive())  # G: k-means groups of the random share, by loss
    window: float = spec(0.9, **in_range(0.0, 1.0, lo_open=True))  # w: the window's share of the groups


def kmeans_1d(values: torch.Tensor, groups: int, iterations: int = 100) -> torch.Tensor:
    """Lloyd's k-means on scalars: each value's group, groups numbered by ascending centre.

    In one dimension every group is a run of the sorted values, so an iteration is a
    searchsorted against the midpoints between centres plus per-group means from prefix sums;
    centres start at the groups' quantiles (deterministic, unlike k-means++). Ends when no
    value changes group. Fewer distinct values than groups: each distinct value is a group.
    """
    n = values.numel()
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=values.device)
    x, order = values.float().sort()
    distinct = torch.unique_consecutive(x)
    if distinct.numel() <= groups:
        labels = torch.searchsorted(distinct, x)
    else:
        prefix = torch.cat([x.new_zeros(1, dtype=torch.float64), x.double().cumsum(0)])
        # The groups' middle quantiles, read off the sorted values.
        centres = x[((torch.arange(groups, device=x.device) + 0.5) * n / groups).long()].double()
        bounds = None
        for _ in range(iterations):
            # Group g holds the sorted values in [bounds[g], bounds[g + 1]): ties go to the lower group.
            mids = ((centres[1:] + centres[:-1]) / 2).float()
            new = torch.cat(
                [
                    x.new_zeros(1, dtype=torch.long),
                    torch.searchsorted(x, mids, right=True),
                    torch.full((1,), n, dtype=torch.long, device=x.device),
                ]
            )
            if bounds is not None and torch.equal(new, bounds):
                break
            bounds = new
            sizes = bounds[1:] - bounds[:-1]
            sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
            # An emptied group keeps its centre (it cannot steal from its neighbours in 1-D order).
            centres = torch.where(sizes > 0, sums / sizes.clamp_min(1), centres)
        labels = torch.repeat_interleave(torch.arange(groups, device=x.device), bounds[1:] - bounds[:-1])
        # Renumber non-empty groups 0..G'-1 in order.
        labels = torch.unique_consecutive(labels, return_inverse=True)[1]
    out = torch.empty(n, dtype=torch.long, device=values.device)
    out[order] = labels
    return out


def window_groups(draw: int, groups: int, window: float) -> range:
    """The groups (0 = easiest) SeTa keeps at its `draw`-th pruned epoch: all at the first, then a
    window of round(w * G) consecutive groups starting at draw mod (G - window + 1). round() is
    Python's, halves to even, as in the authors' code: G = 5, w = 0.9 gives a window of 4."""
    size = min(groups, max(1, round(window * groups)))
    if draw == 0:
        return range(groups)
    start = draw % (groups - size + 1)
    return range(start, start + size)


class SeTa(PruningMethod):
    """SeTa (Zhou et al., CVPR 2025): random pruning, then a sliding window over loss groups.

    Each pruned epoch: a uniform random share (1 - s_r) of all N (int((1 - s_r) N) samples, as
    the authors draw it), grouped by 1-D k-means on the last loss, easiest group first; a window
    of groups slides from easy to hard, one group per epoch, wrapping around. s_r = 1 - (1 - s)/w,
    so that the kept share is about (1 - s) at study rate s; the achieved saving is reported.
    Annealing epochs train a fresh random (1 - s_r) share. No loss rescaling, as published.
    """

    name = "seta"
    Options = SeTaOptions

    @property
    def keep_ratio(self) -> float:
        """1 - s_r, clamped to [0.1, 1] as the authors clamp it."""
        return min(1.0, max(0.1, (1.0 - self.rate) / self.options.window))

    def random_share(self, stats, gen) -> torch.Tensor:
        n = len(stats)
        return random_subset(
            torch.arange(n, device=stats.loss.device), int(math.floor(n * self.keep_ratio + 1e-9)), gen
        )

    def select(self, draw, stats, gen) -> Selection:
        share = self.random_share(stats, gen)
        group = kmeans_1d(stats.loss[share], self.options.groups)
        kept = window_groups(draw, int(group.max()) + 1 if group.numel() else 1, self.options.window)
        idx = share[(group >= kept.start) & (group < kept.stop)]
        return Selection(idx, self.uniform_weights(idx.numel(), idx.device))

    def anneal(self, stats, gen) -> Selection:
        return Selection(self.random_share(stats, gen))
