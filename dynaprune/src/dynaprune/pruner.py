"""Dynamic data pruning in your own PyTorch loop: a Sampler for the DataLoader and one call per
batch. Nothing is patched: the sampler yields each epoch's selection, and `Pruner.loss` records
the batch's per-sample losses (and signals) and returns the weighted mean to backpropagate.

    pruner = Pruner("emp", num_samples=len(train), rate=0.7, epochs=10, warmup_epochs=2)
    loader = pruner.loader(train, batch_size=128)  # DataLoader(WithIndex(train), sampler=pruner.sampler)
    for epoch in range(pruner.epochs):
        pruner.set_epoch(epoch)
        for idx, x, y in loader:
            logits = model(x)
            loss = pruner.loss(idx, F.cross_entropy(logits, y, reduction="none"), logits=logits)
            optimizer.zero_grad(); loss.backward(); optimizer.step()

The selections are those of the study's own loop (pipeline/training/loop.py) for the same
method, rate, seed and signals, in the same order (tests/test_pruner.py checks it for every
method). Under DDP (torch.distributed initialised), every rank draws the same selection, the
sampler yields this rank's share of it (every world-size-th sample; a remainder of fewer than
world-size samples is left out, so that every rank runs the same number of batches), and `loss`
gathers the shards' values, so that every rank's table, and the next selection, agree.

Misuse is refused in one line that names the fix: a dataset whose length is not num_samples, an
epoch outside 0..epochs-1 or drawn out of order, a DataLoader iterated again without set_epoch,
labels of the wrong length, a class-stratified method without labels. `state_dict()` /
`load_state_dict()` resume a run: at an epoch's end, or within an epoch, where the same epoch's
selection is kept and its remaining batches are what the loader has still to yield.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from . import pruning
from .distributed import World
from .samplers import PrunedSampler, WithIndex
from .signals import prediction_entropy
from .stats import SampleStats


class Pruner:
    """One run's pruning state: the method, its epoch plan and the per-sample statistics table.

    method: a registered name (dynaprune.pruning.REGISTRY: emp, infobatch, seta, rs2, ucb,
    epsilon_greedy, random, static_random, full); options: that method's options, as in
    params.yaml's `methods` (validated the same way). Epochs < warmup_epochs train all data.
    labels: the training labels, for class-stratified methods. device: where the table lives
    (default: where the first batch's losses are).
    """

    STATE_VERSION = 1

    def __init__(
        self,
        method: str,
        num_samples: int,
        rate: float,
        epochs: int,
        warmup_epochs: int = 0,
        seed: int = 0,
        labels: torch.Tensor | None = None,
        device: torch.device | str | None = None,
        world: World | None = None,
        options: Mapping[str, Any] | None = None,
    ):
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be the dataset's length, a positive int, got {num_samples!r}")
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        if not 0 <= warmup_epochs < epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs), got {warmup_epochs} with epochs = {epochs}")
        labels = None if labels is None else torch.as_tensor(labels)
        if labels is not None and tuple(labels.shape) != (num_samples,):
            raise ValueError(
                f"labels has shape {tuple(labels.shape)}: pass one class per sample, shape ({num_samples},)"
            )
        opts = pruning.parse_options(method, dict(options or {}), "options.")
        self.method = pruning.create(method, opts, rate, num_samples, seed, labels)
        if labels is None and self.method.stratified:
            raise ValueError(
                f"method '{method}' draws per class: pass labels=<one class per sample>, or turn it off with "
                f"options={{'per_class': False}}"
            )
        self.plan = pruning.EpochPlan(self.method, epochs, warmup_epochs, seed)
        self.seed = seed
        self.num_samples = num_samples
        self.world = World.current() if world is None else world
        self.device = device
        self.stats: SampleStats | None = None
        self.sampler = PrunedSampler(self)
        self.epoch: int | None = None
        self._indices: torch.Tensor | None = None
        self._weight_of: torch.Tensor | None = None
        self._iterated = False  # whether the current epoch's selection has been handed to a loader
        self.epoch_sizes: dict[int, int] = {}  # the samples each epoch drawn so far trains, over all ranks

    @property
    def epochs(self) -> int:
        """The run's epochs, warm-up included: loop over range(pruner.epochs)."""
        return self.plan.epochs

    def loader(self, dataset: Dataset, **kwargs: Any) -> DataLoader:
        """A DataLoader over `dataset` that yields (index, *item) batches of each epoch's selection:
        DataLoader(WithIndex(dataset), sampler=self.sampler, **kwargs), after checking its length."""
        if len(dataset) != self.num_samples:  # type: ignore[arg-type]
            raise ValueError(
                f"the dataset has {len(dataset)} samples but the Pruner was made for num_samples={self.num_samples}: "  # type: ignore[arg-type]
                f"pass num_samples=len(dataset)"
            )
        taken = sorted({"sampler", "batch_sampler", "shuffle"} & set(kwargs))
        if taken:
            raise ValueError(f"pruner.loader sets the sampler itself (each epoch's selection, shuffled): drop {taken}")
        return DataLoader(WithIndex(dataset), sampler=self.sampler, **kwargs)

    def _table(self, device: torch.device | str) -> SampleStats:
        if self.stats is None:
            # Like the study's warm-up table: the last values until the pruned phase begins.
            self.stats = SampleStats(self.num_samples, 1.0, self.device or device, self.method.reads)
        return self.stats

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch `epoch`'s selection (epochs count from 0, warm-up included). Call it before
        iterating the DataLoader each epoch, as with DistributedSampler. The current epoch again
        changes nothing (a framework may announce it twice)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch < self.epochs:
            raise ValueError(
                f"epoch {epoch!r} is outside this Pruner's {self.epochs} epochs (0 to {self.epochs - 1}): loop over "
                f"range(pruner.epochs), or make the Pruner with epochs=<the epochs you train>"
            )
        if epoch == self.epoch:
            return
        after = 0 if self.epoch is None else self.epoch + 1
        if epoch != after:
            done = "before any epoch" if self.epoch is None else f"after epoch {self.epoch}"
            raise ValueError(
                f"set_epoch({epoch}) {done}: every epoch is drawn once, in order (the next is {after}; a resumed "
                f"run continues from its load_state_dict)"
            )
        stats = self._table(self.device or "cpu")
        if epoch >= self.plan.warmup_epochs and (self.epoch is None or self.epoch < self.plan.warmup_epochs):
            stats.begin_pruning(self.method.options.ema_momentum())
        # The study loop's selection in the study loop's order (dynaprune/src/dynaprune/pruning/plan.py).
        selection = self.plan.order(epoch, self.plan.select(epoch, stats))
        indices = selection.indices
        self._weight_of = None
        if selection.weights is not None:
            self._weight_of = torch.zeros(self.num_samples, device=indices.device)
            self._weight_of[indices] = selection.weights
        size = self.world.size
        self._indices = (
            indices[: indices.numel() - indices.numel() % size][self.world.rank :: size] if size > 1 else indices
        )
        self.epoch = epoch
        self._iterated = False
        self.epoch_sizes[epoch] = self._indices.numel() * size

    def begin_iteration(self) -> torch.Tensor:
        """The current epoch's samples, for a loader about to iterate them: once per set_epoch, since
        a second pass would train the same selection again as if it were a new epoch."""
        indices = self.epoch_indices()
        if self._iterated:
            raise RuntimeError(
                f"the DataLoader was iterated again in epoch {self.epoch} without a new set_epoch: call "
                f"pruner.set_epoch(epoch) at the start of every epoch"
            )
        self._iterated = True
        return indices

    def epoch_indices(self) -> torch.Tensor:
        """This rank's samples of the current epoch, in order (what the sampler yields)."""
        if self._indices is None:
            raise RuntimeError("call set_epoch(epoch) before iterating the DataLoader")
        return self._indices

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to train what an uninterrupted one would: the table, the epoch
        and its selection (this rank's, in order, and the weights), the plan's cached subset, and
        the settings it was made with (load_state_dict checks them)."""
        return {
            "version": self.STATE_VERSION,
            "settings": self._settings(),
            "epoch": self.epoch,
            "stats": None if self.stats is None else self.stats.state_dict(),
            "plan": self.plan.state_dict(),
            "indices": None if self._indices is None else self._indices.cpu(),
            "weight_of": None if self._weight_of is None else self._weight_of.cpu(),
            "epoch_sizes": dict(self.epoch_sizes),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the run `state` was taken from (Pruner.state_dict), made with the same settings.
        The loader then yields the current epoch's selection again: skip the batches already
        trained (as the trainers' resume does), or call set_epoch(next epoch) if it had ended."""
        if state.get("version") != self.STATE_VERSION:
            raise ValueError(f"not a Pruner state (version {state.get('version')!r}, expected {self.STATE_VERSION})")
        differ = {
            k: (v, state["settings"].get(k)) for k, v in self._settings().items() if state["settings"].get(k) != v
        }
        if differ:
            said = ", ".join(f"{k} {theirs!r} there, {ours!r} here" for k, (ours, theirs) in differ.items())
            raise ValueError(f"the state is of another run ({said}): make the Pruner as that run made it")
        device = self.device or "cpu"
        self.stats = None if state["stats"] is None else SampleStats.from_state_dict(state["stats"], device=device)
        self.plan.load_state_dict(state["plan"], torch.device(device))
        self.epoch = state["epoch"]
        self._indices = state["indices"]
        self._weight_of = state["weight_of"]
        self._iterated = False
        self.epoch_sizes = {int(e): int(n) for e, n in state["epoch_sizes"].items()}

    def _settings(self) -> dict[str, Any]:
        m = self.method
        return {
            "method": m.name,
            "options": repr(m.options),
            "num_samples": self.num_samples,
            "rate": m.rate,
            "epochs": self.plan.epochs,
            "warmup_epochs": self.plan.warmup_epochs,
            "seed": self.seed,
            "world_size": self.world.size,
        }

    def weights(self, indices: torch.Tensor) -> torch.Tensor | None:
        """The loss weights of `indices` in the current epoch (None: all 1)."""
        return None if self._weight_of is None else self._weight_of[indices.to(self._weight_of.device)]

    def _memory(self, logits: torch.Tensor | None, batch: int) -> torch.Tensor:
        """The memory term from class scores: the prediction's entropy, which only (batch, classes)
        logits define. Anything else (a regression's outputs, per-pixel scores) is refused rather
        than turned into a score that means nothing."""
        fix = "pass memory=<one value per sample> yourself, or choose a method that reads the loss only"
        if logits is None:
            raise ValueError(f"method '{self.method.name}' reads the memory term: pass logits=... or {fix}")
        if logits.ndim != 2 or logits.shape[0] != batch or logits.shape[1] < 2:
            raise ValueError(
                f"method '{self.method.name}' reads the memory term, the entropy of a class prediction, but logits "
                f"have shape {tuple(logits.shape)}, not (batch = {batch}, classes >= 2): {fix} "
                f"({', '.join(n for n, cls in pruning.REGISTRY.items() if not cls.reads)})"
            )
        return prediction_entropy(logits.detach())

    def loss(
        self,
        indices: torch.Tensor,
        per_sample_loss: torch.Tensor,
        logits: torch.Tensor | None = None,
        **signals: torch.Tensor,
    ) -> torch.Tensor:
        """Record a batch (dataset indices, per-sample losses with their graph, and the signals the
        method reads: `memory` is computed from `logits` when not given) and return the weighted
        mean loss to backpropagate."""
        if self.epoch is None:
            raise RuntimeError("call set_epoch(epoch) before the first batch")
        if per_sample_loss.shape != indices.shape:
            raise ValueError(
                f"per_sample_loss has shape {tuple(per_sample_loss.shape)}: pass one loss per sample, shape "
                f"{tuple(indices.shape)} like the indices (reduce a per-pixel or per-token loss per sample first, "
                f"e.g. loss.flatten(1).mean(1))"
            )
        stats = self._table(per_sample_loss.device)
        if "memory" in stats.signals and "memory" not in signals:
            signals["memory"] = self._memory(logits, len(indices))
        unknown = set(signals) - set(stats.signals)
        for name in unknown:
            del signals[name]  # signals the method does not read are not kept
        w = self.weights(indices)
        loss = pruning.weighted_mean(per_sample_loss, None if w is None else w.to(per_sample_loss.device))
        # Gathered where the losses are (NCCL gathers only GPU tensors), then kept where the table is.
        here = per_sample_loss.device
        gathered = self.world.gather(
            indices.to(here), per_sample_loss.detach(), *(signals[name].detach().to(here) for name in stats.signals)
        )
        idx, values, *rest = (t.to(stats.loss.device) for t in gathered)
        stats.observe(idx, values, self.epoch, **dict(zip(stats.signals, rest)))
        return loss
