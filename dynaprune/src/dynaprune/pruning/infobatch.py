from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .base import MethodOptions, PruningMethod, Selection, random_subset


@dataclass(frozen=True)
class InfoBatchOptions(MethodOptions):
    rescale: bool = True
    anneal: bool = True


class InfoBatch(PruningMethod):
    """InfoBatch (Qin et al., ICLR 2024) with r = the study's rate.

    Well-learned = last loss below the mean of all N last losses. A random fraction r of the
    well-learned set is dropped (round((1 - r) * n) kept, uniformly); kept well-learned samples
    get loss weight 1/(1 - r). Annealing (full data, weight 1, from epoch delta * E) is a
    default-on switch. r is not the removed fraction: the run reports its achieved saving.
    """

    name = "infobatch"
    Options = InfoBatchOptions

    def select(self, draw, stats, gen) -> Selection:
        score = stats.loss
        well_learned = score < score.mean()
        easy = well_learned.nonzero().squeeze(1)
        hard = (~well_learned).nonzero().squeeze(1)
        n_keep = int(math.floor((1.0 - self.rate) * easy.numel() + 0.5))
        kept_easy = random_subset(easy, n_keep, gen)
        weights = torch.cat(
            [
                torch.ones(hard.numel(), device=score.device),
                torch.full((n_keep,), 1.0 / (1.0 - self.rate), device=score.device),
            ]
        )
        return Selection(torch.cat([hard, kept_easy]), weights)
