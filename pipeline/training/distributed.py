"""Data-parallel training with torch.distributed, as torchrun launches it.

`torchrun --nproc_per_node N stages/train.py ...` starts N processes with RANK, WORLD_SIZE and
LOCAL_RANK set; each joins one process group (NCCL on GPUs, gloo on CPU) and trains on its own
device. Every rank draws the same subset and order (the streams are keyed by seed and epoch),
trains a disjoint shard of each batch (DistributedDataParallel averages the gradients), and
all-gathers the per-sample losses and memory terms, so that every rank holds the same statistics
table and the next selection agrees everywhere. SimCLR's projections are all-gathered with their
gradients, so its negatives span the whole batch. Only rank 0 logs to MLflow and writes outputs.
Without torchrun there is one rank and none of this costs anything.
"""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist

from dynaprune.distributed import World

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
