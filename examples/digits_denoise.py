"""Pruning a task that is not classification: denoising scikit-learn's 8x8 digits, with a
per-pixel squared error reduced to one loss per sample. Any method that reads only the loss
works unchanged (infobatch by default); a method that reads the memory term (emp), which is the
entropy of a class prediction, has no class scores here, and `Pruner.loss` says so.

    python examples/digits_denoise.py [--method infobatch] [--rate 0.5] [--epochs 10]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dynaprune import Pruner, WithIndex


def noisy_digits(seed: int) -> tuple[TensorDataset, TensorDataset]:
    """(noisy, clean) pairs: the 1,797 digits scaled to [0, 1] plus Gaussian noise (sigma 0.3), a
    seeded 75/25 split."""
    gen = torch.Generator().manual_seed(seed)
    clean = torch.tensor(load_digits().images, dtype=torch.float32)[:, None] / 16.0
    noisy = clean + 0.3 * torch.randn(clean.shape, generator=gen)
    order = torch.randperm(len(clean), generator=gen)
    cut = int(0.75 * len(clean))
    return tuple(TensorDataset(noisy[part], clean[part]) for part in (order[:cut], order[cut:]))  # type: ignore[return-value]


def denoiser() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 1, 3, padding=1),
    )  # fmt: skip


@torch.no_grad()
def test_mse(model: nn.Module, data: TensorDataset) -> float:
    noisy, clean = data.tensors
    return float(F.mse_loss(model(noisy), clean))


def main(method: str = "infobatch", rate: float = 0.5, epochs: int = 10, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    train, test = noisy_digits(seed)
    model = denoiser()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    pruner = Pruner(method, num_samples=len(train), rate=rate, epochs=epochs, warmup_epochs=2, seed=seed)
    loader = DataLoader(WithIndex(train), batch_size=64, sampler=pruner.sampler)
    trained = []
    for epoch in range(epochs):
        pruner.set_epoch(epoch)
        for idx, noisy, clean in loader:
            per_pixel = F.mse_loss(model(noisy), clean, reduction="none")  # (batch, 1, 8, 8)
            loss = pruner.loss(idx, per_pixel.flatten(1).mean(1))  # one loss per sample
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        trained.append(len(pruner.sampler))
        mse = test_mse(model, test)
        print(f"{method}@{rate:g} epoch {epoch + 1}/{epochs} | trained {trained[-1]} | test MSE {mse:.4f}")
    saving = 1 - sum(trained) / (len(train) * epochs)
    # What the noise alone costs, for scale: the MSE of returning the noisy input unchanged.
    identity = float(F.mse_loss(*test.tensors))
    print(f"{method}@{rate:g}: test MSE {mse:.4f} (noisy input: {identity:.4f}), achieved saving {saving:.3f}")
    return {"test_mse": mse, "noisy_mse": identity, "trained": trained, "saving": saving}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="infobatch", help="a method that reads the loss only (infobatch, rs2, ...)")
    parser.add_argument("--rate", type=float, default=0.5, help="the pruning rate in [0, 1)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.method, args.rate, args.epochs, args.seed)
