"""Deterministic random streams keyed by (seed, epoch, purpose).

Every random choice of a run (which samples to keep, the order to train them in, the
augmentations) draws from its own generator derived from the run's seed, the epoch and a
purpose tag. So a selection depends on nothing but (seed, epoch): every DDP rank computes the
same subset, and a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, *keys: object) -> int:
    text = ":".join(str(k) for k in (seed, *keys))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)


def generator(seed: int, *keys: object, device: str | torch.device = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(derive_seed(seed, *keys))
