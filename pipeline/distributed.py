"""Data-parallel training with torch.distributed, as torchrun launches it.

`torchrun --nproc_per_node N stages/train.py ...` starts N processes with RANK, WORLD_SIZE and
LOCAL_RANK set; each joins one process group (NCCL on GPUs, gloo on CPU) and trains on its own
device. Every rank draws the same subset and order (the streams are keyed by seed and epoch),
trains a disjoint shard of each batch (DistributedDataParallel averages the gradients), and
all-gathers the per-sample losses and memory terms, so that every rank holds the same statistics
table and the next selection agrees everywhere. Only rank 0 logs to MLflow and writes outputs.
Without torchrun there is one rank and none of this costs anything.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's part of a batch: every size-th element from position rank (disjoint shards
        that together cover the batch)."""
        return batch if self.size == 1 else batch[self.rank::self.size]

    def gather(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Each 1-D tensor concatenated over the ranks in rank order (lengths may differ by rank)."""
        if self.size == 1:
            return tensors
        n = torch.tensor([tensors[0].numel()], device=tensors[0].device)
        sizes = [torch.zeros_like(n) for _ in range(self.size)]
        dist.all_gather(sizes, n)
        sizes = [int(s) for s in sizes]
        longest = max(sizes)
        out = []
        for t in tensors:
            padded = torch.zeros(longest, dtype=t.dtype, device=t.device)
            padded[:t.numel()] = t
            parts = [torch.empty_like(padded) for _ in range(self.size)]
            dist.all_gather(parts, padded)
            out.append(torch.cat([p[:s] for p, s in zip(parts, sizes)]))
        return tuple(out)

    def average_buffers(self, module: torch.nn.Module) -> None:
        """Average floating-point buffers (BatchNorm's running statistics) over the ranks: each rank
        updated them on its own shard, and every rank must evaluate, and rank 0 save, the same model."""
        if self.size == 1:
            return
        for buffer in module.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer)
                buffer /= self.size


_world: World | None = None


def setup(device: str) -> World:
    """The world this process belongs to: joins torchrun's process group on first call."""
    global _world
    if _world is None:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            _world = World()
        else:
            if not dist.is_initialized():
                gpu = device != "cpu" and torch.cuda.is_available()
                dist.init_process_group("nccl" if gpu else "gloo")
                atexit.register(dist.destroy_process_group)
            _world = World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return _world
