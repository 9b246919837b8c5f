"""DLC (downstream learning complexity) scores and FlexRand selection (Jiang et al., ICLR 2025).

DLC needs no training on the downstream set: the pre-trained encoder is masked ever more
(globally smallest |w| first), and a sample is hard when, across masking levels, its features
stop landing near its class prototype. FlexRand then keeps, per class, half its budget from the
easy interval and half from the hard one, uniformly at random.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from dynaprune.pruning.base import keep_count, per_class

FeatureFn = Callable[[nn.Module], torch.Tensor]  # encoder -> features of every sample, [N, D]


def prunable_weights(encoder: nn.Module) -> list[torch.Tensor]:
    """Every conv weight and every linear weight of the encoder (it has no head)."""
    return [m.weight for m in encoder.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]


def masked_counts(num_weights: int, levels: int, delta: float) -> list[int]:
    """Weights zeroed at each level k: round(r_k * n) with r_k = 1 - (1 - delta)^k (halves up)."""
    return [keep_count((1.0 - delta) ** k, num_weights) for k in range(levels)]  # keep_count(s, n) = round((1-s) n)


@torch.no_grad()
def masked_encoders(encoder: nn.Module, levels: int, delta: float) -> Iterator[nn.Module]:
    """A copy of the encoder masked to level 0, 1, ..., levels - 1 in turn. |w| is ranked once;
    each level zeroes the next smallest weights on top of the previous level (same copy, yielded
    again), so the cost is one copy, not one per level."""
    masked = copy.deepcopy(encoder).eval()
    weights = prunable_weights(masked)
    flat = [w.view(-1) for w in weights]
    order = torch.cat([w.abs() for w in flat]).argsort(stable=True)
    bounds = torch.tensor([0] + [w.numel() for w in flat], device=order.device).cumsum(0)
    zeroed = 0
    for count in masked_counts(int(bounds[-1]), levels, delta):
        chosen = order[zeroed:count]
        owner = torch.bucketize(chosen, bounds[1:], right=True)  # which tensor holds each index
        for i, w in enumerate(flat):
            w[chosen[owner == i] - bounds[i]] = 0.0
        zeroed = count
        yield masked


@torch.no_grad()
def dlc_scores(
    encoder: nn.Module, features: FeatureFn, labels: torch.Tensor, levels: int = 50, delta: float = 0.02
) -> torch.Tensor:
    """DLC per sample: the mean over masking levels of the cross-entropy of prototype logits
    1 / max(||h_k(x) - mu_c||, 1e-6), prototypes mu_c from the unmasked encoder. Higher = harder."""
    total = None
    prototypes = None
    for level, masked in enumerate(masked_encoders(encoder, levels, delta)):
        h = features(masked).float()
        if level == 0:  # nothing masked yet: the prototypes, fixed for every level
            classes = int(labels.max()) + 1
            sums = torch.zeros(classes, h.shape[1], device=h.device).index_add_(0, labels, h)
            prototypes = sums / torch.bincount(labels, minlength=classes).clamp_min(1)[:, None]
            total = torch.zeros(h.shape[0], device=h.device)
        logits = 1.0 / torch.cdist(h, prototypes).clamp_min(1e-6)
        total += F.cross_entropy(logits, labels, reduction="none")
    return total / levels


def flexrand(
    scores: torch.Tensor, labels: torch.Tensor, rate: float, gen: torch.Generator, gamma: float = 0.5
) -> torch.Tensor:
    """FlexRand: per class, sort by score ascending, split at round(gamma * n_c) into easy and hard,
    draw half of the class's budget round((1 - rate) * n_c) from each uniformly at random; when an
    interval is too small take all of it and fill from the other. Returns sorted indices."""
    kept = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        ranked = members[scores[members].argsort(stable=True)]
        split = keep_count(1.0 - gamma, len(ranked))
        easy, hard = ranked[:split], ranked[split:]
        budget = keep_count(rate, len(ranked))
        from_easy = min(budget // 2, len(easy))
        from_hard = min(budget - from_easy, len(hard))
        from_easy = budget - from_hard  # refill from easy when hard was too small
        for pool, take in ((easy, from_easy), (hard, from_hard)):
            kept.append(pool[torch.randperm(len(pool), generator=gen)[:take].to(pool.device)])
    return torch.cat(kept).sort().values


def dlc_top_k(scores: torch.Tensor, rate: float, hardest: bool, labels: torch.Tensor | None = None) -> torch.Tensor:
    """The easiest (or hardest) samples by DLC, as sorted indices: per class, round((1 - rate) * n_c)
    of each class's n_c as the authors select; with `labels` None, round((1 - rate) * N) globally."""
    if labels is None:
        k = keep_count(rate, scores.numel())
        return scores.argsort(descending=hardest, stable=True)[:k].sort().values
    kept = [
        members[scores[members].argsort(descending=hardest, stable=True)[:count]]
        for members, count in per_class(labels, rate)
    ]
    return torch.cat(kept).sort().values
