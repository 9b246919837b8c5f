"""What a run trains and how it scores samples: a task owns the model, the per-sample losses and
signals of a training forward pass, and the per-epoch evaluation. The epoch loop
(pipeline/training/loop.py) drives any task the same way.

A task declares `signals`, the per-sample values beside the loss that each forward pass
produces (here every task produces `memory`, EMP's memory term). Adding a signal: compute it in
the task's `losses` and name it in `signals`; a pruning method reads it by name
(`PruningMethod.reads`, `stats.signal(name)`). Nothing in the loop or the table changes.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dynaprune.seeding import derive_seed, generator
from dynaprune.signals import prediction_entropy

from ..core.augment import InputPipeline, TwoViews
from ..core.data import ImageDataset
from ..core.evaluate import Features, accuracy, frozen_features, knn_accuracy, predict
from ..core.models import build_encoder, build_model
from ..core.ssl import ProjectionHead, nt_xent, ssl_memory
from ..core.text import TextDataset
from ..core.text_models import get as text_model
from .distributed import World
from .runtime import Runtime
from .settings import NLUConfig, PretrainConfig, TrainConfig

Signals = dict[str, torch.Tensor]


class Task:
    """The interface the epoch loop drives. A subclass sets the class attributes and, in
    __init__, `model` and `net` (through `runtime.place`) and the device-resident `train_x`."""

    metrics: ClassVar[tuple[str, ...]]  # what `evaluate` returns, the first being the headline
    signals: ClassVar[tuple[str, ...]] = ()

    runtime: Runtime
    model: nn.Module
    net: nn.Module
    num_samples: int
    # What training a sample costs, when samples differ (a text's tokens): the run then also reports
    # the saving weighted by it. None: every sample costs the same.
    sample_cost: torch.Tensor | None = None

    def losses(
        self, idx: torch.Tensor, gen: torch.Generator | None, sharded: bool = False
    ) -> tuple[torch.Tensor, Signals]:
        """Per-sample loss (with graph) and signals (detached) of the training samples `idx`, from
        one forward pass; augmented when `gen` is given. `sharded`: `idx` is this rank's shard of
        a training batch under torchrun, which matters only to losses that compare samples."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        raise NotImplementedError

    def selection_labels(self) -> torch.Tensor | None:
        """The labels class-stratified selection may use (None: the task has none to offer)."""
        return None

    def arrange(self, indices: torch.Tensor, batch_size: int, gen: torch.Generator) -> torch.Tensor | None:
        """How the epoch's shuffled `indices` form batches: a permutation of their positions, the
        batches being consecutive runs of `batch_size` (None: as they come). The samples trained
        are the same either way; only which go together changes."""
        return None

    def score_generator(self) -> torch.Generator | None:
        """The augmentation stream of a scoring pass (None: the samples as they are)."""
        return None

    @property
    def score_batch_size(self) -> int:
        return self.runtime.eval_batch_size

    def _hold_images(self, data: ImageDataset) -> None:
        """An image dataset on the device: training and test images and labels."""
        to_device = self.runtime.to_device
        self.train_x, self.train_y = to_device(data.train_x), to_device(data.train_y)
        self.test_x, self.test_y = to_device(data.test_x), to_device(data.test_y)
        self.num_samples = len(data)

    @staticmethod
    def _init_seed(seed: int) -> None:
        # The run's seed fixes the initial weights (a warm-up's; pruned runs load the warm-up's).
        torch.manual_seed(derive_seed(seed, "init"))


class Classifier(Task):
    """A task whose samples have classes (images or texts): cross-entropy per sample, memory = the
    entropy of the prediction, test accuracy; class-stratified methods read the training labels."""

    metrics = ("test_acc",)
    signals = ("memory",)
    train_y: torch.Tensor

    def __init__(self, *, runtime: Runtime, settings: TrainConfig | NLUConfig, seed: int):
        self.runtime = runtime
        self.label_smoothing = settings.label_smoothing
        self._init_seed(seed)

    def classified(self, logits: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, Signals]:
        """The per-sample loss and signals of the training samples `idx` from their logits."""
        per_sample = F.cross_entropy(
            logits.float(), self.train_y[idx], reduction="none", label_smoothing=self.label_smoothing
        )
        return per_sample, self.sample_signals(logits.detach())

    def sample_signals(self, logits: torch.Tensor) -> Signals:
        """The per-sample signals of a batch's (detached) logits, one per name in `signals`."""
        return {"memory": prediction_entropy(logits)}

    def selection_labels(self):
        return self.train_y


class SupervisedTask(Classifier):
    """Image classification."""

    def __init__(self, data: ImageDataset, *, runtime: Runtime, arch: str, settings: TrainConfig, seed: int = 0):
        super().__init__(runtime=runtime, settings=settings, seed=seed)
        self.model, self.net = runtime.place(build_model(arch, data.in_channels, data.num_classes))
        self.inputs = InputPipeline(
            *data.channel_stats(), runtime.device, settings.crop_padding, settings.hflip, runtime.channels_last
        )
        self._hold_images(data)

    def losses(self, idx, gen, sharded=False):
        with self.runtime.autocast():
            logits = self.net(self.inputs(self.train_x[idx], gen))
        return self.classified(logits, idx)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return predict(self.model, images, self.inputs, self.runtime.eval_batch_size, self.runtime.autocast)

    def evaluate(self):
        return {"test_acc": accuracy(self.logits(self.test_x), self.test_y)}


def simclr_losses(
    z1: torch.Tensor,
    z2: torch.Tensor,
    h1: torch.Tensor,
    h2: torch.Tensor,
    temperature: float,
    world: World | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
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


class SimCLRTask(Task):
    """SimCLR pre-training: NT-Xent per sample over two augmented views; memory = the
    self-supervised memory term at the encoder's features; evaluation: a kNN probe of the frozen
    features. The labels serve the probe only: no method may see them."""

    metrics = ("knn_acc",)
    signals = ("memory",)

    def __init__(self, data: ImageDataset, *, runtime: Runtime, arch: str, settings: PretrainConfig, seed: int = 0):
        self.runtime = runtime
        self.seed = seed
        self.temperature = settings.temperature
        self.batch_size = settings.batch_size
        encoder, width = self.initial_encoder(arch, data.in_channels, seed)
        head = ProjectionHead(width, settings.hidden, settings.projection_dim)
        self.model, self.net = runtime.place(SimCLRNet({"encoder": encoder, "head": head}), compiled=[encoder, head])
        mean, std = data.channel_stats()
        self.inputs = InputPipeline(mean, std, runtime.device, channels_last=runtime.channels_last)  # evaluation
        self._hold_images(data)
        self.views = TwoViews(mean, std, runtime.device, settings.min_scale, settings.jitter, runtime.channels_last)

    @classmethod
    def initial_encoder(cls, arch: str, in_channels: int, seed: int) -> tuple[nn.Module, int]:
        """The encoder seed `seed`'s pre-training starts from, and its feature width: probed
        untrained, it is the reference that says what pre-training adds."""
        cls._init_seed(seed)
        return build_encoder(arch, in_channels)

    @property
    def encoder(self) -> nn.Module:
        return self.model["encoder"]

    def losses(self, idx, gen, sharded=False):
        v1, v2 = self.views(self.train_x[idx], gen)
        with self.runtime.autocast():
            h, z = self.net(torch.cat([v1, v2]))
        h1, h2 = h.detach().float().chunk(2)
        z1, z2 = z.float().chunk(2)
        world = self.runtime.world if sharded else None
        per_sample, memory = simclr_losses(z1, z2, h1, h2, self.temperature, world)
        return per_sample, {"memory": memory}

    def score_generator(self):
        # NT-Xent needs two views: the scoring pass draws them from a fixed seed.
        return generator(self.seed, "score", device=self.runtime.device)

    @property
    def score_batch_size(self) -> int:
        return self.batch_size  # NT-Xent depends on the batch: score with the training batch size

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return frozen_features(self.encoder, images, self.inputs, self.runtime.eval_batch_size, self.runtime.autocast)

    def evaluate(self):
        features = Features(self.features(self.train_x), self.train_y, self.features(self.test_x), self.test_y)
        return {"knn_acc": knn_accuracy(features)}


class TextTask(Classifier):
    """Text classification, a pre-trained language model fine-tuned (or a small one trained from
    scratch).

    The token ids stay on the device as one padded tensor; a batch is cut to its longest text,
    so a batch of short questions costs what short questions cost."""

    def __init__(self, data: TextDataset, *, runtime: Runtime, arch: str, settings: NLUConfig, seed: int = 0):
        super().__init__(runtime=runtime, settings=settings, seed=seed)
        model = text_model(arch).build(data.vocab_size, data.num_classes, settings.max_length)
        # Batches vary in length: under runtime.compile, shapes are traced as dynamic after the first.
        self.model, self.net = runtime.place(model, dynamic=None)
        self.train_ids, self.train_len = runtime.to_device(data.train_ids), runtime.to_device(data.train_len)
        self.train_y = runtime.to_device(data.train_y)
        # The test set in order of length: evaluation batches then hold texts of similar length.
        order = data.test_len.argsort(stable=True)
        self.test_ids, self.test_len = runtime.to_device(data.test_ids[order]), runtime.to_device(data.test_len[order])
        self.test_y = runtime.to_device(data.test_y[order])
        self.num_samples = len(data)
        self.sample_cost = data.train_len

    @staticmethod
    def batch(ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids cut to the batch's longest text, and the mask of real tokens."""
        width = int(lengths.max())
        mask = torch.arange(width, device=ids.device) < lengths[:, None]
        return ids[:, :width], mask

    def losses(self, idx, gen, sharded=False):
        with self.runtime.autocast():
            logits = self.net(*self.batch(self.train_ids[idx], self.train_len[idx]))
        return self.classified(logits, idx)

    @torch.no_grad()
    def logits(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            out, bs = [], self.runtime.eval_batch_size
            for start in range(0, ids.shape[0], bs):
                with self.runtime.autocast():
                    out.append(self.model(*self.batch(ids[start : start + bs], lengths[start : start + bs])).float())
            return torch.cat(out)
        finally:
            self.model.train(was_training)

    def evaluate(self):
        return {"test_acc": accuracy(self.logits(self.test_ids, self.test_len), self.test_y)}

    GROUP = 50  # batches per length group

    def arrange(self, indices, batch_size, gen):
        """Batches of texts of similar length (grouping by length, as transformers' Trainer can):
        the shuffled order's full batches are cut into groups of GROUP batches, each sorted by
        length, and the batches shuffled, so a batch pads little while which texts meet stays
        random. The last, partial batch (which the loop may join to the one before) keeps the
        shuffled order's last texts: not the shortest, whose losses would then weigh more in a
        smaller batch. On review snippets this halves the tokens a batch pads to."""
        full = len(indices) // batch_size
        if full == 0:
            return None
        head = full * batch_size
        lengths = self.train_len[indices[:head]].cpu()
        group = torch.arange(head) // (self.GROUP * batch_size)
        key = group * (int(lengths.max()) + 1) - lengths  # by group, longest first
        by_length = key.argsort(stable=True)
        shuffled = torch.randperm(full, generator=gen)
        batches = by_length.view(full, batch_size)[shuffled].reshape(-1)
        return torch.cat([batches, torch.arange(head, len(indices))])
