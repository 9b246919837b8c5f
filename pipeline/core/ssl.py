"""SimCLR pieces: the NT-Xent loss per sample, EMP's self-supervised memory term, the projection head.

Both losses see a batch of B images as 2B views laid out [view 1 of every image; view 2 of every
image], so view a's positive is view (a + B) mod 2B. Pure functions: no state, unit-tested against
closed-form values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _view_logits(a: torch.Tensor, b: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities / temperature between all 2B views, self-similarity masked out,
    and the index of each view's positive."""
    v = F.normalize(torch.cat([a, b]).float(), dim=1)
    logits = v @ v.T / temperature
    n = v.shape[0]
    logits = logits.masked_fill(torch.eye(n, dtype=torch.bool, device=v.device), float("-inf"))
    positive = (torch.arange(n, device=v.device) + n // 2) % n
    return logits, positive


def _per_sample(per_view: torch.Tensor) -> torch.Tensor:
    """Mean over each sample's two views: [2B] -> [B]."""
    return per_view.view(2, -1).mean(dim=0)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent per sample: for each view, cross-entropy of picking its positive among the other
    2B - 1 views; a sample's loss is the mean over its two views. Their mean is SimCLR's batch loss."""
    logits, positive = _view_logits(z1, z2, temperature)
    return _per_sample(F.cross_entropy(logits, positive, reduction="none"))


def ssl_memory(h1: torch.Tensor, h2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """EMP's self-supervised memory term per sample, on base-encoder features: the entropy of each
    view's softmax over the 2B - 1 other views, averaged over the sample's two views. 0 when the
    features single out the positive view, log(2B - 1) when they cannot tell any view apart."""
    logits, _ = _view_logits(h1, h2, temperature)
    logp = F.log_softmax(logits, dim=1)
    p = logp.exp()
    entropy = -(p * logp.masked_fill(p == 0, 0.0)).sum(dim=1)  # the masked self-term is 0 * -inf
    return _per_sample(entropy)


class ProjectionHead(nn.Sequential):
    """SimCLR's MLP head on top of the encoder: Linear-BN-ReLU-Linear."""

    def __init__(self, in_features: int, hidden: int = 512, out_features: int = 128):
        super().__init__(
            nn.Linear(in_features, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, out_features),
        )
