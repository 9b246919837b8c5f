"""Dynamic data pruning inside `transformers.Trainer`: the same subsets, order and loss weights as
`dynaprune.Pruner` (and so as the study's loop) for the same method, rate and seed.

    from dynaprune.integrations.huggingface import PruningArguments, PruningTrainer

    trainer = PruningTrainer(model=model, args=args, train_dataset=train, pruning=PruningArguments("emp", 0.7))
    trainer.train()  # trainer.epoch_sizes: the samples each epoch trained (README.md: a whole example)

Nothing is patched; PruningTrainer overrides Trainer methods:

- get_train_dataloader: items carry their dataset index, split off before the Trainer's column
  removal (remove_unused_columns works as usual; the user adds no column) and put in the batch as
  `pruning_index`; the Pruner's sampler orders them. accelerate prepares the loader as for one
  process, so it never replaces (use_seedable_sampler), re-shards, splits or broadcasts
  (dispatch_batches) the sampler. Under DDP (torchrun, with use_cpu=True on CPUs; `accelerate
  launch --cpu` needs mpirun) the Pruner shards: every rank draws the same selection and trains
  every world-size-th sample of it (a remainder under world-size is left out), and the losses
  are all-gathered, so every rank's table agrees. split_batches: the batch size is over all ranks.
- compute_loss: the model runs without labels; `per_sample_loss(outputs, labels)` (default:
  cross-entropy with TrainingArguments.label_smoothing_factor) and the logits (emp's memory term
  is their prediction entropy; override `pruning_signals` for other outputs) go to `Pruner.loss`,
  whose weighted mean is backpropagated. Evaluation keeps the Trainer's loss.
- _run_epoch: each epoch is drawn first and gets its own number of steps: it trains its selection.
- create_scheduler, set_initial_training_values: the Trainer's schedule (type, warm-up, options)
  over the planned optimizer steps: epochs drawn so far as drawn, the rest at their nominal size
  (N in warm-up and annealing, the method's K = round((1 - rate) N) when pruned). Where sizes are
  known in advance (emp, random, rs2, ...) that is the real count from the start; where the losses
  decide them (infobatch, seta) the plan is corrected as each epoch is drawn, exact from the last
  epoch's start, so a decaying schedule ends at the last step; so does state.max_steps. A
  scheduler passed in `optimizers=` is left as it is.
- log: the summary says what pruning did (rate, samples trained, saving achieved; each epoch's
  size is logged as it ends); with report_to="mlflow" the method and its options are run params.
- checkpoints and resume_from_checkpoint: each checkpoint folder also holds the Pruner's state
  (pruner-<rank>.pt: its table, epoch, selection and epoch sizes); resuming restores it
  and counts the epochs trained from their real lengths (the Trainer assumes equal ones), so a run
  resumed from any checkpoint, within an epoch too, trains what the uninterrupted run would have.

Train by epochs (num_train_epochs whole, no max_steps), without dataloader_drop_last, to dict
batches, from a map-style dataset (an IterableDataset has no indices to select).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from accelerate.data_loader import prepare_data_loader
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader
from transformers import Trainer, get_scheduler
from transformers.trainer_utils import get_last_checkpoint

from ..distributed import World
from ..pruner import Pruner
from ..samplers import AnnouncedSampler, WithIndex
from ._trainer_parts import INDEX, IndexCollator, PlannedSchedule, ReportPruning, SavePruner, pruner_file

if not hasattr(Trainer, "_run_epoch"):  # the per-epoch hook PruningTrainer overrides (transformers >= 5.3)
    import transformers

    raise ImportError(
        f"dynaprune's PruningTrainer needs transformers >= 5.3 (found {transformers.__version__}): "
        f'pip install "dynaprune[hf]"'
    )

PerSampleLoss = Callable[[Any, torch.Tensor], torch.Tensor]  # (model outputs, labels) -> losses [batch]


@dataclass(frozen=True)
class PruningArguments:
    """What to prune: a registered method (dynaprune.pruning.REGISTRY), the rate, the warm-up
    epochs (all data), the seed (None: TrainingArguments.seed), the method's options (as params.yaml's
    `methods`) and, for class-stratified methods, the training labels."""

    method: str
    rate: float
    warmup_epochs: int = 0
    seed: int | None = None
    options: Mapping[str, Any] | None = None
    labels: Sequence[int] | torch.Tensor | None = None


def logits_of(outputs: Any) -> torch.Tensor:
    return outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]


class PruningTrainer(Trainer):
    """transformers.Trainer that trains each epoch on the Pruner's selection (see the module's docstring).

    pruning: what to prune; per_sample_loss: (model outputs, labels) -> per-sample losses [batch]
    with their graph (default: cross-entropy over `logits`, with label smoothing if set). All other
    arguments are Trainer's. `pruner` is this run's Pruner, `epoch_sizes` the samples per epoch.
    """

    # compute_loss returns a per-batch (weighted) mean: the Trainer divides it for gradient accumulation.
    loss_is_scaled_for_ga = False

    def __init__(self, *args, pruning: PruningArguments, per_sample_loss: PerSampleLoss | None = None, **kwargs):
        train = kwargs.get("train_dataset", args[3] if len(args) > 3 else None)
        if isinstance(train, torch.utils.data.IterableDataset):  # before the Trainer's own advice (max_steps)
            raise ValueError(
                "PruningTrainer selects samples by index: pass a map-style train_dataset (with __len__ and "
                "__getitem__), not an IterableDataset"
            )
        super().__init__(*args, **kwargs)
        a = self.args
        if a.max_steps > 0 or a.num_train_epochs != int(a.num_train_epochs) or a.num_train_epochs < 1:
            raise ValueError("PruningTrainer trains by epochs: set num_train_epochs to a whole number, max_steps to -1")
        if a.dataloader_drop_last:
            raise ValueError("PruningTrainer trains every selected sample: set dataloader_drop_last=False")
        if self.compute_loss_func is not None:
            raise ValueError("PruningTrainer needs per-sample losses: pass per_sample_loss=... for compute_loss_func")
        if self.train_dataset is None or isinstance(self.train_dataset, torch.utils.data.IterableDataset):
            raise ValueError("PruningTrainer needs a train_dataset with a length and indexed items")
        self.model_accepts_loss_kwargs = False  # the model gets no labels, so no num_items_in_batch either
        self.pruning = pruning
        self.per_sample_loss = per_sample_loss or self.default_loss
        self._batch_size = self._rank_batch_size()
        self._new_pruner()
        self.add_callback(SavePruner(self))
        self.add_callback(ReportPruning(self))

    def _rank_batch_size(self) -> int:
        """The Trainer's batch size (_train_batch_size: auto_find_batch_size may lower it); with
        accelerate's split_batches, it is the batch over all ranks, as there."""
        size, world, split = self._train_batch_size, World.current().size, self.accelerator.split_batches
        if split and size % world:
            raise ValueError(f"split_batches: the batch size {size} is not a multiple of the {world} processes")
        return size // world if split else size

    def _new_pruner(self) -> None:
        p, a = self.pruning, self.args
        labels = None if p.labels is None else torch.as_tensor(p.labels)
        seed = a.seed if p.seed is None else p.seed
        n, epochs, world = len(self.train_dataset), int(a.num_train_epochs), World.current()  # accelerate's group
        self.pruner = Pruner(p.method, n, p.rate, epochs, p.warmup_epochs, seed, labels, world=world, options=p.options)
        self.train_sampler = AnnouncedSampler(self.pruner, self._draw)
        self._trained = False

    def _draw(self, epoch: int | None) -> None:
        """Announced each epoch by the Trainer, accelerate's DataLoaderShard and _run_epoch; asked for
        the loader's length before any epoch starts, it is epoch 0's (drawn then, from the same
        empty table, so the same draw)."""
        if epoch is None:
            if self.pruner.epoch is not None:
                return
            epoch = 0
        self.pruner.set_epoch(epoch)

    @property
    def epoch_sizes(self) -> dict[int, int]:
        """The samples each epoch drawn so far trains, over all ranks."""
        return self.pruner.epoch_sizes

    def default_loss(self, outputs: Any, labels: torch.Tensor) -> torch.Tensor:
        """Per-sample cross-entropy of [batch, classes] logits (labels -100 count 0), label smoothing as set."""
        smoothing = self.args.label_smoothing_factor
        return F.cross_entropy(logits_of(outputs).float(), labels, reduction="none", label_smoothing=smoothing)

    def pruning_signals(self, outputs: Any) -> dict[str, torch.Tensor]:
        """What Pruner.loss gets besides the losses: the logits when they are [batch, classes] (their
        prediction entropy is the memory term). Override to pass `memory=` per sample for other outputs."""
        logits = logits_of(outputs)
        return {"logits": logits} if torch.is_tensor(logits) and logits.dim() == 2 else {}

    def planned_sizes(self) -> list[int]:
        """Samples per epoch over all ranks: as drawn, or nominal for the epochs not drawn yet."""
        p = self.pruner
        nominal = lambda e: p.method.k if p.method.uses_rate and p.plan.is_pruned(e) else p.num_samples
        return [self.epoch_sizes.get(e, nominal(e)) for e in range(p.plan.epochs)]

    def epoch_steps(self, samples: int) -> int:
        """Optimizer steps of an epoch of `samples` (over all ranks): each rank trains samples // world."""
        batches = math.ceil(samples // self.pruner.world.size / self._batch_size)
        return math.ceil(batches / self.args.gradient_accumulation_steps)

    def planned_steps(self) -> int:
        """Optimizer steps of the whole run, as planned now."""
        return sum(self.epoch_steps(n) for n in self.planned_sizes())

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        if self._trained:
            self._new_pruner()  # another train() prunes afresh
        if resume_from_checkpoint not in (None, False):
            resume_from_checkpoint = self._restore_pruner(resume_from_checkpoint)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _restore_pruner(self, checkpoint: str | bool) -> str:
        """The checkpoint folder to resume from (True: the last in output_dir), its Pruner state loaded."""
        folder = get_last_checkpoint(self.args.output_dir) if checkpoint is True else str(checkpoint)
        if folder is None:
            raise ValueError(f"resume_from_checkpoint=True, but {self.args.output_dir} holds no checkpoint")
        path = pruner_file(folder, self.pruner.world.rank)
        if not os.path.isfile(path):
            raise ValueError(f"{folder} holds no Pruner state ({os.path.basename(path)}): resume from a checkpoint "
                             "PruningTrainer saved, or train from the start")  # fmt: skip
        self.pruner.load_state_dict(torch.load(path, weights_only=True))
        return folder

    def _init_training_state(self, max_steps, num_update_steps_per_epoch, num_train_epochs, resume, trial):
        # The Trainer finds the epoch to resume in by dividing the global step by the first epoch's
        # steps; pruned epochs are shorter, so it is counted here from each epoch's own steps.
        epochs, in_epoch = super()._init_training_state(
            max_steps, num_update_steps_per_epoch, num_train_epochs, resume, trial
        )
        if resume is None:
            return epochs, in_epoch
        done = self.state.global_step
        for epoch, samples in enumerate(self.planned_sizes()):
            steps = self.epoch_steps(samples)
            if done < steps:
                skip = 0 if self.args.ignore_data_skip else done * self.args.gradient_accumulation_steps
                return epoch, skip
            done -= steps
        return self.pruner.plan.epochs, 0

    def get_train_dataloader(self) -> DataLoader:
        a, acc = self.args, self.accelerator
        self._batch_size = self._rank_batch_size()
        # The Trainer's collator with its column removal (transformers names no public accessor for it).
        collate = self._get_collator_with_removed_columns(self.data_collator, description="training")
        loader = DataLoader(
            WithIndex(self.train_dataset, unpack=False),
            batch_size=self._batch_size,
            sampler=self.train_sampler,
            collate_fn=IndexCollator(collate),
            num_workers=a.dataloader_num_workers,
            pin_memory=a.dataloader_pin_memory,
            persistent_workers=a.dataloader_persistent_workers and a.dataloader_num_workers > 0,
            prefetch_factor=a.dataloader_prefetch_factor if a.dataloader_num_workers > 0 else None,
        )
        # As accelerator.prepare does (device placement, set_epoch, end-of-loader tracking), but for one
        # process: the Pruner already gave this rank its share, in order.
        one = {"num_processes": 1, "process_index": 0}
        return prepare_data_loader(
            loader, acc.device, put_on_device=acc.device_placement, non_blocking=acc.non_blocking, **one
        )

    def set_initial_training_values(self, args, dataloader):
        epochs, per_epoch, examples, _, batch, steps_in_epoch, _ = super().set_initial_training_values(args, dataloader)
        return epochs, per_epoch, examples, sum(self.planned_sizes()), batch, steps_in_epoch, self.planned_steps()

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        ours = self.lr_scheduler is None  # not one passed in `optimizers=`
        scheduler = super().create_scheduler(num_training_steps, optimizer)
        if ours and type(scheduler) is LambdaLR:
            self.lr_scheduler = PlannedSchedule(scheduler.optimizer, self._schedule_shape, self.planned_steps)
        return self.lr_scheduler

    def _schedule_shape(self, total: int) -> Callable[[int], float]:
        """The factor function of the Trainer's schedule over `total` steps, built on a stand-in
        optimizer with the real one's learning rate: schedules with an absolute floor (polynomial's
        lr_end, cosine_with_min_lr's min_lr) scale their factor by it."""
        lr = self.optimizer.defaults["lr"] if self.optimizer is not None else self.args.learning_rate
        probe, a = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr), self.args
        warmup, options = a.get_warmup_steps(total), a.lr_scheduler_kwargs
        return get_scheduler(a.lr_scheduler_type, probe, warmup, total, scheduler_specific_kwargs=options).lr_lambdas[0]

    def _run_epoch(self, **kwargs):
        # A private method, overridden because transformers 5 gives every epoch the first epoch's
        # length (steps_in_epoch, num_update_steps_per_epoch) and has no public hook to set an epoch's
        # own: a shorter epoch would leave its last accumulated gradients unapplied and state.epoch
        # short, a longer one would be cut. Each epoch is drawn first, then runs the Trainer's loop.
        self._trained = True
        self.train_sampler.set_epoch(kwargs["epoch"])
        batches = len(kwargs["train_dataloader"])
        kwargs["steps_in_epoch"] = batches
        kwargs["num_update_steps_per_epoch"] = max(math.ceil(batches / self.args.gradient_accumulation_steps), 1)
        self.state.max_steps = self.planned_steps()
        result = super()._run_epoch(**kwargs)
        # each epoch's size reaches every reporter, at the step the epoch ended
        self.log({"pruning_epoch_samples": float(self.epoch_sizes[kwargs["epoch"]])})
        return result

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """The summary (with train_runtime) gets what pruning did; samples per second count those trained."""
        if "train_runtime" in logs:
            p, trained = self.pruner, sum(self.epoch_sizes.values())
            logs["pruning_rate"] = p.method.rate
            logs["pruning_trained_samples"] = trained
            logs["pruning_achieved_saving"] = round(1.0 - trained / (p.num_samples * p.plan.epochs), 6)
            if logs["train_runtime"] > 0:
                logs["train_samples_per_second"] = round(trained / logs["train_runtime"], 3)
        super().log(logs, *args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if INDEX not in inputs:  # an evaluation batch: the Trainer's own loss
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        indices = inputs.pop(INDEX)
        labels = inputs.pop(self.label_names[0] if self.label_names else "labels")
        outputs = model(**inputs)
        per_sample = self.per_sample_loss(outputs, labels)
        loss = self.pruner.loss(indices, per_sample, **self.pruning_signals(outputs))
        return (loss, outputs) if return_outputs else loss
