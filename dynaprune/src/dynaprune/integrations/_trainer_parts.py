"""PruningTrainer's parts beside the Trainer subclass (dynaprune.integrations.huggingface): the
collator that puts the dataset indices into each batch, the checkpoint callback that saves each
rank's Pruner state, the callback that gives a reporter the method as params, and the LR
schedule read again at every step over the planned steps."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

INDEX = "pruning_index"  # the batch key carrying the samples' dataset indices


class IndexCollator:
    """Collates the items with the Trainer's collator (column removal included), then adds their indices."""

    def __init__(self, collate: Callable[[list], Any]):
        self.collate = collate

    def __call__(self, items: list[tuple[int, Any]]) -> MutableMapping:
        batch = self.collate([item for _, item in items])
        if not isinstance(batch, MutableMapping):
            raise TypeError(f"PruningTrainer needs dict batches from the data collator, got {type(batch).__name__}")
        batch[INDEX] = torch.tensor([index for index, _ in items])
        return batch


def pruner_file(folder: str, rank: int) -> str:
    """Where a checkpoint folder keeps rank `rank`'s Pruner state."""
    return os.path.join(folder, f"pruner-{rank}.pt")


class SavePruner(TrainerCallback):
    """Puts each rank's Pruner state into every checkpoint the Trainer saves."""

    def __init__(self, trainer: Any):  # a PruningTrainer
        self.trainer = trainer

    def on_save(self, args, state, control, **kwargs):
        folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        t = self.trainer
        if os.path.isdir(folder):
            torch.save(t.pruner.state_dict(), pruner_file(folder, t.pruner.world.rank))
        return control


class ReportPruning(TrainerCallback):
    """The method and its settings as the run's params, where a reporter takes params: MLflow
    (report_to="mlflow"), whose callback has started the run by then (it comes first in the list).
    The numbers (epoch sizes, the saving achieved) reach every reporter through Trainer.log."""

    def __init__(self, trainer: Any):  # a PruningTrainer
        self.trainer = trainer

    def params(self) -> dict[str, Any]:
        p = self.trainer.pruner
        options = {f"pruning_{k}": v for k, v in dataclasses.asdict(p.method.options).items()}
        return {"pruning_method": p.method.name, "pruning_rate": p.method.rate, **options}

    def on_train_begin(self, args, state, control, **kwargs):
        # The MLflow the Trainer's callback reports to (imported by it: the library imports no tracker).
        mlflow = sys.modules.get("mlflow")
        if state.is_world_process_zero and "mlflow" in (args.report_to or []) and mlflow is not None:
            if mlflow.active_run() is not None:
                mlflow.log_params({**self.params(), "pruning_warmup_epochs": self.trainer.pruner.plan.warmup_epochs})
        return control


class PlannedSchedule(LambdaLR):
    """A transformers schedule over a total number of steps that is read again at every step:
    shape(total) is the schedule's factor function for that total, total() the current plan."""

    def __init__(self, optimizer, shape: Callable[[int], Callable[[int], float]], total: Callable[[], int]):
        self.shape, self.total = shape, total
        self._shaped: tuple[int, Callable[[int], float]] | None = None
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        total = self.total()
        if self._shaped is None or self._shaped[0] != total:
            self._shaped = (total, self.shape(total))
        return self._shaped[1](step)

    def state_dict(self) -> dict:
        # The shape and the plan are code reading the Trainer (not picklable): only the counters are state.
        return {k: v for k, v in super().state_dict().items() if k not in ("shape", "total", "_shaped")}
