"""Dynamic data pruning in `lightning.Trainer`: a Callback that holds a `dynaprune.Pruner`, the
sampler for the module's `train_dataloader`, and `loss` for its `training_step`. Nothing is patched.

    pruning = PruningCallback(Pruner("emp", num_samples=len(train), rate=0.7, epochs=10, warmup_epochs=2))

    class Model(L.LightningModule):                     # with self.pruning = pruning
        def train_dataloader(self):
            return DataLoader(WithIndex(train), batch_size=64, sampler=self.pruning.sampler)

        def training_step(self, batch, batch_idx):
            idx, x, y = batch
            logits = self.net(x)
            return self.pruning.loss(idx, F.cross_entropy(logits, y, reduction="none"), logits=logits)

    L.Trainer(max_epochs=10, callbacks=[pruning], **pruning.trainer_kwargs).fit(Model(pruning))

Each epoch trains the Pruner's selection, in its order and with its weights, so a Lightning run
prunes as the Pruner's own loop does (tests/test_integration_lightning.py checks it for every
method). Three Trainer settings make that so (the first two are `trainer_kwargs`), and `setup`
refuses a Trainer without them:

- reload_dataloaders_every_n_epochs=1: Lightning counts an epoch's batches when it loads the
  DataLoader and stops the epoch there; pruned epochs are shorter than warm-up ones (and
  annealing epochs longer than pruned ones), so the count must be taken again every epoch.
- use_distributed_sampler=False: under DDP Lightning would wrap the sampler in a
  DistributedSampler, which shards (and reshuffles) the selection a second time; the Pruner
  already yields each rank its share and all-gathers the losses itself.
- max_epochs = the Pruner's epochs, and no max_steps, limit_train_batches, overfit_batches or
  fast_dev_run: the epoch plan (warm-up, annealing) is laid out over the Pruner's epochs, and a
  partial epoch would leave selected samples untrained.

The Pruner's state (its table, epoch and plan) is kept in Lightning's checkpoints, as the
callback's state: `fit(..., ckpt_path=...)` from a checkpoint taken at an epoch's end trains what
the uninterrupted run would have.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from ..distributed import World
from ..pruner import Pruner
from ..samplers import AnnouncedSampler

__all__ = ["PruningCallback"]


class PruningCallback(L.Callback):
    """Prunes a LightningModule's training data with `pruner` (any registered method).

    The module samples its training DataLoader with `sampler` and returns `loss(...)` from
    `training_step`; the Trainer gets this callback, `max_epochs` = the Pruner's epochs and
    `trainer_kwargs`. One callback, and its Pruner, serve one `fit`, from epoch 0 or from a
    checkpoint of that fit (the Pruner's state is the callback's state in it).
    """

    def __init__(self, pruner: Pruner):
        self.pruner = pruner
        # The selection for the epoch the Trainer is at. On a reload Lightning takes the DataLoader's
        # length before it calls set_epoch, so whichever comes first (len, iter or set_epoch) draws it.
        self.sampler = AnnouncedSampler(pruner, self._draw)
        self._trainer: L.Trainer | None = None

    @property
    def trainer_kwargs(self) -> dict[str, Any]:
        """The Trainer arguments pruning needs besides max_epochs (see the module docstring for why)."""
        return {"reload_dataloaders_every_n_epochs": 1, "use_distributed_sampler": False}

    def state_dict(self) -> dict[str, Any]:
        """Saved in the checkpoint: the Pruner's state (Pruner.state_dict)."""
        return {"pruner": self.pruner.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restored from a checkpoint (`fit(ckpt_path=...)`): the Pruner continues that run."""
        self.pruner.load_state_dict(state_dict["pruner"])

    def loss(
        self, indices: torch.Tensor, per_sample_loss: torch.Tensor, logits: torch.Tensor | None = None, **signals
    ) -> torch.Tensor:
        """`Pruner.loss`: record the batch and return the weighted mean loss to return from training_step."""
        return self.pruner.loss(indices, per_sample_loss, logits=logits, **signals)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        _check_trainer(trainer, self.pruner.plan.epochs)
        self._trainer = trainer
        if self.pruner.epoch is None:
            # The process group exists now (the Pruner may have been built before Lightning
            # started it, or pickled into a spawned rank), and so does the training device:
            # the table lives there, as NCCL gathers device tensors only.
            self.pruner.world = World.current()
            if self.pruner.stats is None and self.pruner.device is None:
                self.pruner.device = trainer.strategy.root_device

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Before the epoch's first batch: the loader Lightning will iterate must be ours, whole.
        loader = trainer.train_dataloader
        if isinstance(loader, (list, tuple, dict)):
            raise MisconfigurationException(
                "PruningCallback: train_dataloader must return one DataLoader (with sampler=pruning.sampler)"
            )
        batch_sampler = getattr(loader, "batch_sampler", None)
        if not any(
            s is self.sampler for s in (getattr(loader, "sampler", None), getattr(batch_sampler, "sampler", None))
        ):
            raise MisconfigurationException(
                f"PruningCallback: the training DataLoader samples with {type(loader.sampler).__name__}, not "
                "pruning.sampler: pass sampler=pruning.sampler, and Trainer(use_distributed_sampler=False) so that "
                "Lightning does not wrap it in a DistributedSampler under DDP (the Pruner shards by rank itself)"
            )
        if getattr(batch_sampler, "drop_last", False):
            raise MisconfigurationException(
                "PruningCallback: drop_last=True leaves selected samples untrained: build the DataLoader without it"
            )
        self._draw(trainer.current_epoch)

    def _draw(self, epoch: int | None = None) -> None:
        """Draw epoch `epoch`'s selection (default: the Trainer's epoch) unless it is drawn already."""
        if epoch is None:
            if self._trainer is None:
                return  # outside trainer.fit: the Pruner's own set_epoch rules
            epoch = self._trainer.current_epoch
        current = self.pruner.epoch
        if current == epoch or epoch >= self.pruner.plan.epochs:
            return  # drawn already, or past the run (Lightning's teardown takes the loader's length once more)
        if epoch != (0 if current is None else current + 1):
            at = "has trained no epoch" if current is None else f"is at epoch {current}"
            raise RuntimeError(
                f"PruningCallback: Lightning starts epoch {epoch} but the Pruner {at}: a Pruner follows one fit, "
                "from epoch 0 or from a checkpoint taken at an epoch's end (fit(..., ckpt_path=...)); give each fit "
                "a new Pruner"
            )
        self.pruner.set_epoch(epoch)


def _check_trainer(trainer: L.Trainer, epochs: int) -> None:
    """Refuse, before any sample trains, the Trainer settings that would train other samples than
    the Pruner's selection (one line each, saying what to set)."""
    problems = []
    if trainer.reload_dataloaders_every_n_epochs != 1:
        problems.append(
            "reload_dataloaders_every_n_epochs=1 (pruned epochs have fewer batches than warm-up ones, and "
            "Lightning counts them only when it reloads the DataLoader)"
        )
    if trainer.max_epochs != epochs:
        problems.append(f"max_epochs={epochs}, the Pruner's epochs (it lays out warm-up and annealing over them)")
    if trainer.max_steps not in (-1, None):
        problems.append("no max_steps (it would stop the run within an epoch, leaving selected samples untrained)")
    limit = trainer.limit_train_batches
    if isinstance(limit, int) or limit != 1.0 or trainer.overfit_batches:
        problems.append("no limit_train_batches, overfit_batches or fast_dev_run (they train part of a selection)")
    if problems:
        raise MisconfigurationException(
            f"PruningCallback needs Trainer({'; '.join(problems)}): pass max_epochs=<the Pruner's epochs> and "
            "**pruning.trainer_kwargs to the Trainer"
        )
