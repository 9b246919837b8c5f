"""The input path alone: augmented batches per second, ready for the model.

Ours gathers a batch by index from the uint8 tensor in memory and augments it as one batched,
per-sample random operation on the training device. The default a user would write is
torchvision's FashionMNIST dataset with per-image transforms in a DataLoader using the
machine's cores. Both apply the same augmentation (random crop after zero padding, horizontal
flip, normalisation) to the same number of images in batches of the same size.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time
from pathlib import Path

import torch
from loops import SEED, synchronize

from pipeline.core import data
from pipeline.core.augment import InputPipeline
from pipeline.core.errors import DataError
from pipeline.study.config import TrainConfig


def ours(ds: data.ImageDataset, t: TrainConfig, device: torch.device) -> float:
    """Batches per second over one epoch of our path."""
    inputs = InputPipeline(*ds.channel_stats(), device, t.crop_padding, t.hflip)
    images, labels = ds.train_x.to(device), ds.train_y.to(device)
    gen = torch.Generator(device=device).manual_seed(SEED)
    order = torch.randperm(len(ds), device=device, generator=gen)
    bs = t.batch_size
    synchronize(device)
    t0 = time.perf_counter()
    batches = 0
    for i in range(0, len(ds), bs):
        idx = order[i : i + bs]
        inputs(images[idx], gen), labels[idx]  # the batch the loop would train on
        batches += 1
    synchronize(device)
    return batches / (time.perf_counter() - t0)


def torchvision_layout(root: Path, into: Path) -> Path:
    """Fashion-MNIST's idx files, decompressed where torchvision's FashionMNIST reads them."""
    raw = into / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for folder in data.fashion_mnist_folders(root):
        found = {stem: data.find_idx(folder, stem) for stem in data.FASHION_MNIST_FILES.values()}
        if all(found.values()):
            for stem, path in found.items():
                with (
                    gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as src,
                    open(raw / stem, "wb") as dst,
                ):
                    shutil.copyfileobj(src, dst)
            return into
    raise DataError(
        f"the input-path benchmark needs Fashion-MNIST's files in {root} or "
        f"{data.DEBIAN_FASHION_MNIST}: run the prepare stage (or install dataset-fashion-mnist) first"
    )


def torchvision_default(tv_root: Path, ds: data.ImageDataset, t: TrainConfig, device: torch.device) -> float:
    """Batches per second of the DataLoader path, over one epoch after its first batch (the
    workers' start-up is left out, in the default path's favour)."""
    import torchvision
    import torchvision.transforms as T

    mean, std = ds.channel_stats()
    h = ds.train_x.shape[-1]
    transform = T.Compose(
        [
            T.RandomCrop(h, padding=t.crop_padding),
            *([T.RandomHorizontalFlip()] if t.hflip else []),
            T.ToTensor(),
            T.Normalize(mean.tolist(), std.tolist()),
        ]
    )
    full = torchvision.datasets.FashionMNIST(str(tv_root), train=True, download=False, transform=transform)
    subset = torch.utils.data.Subset(full, range(len(ds)))
    loader = torch.utils.data.DataLoader(
        subset, batch_size=t.batch_size, shuffle=True, num_workers=os.cpu_count() or 1, pin_memory=device.type == "cuda"
    )
    batches = iter(loader)
    next(batches)
    synchronize(device)
    t0 = time.perf_counter()
    count = 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        count += 1
    synchronize(device)
    return count / (time.perf_counter() - t0)
