"""SimCLR pre-training with dynamic data pruning: the supervised loop with another model, losses
and evaluation.

Each sample is scored from the training forward pass by its NT-Xent loss and, for EMP, the
self-supervised memory term at the base encoder's features; the per-epoch evaluation is a cheap
kNN probe of the frozen features.
"""

from __future__ import annotations

import torch
from torch import nn

from .augment import TwoViews
from .data import ImageDataset
from .distributed import World
from .evaluate import frozen_features, knn_accuracy
from .models import build_encoder
from .seeding import generator
from .ssl import ProjectionHead, nt_xent, ssl_memory
from .train import Trainer


def simclr_losses(z1: torch.Tensor, z2: torch.Tensor, h1: torch.Tensor, h2: torch.Tensor, temperature: float,
                  world: World | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: NT-Xent on the projections z (with graph) and EMP's memory term on the encoder
    features h (detached), for the batch's views 1 and 2. With `world` (under torchrun, the rows
    being this rank's shard of the batch), a sample's negatives are still the views of the whole
    batch: every rank's views are gathered, gradients flowing back to their owners, and this
    rank's rows are kept, so the values equal those of one process holding the batch."""
    if world is None or world.size == 1:
        return nt_xent(z1, z2, temperature), ssl_memory(h1, h2, temperature)
    # A sample's two views travel together, stacked, so one gather serves both.
    z, own = world.gather_with_grad(torch.stack([z1, z2], dim=1))
    (h,) = world.gather(torch.stack([h1, h2], dim=1))
    return nt_xent(*z.unbind(1), temperature)[own], ssl_memory(*h.unbind(1), temperature)[own]


class SimCLRNet(nn.ModuleDict):
    """Encoder and projection head in one forward, (h, z), so DDP sees the whole model."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self["encoder"](x)
        return h, self["head"](h)


class SimCLRTrainer(Trainer):
    section = "pretrain"
    warmup_stage = "pretrain_warmup"
    evaluate_keys = ("knn_acc",)

    def __init__(self, cfg, data: ImageDataset, device: torch.device | None = None, seed: int = 0):
        super().__init__(cfg, data, device, seed)
        p = cfg.pretrain
        self.views = TwoViews(*data.channel_stats(), self.device, p.min_scale, p.jitter, self.channels_last)

    def build_model(self, data: ImageDataset) -> nn.Module:
        p = self.cfg.pretrain
        encoder, width = build_encoder(self.cfg.model.arch, data.in_channels)
        return SimCLRNet({"encoder": encoder, "head": ProjectionHead(width, p.hidden, p.projection_dim)})

    def compiled_modules(self) -> list[nn.Module]:
        return [self.model["encoder"], self.model["head"]]

    @property
    def encoder(self) -> nn.Module:
        return self.model["encoder"]

    def losses(self, idx: torch.Tensor, gen: torch.Generator | None,
               sharded: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        v1, v2 = self.views(self.train_x[idx], gen)
        with self.autocast():
            h, z = self.net(torch.cat([v1, v2]))
        h1, h2 = h.detach().float().chunk(2)
        z1, z2 = z.float().chunk(2)
        return simclr_losses(z1, z2, h1, h2, self.t.temperature, self.world if sharded else None)

    def selection_labels(self, data: ImageDataset) -> None:
        return None  # self-supervised: no method may see the labels

    def score_generator(self) -> torch.Generator:
        # NT-Xent needs two views: the scoring pass draws them from a fixed seed.
        return generator(self.seed, "score", device=self.device)

    @property
    def score_batch_size(self) -> int:
        return self.t.batch_size  # NT-Xent depends on the batch: score with the training batch size

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return frozen_features(self.encoder, images, self.inputs, self.eval_batch_size, self.autocast)

    def evaluate(self) -> dict[str, float]:
        return {"knn_acc": knn_accuracy(self.features(self.train_x), self.train_y, self.features(self.test_x),
                                        self.test_y)}
