"""The processes of a data-parallel run, as torch.distributed sees them: which rank this is,
how many there are, and the collectives a pruner needs so that every rank keeps the same
per-sample statistics (gathering a batch's shards in rank order). Without an initialised
process group there is one rank and nothing is communicated."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def current(cls) -> World:
        """The process group this process already belongs to (set up by the caller, as in one's
        own DDP script), or a single process."""
        if not (dist.is_available() and dist.is_initialized()):
            return cls()
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's part of a batch: every size-th element from position rank (disjoint shards
        that together cover the batch)."""
        return batch if self.size == 1 else batch[self.rank :: self.size]

    def gather(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Each tensor concatenated along dim 0 over the ranks, in rank order (the number of rows
        may differ by rank). No gradient flows back: for statistics and logging."""
        if self.size == 1:
            return tensors
        sizes = self._row_counts(tensors[0])
        return tuple(_all_rows(t, sizes) for t in tensors)

    def gather_with_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, slice]:
        """`x` concatenated along dim 0 over the ranks, and the slice of the result that is this
        rank's own rows. Gradients flow back to every rank's `x`: what each rank's loss contributes
        to a row is summed on the rank that owns it, so a loss that compares the whole batch (SimCLR's
        negatives) trains as it would in one process."""
        if self.size == 1:
            return x, slice(0, x.shape[0])
        sizes = self._row_counts(x)
        start = sum(sizes[: self.rank])
        own = slice(start, start + sizes[self.rank])
        return _AllRows.apply(x, sizes, own), own

    def _row_counts(self, x: torch.Tensor) -> list[int]:
        n = torch.tensor([x.shape[0]], device=x.device)
        counts = [torch.zeros_like(n) for _ in range(self.size)]
        dist.all_gather(counts, n)
        return [int(c) for c in counts]

    def average_buffers(self, module: torch.nn.Module) -> None:
        """Average floating-point buffers (BatchNorm's running statistics) over the ranks: each rank
        updated them on its own shard, and every rank must evaluate, and rank 0 save, the same model."""
        if self.size == 1:
            return
        for buffer in module.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer)
                buffer /= self.size


def _all_rows(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """all_gather along dim 0 for row counts that differ by rank: pad to the longest, then trim."""
    padded = x.new_zeros((max(sizes), *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:n] for part, n in zip(parts, sizes)])


class _AllRows(torch.autograd.Function):
    """_all_rows with a backward: every rank's gradient of the whole result is summed (all_reduce)
    and each rank keeps its own rows. An all_reduce rather than a reduce-scatter, because gloo has
    no reduce-scatter and the tensors here are small (a batch of embeddings)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int], own: slice) -> torch.Tensor:
        ctx.own = own
        return _all_rows(x.detach(), sizes)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.own], None, None
