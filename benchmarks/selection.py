"""Per-epoch selection time of every registered method on a synthetic statistics table.

The table is filled with random losses, variances and memory terms of size N on the training
device (ImageNet's N = 1,281,167 needs no images: selection only reads the table).
"""

from __future__ import annotations

import statistics
import time

import torch
from loops import SEED, synchronize

from dynaprune import pruning
from dynaprune.seeding import generator
from dynaprune.stats import SampleStats


def synthetic_stats(n: int, device: torch.device) -> SampleStats:
    stats = SampleStats(n, device=device, signals=("memory",))
    gen = torch.Generator().manual_seed(SEED)
    stats.loss.copy_(torch.rand(n, generator=gen) * 3.0)
    stats.mean.copy_(torch.rand(n, generator=gen) * 3.0)
    stats.var.copy_(torch.rand(n, generator=gen))
    stats.signal("memory").copy_(torch.rand(n, generator=gen) * 2.3)
    stats.last_epoch.fill_(0)
    return stats


def selection_ms(n: int, rate: float, device: torch.device, repeats: int) -> dict[str, float]:
    """Median milliseconds of one epoch's selection, per method, drawing from a new epoch's stream each time."""
    stats = synthetic_stats(n, device)
    result = {}
    for name in pruning.REGISTRY:
        method = pruning.create(name, None, rate, n, SEED)
        times = []
        for epoch in range(1, repeats + 1):
            synchronize(device)
            t0 = time.perf_counter()
            method.select(epoch, stats, generator(SEED, "select", epoch))
            synchronize(device)
            times.append(1000.0 * (time.perf_counter() - t0))
        result[name] = statistics.median(times)
    return result
