"""EMP in a plain PyTorch loop: a small CNN on scikit-learn's digits, pruning 70% of each epoch
after a two-epoch warm-up. The pruning adds three things to the loop: the Pruner, its sampler in
the DataLoader, and `pruner.loss(...)` in place of the mean loss.

    python examples/digits_emp.py [--method emp] [--rate 0.7] [--epochs 12]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dynaprune import Pruner, WithIndex


def digits_split(seed: int) -> tuple[TensorDataset, TensorDataset]:
    """The 1,797 8x8 digits scaled to [0, 1], a seeded 75/25 split."""
    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0
    y = torch.tensor(bunch.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    cut = int(0.75 * len(y))
    return TensorDataset(x[order[:cut]], y[order[:cut]]), TensorDataset(x[order[cut:]], y[order[cut:]])


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip


@torch.no_grad()
def accuracy(model: nn.Module, data: TensorDataset) -> float:
    model.eval()
    x, y = data.tensors
    acc = float((model(x).argmax(1) == y).float().mean())
    model.train()
    return acc


def main(method: str = "emp", rate: float = 0.7, epochs: int = 12, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    train, test = digits_split(seed)
    model = small_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)

    pruner = Pruner(method, num_samples=len(train), rate=rate, epochs=epochs, warmup_epochs=2, seed=seed)
    loader = DataLoader(WithIndex(train), batch_size=64, sampler=pruner.sampler)
    trained = []
    for epoch in range(epochs):
        pruner.set_epoch(epoch)
        for idx, x, y in loader:
            logits = model(x)
            loss = pruner.loss(idx, F.cross_entropy(logits, y, reduction="none"), logits=logits)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        trained.append(len(pruner.sampler))
        acc = accuracy(model, test)
        print(f"{method}@{rate:g} epoch {epoch + 1}/{epochs} | trained {trained[-1]} | test acc {acc:.4f}")
    saving = 1 - sum(trained) / (len(train) * epochs)
    print(f"{method}@{rate:g}: test accuracy {accuracy(model, test):.4f}, achieved saving {saving:.3f}")
    return {"test_acc": accuracy(model, test), "trained": trained, "saving": saving}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="emp", help="any registered method (emp, infobatch, seta, rs2, ...)")
    parser.add_argument("--rate", type=float, default=0.7, help="the pruning rate in [0, 1)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.method, args.rate, args.epochs, args.seed)
