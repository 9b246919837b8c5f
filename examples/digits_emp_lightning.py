"""EMP with Lightning: examples/digits_emp.py's small CNN on scikit-learn's digits, pruning 70% of
each epoch after a two-epoch warm-up, trained by `lightning.Trainer`. The pruning adds a
PruningCallback (holding the Pruner), its sampler in `train_dataloader`, `pruning.loss(...)` in
`training_step`, and the Trainer settings it needs (`pruning.trainer_kwargs`).

    python examples/digits_emp_lightning.py [--method emp] [--rate 0.7] [--epochs 12] [--seed 0] [--devices 2]

--devices 2 trains with DDP on two CPU processes (gloo); each trains its share of every selection.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from dynaprune import Pruner, WithIndex
from dynaprune.integrations.lightning import PruningCallback

# The plain loop's data split, model and accuracy, loaded by path: examples/ is not a package.
_spec = importlib.util.spec_from_file_location("digits_emp", Path(__file__).with_name("digits_emp.py"))
digits_emp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(digits_emp)


class DigitsCNN(L.LightningModule):
    def __init__(self, pruning: PruningCallback, train, test, name: str):
        super().__init__()
        self.net = digits_emp.small_cnn()
        self.pruning, self.train_set, self.test_set, self.name = pruning, train, test, name
        self.trained: list[int] = []

    def train_dataloader(self) -> DataLoader:
        return DataLoader(WithIndex(self.train_set), batch_size=64, sampler=self.pruning.sampler)

    def training_step(self, batch, batch_idx):
        idx, x, y = batch
        logits = self.net(x)
        return self.pruning.loss(idx, F.cross_entropy(logits, y, reduction="none"), logits=logits)

    def on_train_epoch_end(self) -> None:
        self.trained.append(len(self.pruning.sampler) * self.trainer.world_size)  # every rank trains a share
        if self.trainer.is_global_zero:
            acc = digits_emp.accuracy(self.net, self.test_set)
            epoch, epochs = self.current_epoch + 1, self.trainer.max_epochs
            print(f"{self.name} epoch {epoch}/{epochs} | trained {self.trained[-1]} | test acc {acc:.4f}", flush=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)


def main(method: str = "emp", rate: float = 0.7, epochs: int = 12, seed: int = 0, devices: int = 1) -> dict:
    torch.manual_seed(seed)
    train, test = digits_emp.digits_split(seed)
    pruner = Pruner(method, num_samples=len(train), rate=rate, epochs=epochs, warmup_epochs=2, seed=seed)
    pruning = PruningCallback(pruner)
    model = DigitsCNN(pruning, train, test, f"{method}@{rate:g}")
    trainer = L.Trainer(
        callbacks=[pruning],
        max_epochs=pruner.epochs,
        **pruning.trainer_kwargs,  # reload_dataloaders_every_n_epochs=1, use_distributed_sampler=False
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model)
    acc = digits_emp.accuracy(model.net, test)
    saving = 1 - sum(model.trained) / (len(train) * epochs)
    if trainer.is_global_zero:
        print(f"{method}@{rate:g}: test accuracy {acc:.4f}, achieved saving {saving:.3f}", flush=True)
    return {"test_acc": acc, "trained": model.trained, "saving": saving}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="emp", help="any registered method (emp, infobatch, seta, rs2, ...)")
    parser.add_argument("--rate", type=float, default=0.7, help="the pruning rate in [0, 1)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--devices", type=int, default=1, help="CPU processes (DDP over gloo when > 1)")
    args = parser.parse_args()
    main(args.method, args.rate, args.epochs, args.seed, args.devices)
