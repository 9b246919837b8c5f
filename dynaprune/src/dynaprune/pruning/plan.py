"""Which samples each epoch trains, in which order, with which weights: warm-up, pruning,
annealing, rescaling. The study's loop and `Pruner` both take an epoch from here, so that they
train the same samples in the same order with the same weights."""

from __future__ import annotations

import math

import torch

from ..seeding import generator
from ..stats import SampleStats
from .base import PruningMethod, Selection


class EpochPlan:
    """Wraps a method with the switches every method shares.

    Epochs are numbered 0..E-1 over the whole run. Epochs < W are the warm-up (all data). With
    annealing, epochs e >= floor(delta * E) are the method's annealing epochs (all data with weight
    1; SeTa: a random share), as InfoBatch's authors' sampler does: it prunes while its 1-based
    epoch counter is <= delta * E, so at E = 6 the last epoch is full, at E = 200 the last 25. A
    fresh Selection is returned every epoch, so no weight can leak into the annealing phase. A
    selection is re-drawn every `select_every` pruned epochs and reused in between.
    """

    def __init__(self, method: PruningMethod, epochs: int, warmup_epochs: int, seed: int):
        self.method = method
        self.epochs = epochs
        self.warmup_epochs = warmup_epochs
        self.seed = seed
        opts = method.options
        # Rounded to 1e-9 first, so that 0.875 * 8 = 6.9999... still floors to 7.
        self.anneal_start = math.floor(round(opts.delta * epochs, 9)) if opts.anneal else epochs
        self._cached: tuple[int, Selection] | None = None

    def state_dict(self) -> dict:
        """The subset in use (a resumed run between two re-draws keeps training it)."""
        if self._cached is None:
            return {}
        drawn_at, sel = self._cached
        return {
            "drawn_at": drawn_at,
            "indices": sel.indices.cpu(),
            **({} if sel.weights is None else {"weights": sel.weights.cpu()}),
        }

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        if state:
            weights = state.get("weights")
            self._cached = (
                state["drawn_at"],
                Selection(state["indices"].to(device), None if weights is None else weights.to(device)),
            )

    def is_pruned(self, epoch: int) -> bool:
        return self.warmup_epochs <= epoch < self.anneal_start

    def select(self, epoch: int, stats: SampleStats) -> Selection:
        if epoch < self.warmup_epochs:
            return Selection(torch.arange(len(stats), device=stats.loss.device))
        if not self.is_pruned(epoch):
            return self.method.anneal(stats, generator(self.seed, "anneal", epoch))
        every = self.method.options.select_every
        drawn_at = epoch - (epoch - self.warmup_epochs) % every
        if self._cached is None or self._cached[0] != drawn_at:
            # Drawn from the (seed, epoch) stream: a rerun draws the same subset from the same table.
            draw = (drawn_at - self.warmup_epochs) // every
            sel = self.method.select(draw, stats, generator(self.seed, "select", drawn_at))
            if not self.method.options.rescale:
                sel = Selection(sel.indices)
            self._cached = (drawn_at, sel)
        return self._cached[1]

    def order(self, epoch: int, selection: Selection) -> Selection:
        """The selection in epoch `epoch`'s training order: a permutation drawn from the
        (seed, epoch) stream, applied to the indices and their weights alike."""
        perm = torch.randperm(len(selection), generator=generator(self.seed, "order", epoch))
        perm = perm.to(selection.indices.device)
        weights = None if selection.weights is None else selection.weights[perm]
        return Selection(selection.indices[perm], weights)


def weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """The batch loss: the mean of the per-sample losses, each times its selection weight."""
    return per_sample.mean() if weights is None else (per_sample * weights).mean()
