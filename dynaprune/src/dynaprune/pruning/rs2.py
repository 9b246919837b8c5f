from __future__ import annotations

import torch

from ..seeding import generator
from .base import PruningMethod, Selection


class RS2(PruningMethod):
    """RS2 (Okanovic et al., ICLR 2024): repeated random sampling *without* replacement.

    The run walks one stream of seeded permutations of all N samples, K per selection, so every
    sample is trained once before any is trained twice. Where a selection straddles the end of a
    permutation, it takes the tail of that one and the head of the next; the tail's samples are
    placed at the end of the next permutation, so no selection holds a sample twice and every
    selection holds exactly K. (The authors' code instead wraps onto the start of the same
    permutation, one sample short, then reshuffles; the spec asks for the stricter property.)
    Stateless in effect: a fresh instance (a resumed run) rebuilds the same stream from the seed.
    """

    name = "rs2"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._perms: dict[int, torch.Tensor] = {}  # pass number -> its permutation (the last two)

    def permutation(self, q: int) -> torch.Tensor:
        """The q-th pass over the data, a permutation of 0..N-1."""
        n, k = self.num_samples, self.k
        if not self._perms or q < min(self._perms):
            self._perms = {0: torch.randperm(n, generator=generator(self.seed, "rs2", 0))}
        while q not in self._perms:
            last = max(self._perms)
            prev, gen = self._perms[last], generator(self.seed, "rs2", last + 1)
            tail = ((last + 1) * n) % k  # samples of pass `last` that share a selection with pass last + 1
            head, end = prev[: n - tail], prev[n - tail :]
            self._perms = {
                last: prev,
                last + 1: torch.cat(
                    [head[torch.randperm(head.numel(), generator=gen)], end[torch.randperm(end.numel(), generator=gen)]]
                ),
            }
        return self._perms[q]

    def select(self, draw, stats, gen) -> Selection:
        n, k = self.num_samples, self.k
        if k == 0:
            return Selection(torch.zeros(0, dtype=torch.long, device=stats.loss.device))
        start, stop = draw * k, (draw + 1) * k  # positions in the stream of passes
        first, last = start // n, (stop - 1) // n
        if first == last:
            idx = self.permutation(first)[start - first * n : stop - first * n]
        else:
            idx = torch.cat([self.permutation(first)[start - first * n :], self.permutation(last)[: stop - last * n]])
        idx = idx.to(stats.loss.device)
        return Selection(idx, self.uniform_weights(k, idx.device))
