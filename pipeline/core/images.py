"""An image dataset held in memory: uint8 image tensors [N, C, H, W] plus int64 labels, its seeded
class-stratified subsets, and the prepared file the pipeline's stages share.

Where the images come from (the registered datasets and their file readers) is data.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from . import io, timing
from .errors import DataError


@dataclass(frozen=True)
class ImageDataset:
    name: str
    train_x: torch.Tensor  # uint8 [N, C, H, W]
    train_y: torch.Tensor  # int64 [N]
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.train_x.shape[1]

    def __len__(self) -> int:
        return self.train_x.shape[0]

    def channel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of the training images, on the 0..1 scale."""
        x = self.train_x.double().div_(255.0)
        return x.mean(dim=(0, 2, 3)).float(), x.std(dim=(0, 2, 3)).float().clamp_min(1e-3)

    def subset(self, size: int | None, seed: int, test_size: int | None = None) -> ImageDataset:
        """Seeded, class-stratified subsets: `size` training and `test_size` test samples (None: all)."""
        train_x, train_y = _stratified(self.train_x, self.train_y, size, seed, "data.train_size", self.name)
        test_x, test_y = _stratified(self.test_x, self.test_y, test_size, seed, "data.test_size", self.name)
        return replace(self, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)


def _stratified(
    x: torch.Tensor, y: torch.Tensor, size: int | None, seed: int, key: str, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    keep = stratified_indices(y, size, seed, key, name)
    return x[keep], y[keep]


def stratified_indices(y: torch.Tensor, size: int | None, seed: int, key: str, name: str) -> torch.Tensor:
    """Sorted indices of a seeded, class-stratified subset of `size` labels (None or all: every index);
    `key` names the params entry a bad size came from (data.train_size, nlu.test_size, ...)."""
    n, classes = len(y), int(y.max()) + 1
    if size is None or size == n:
        return torch.arange(n)
    split = key.rsplit(".", 1)[-1].split("_")[0]
    if size > n:
        raise DataError(f"{key} = {size} is larger than the {n} {split} samples of {name}: lower it or set it to null")
    if size < classes:
        raise DataError(f"{key} = {size} is smaller than the {classes} classes: raise it")
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(n), train_size=size, stratify=y.numpy(), random_state=seed)
    return torch.from_numpy(np.sort(keep))


# --- the prepared, materialised form the pipeline's stages share ----------------------------

TENSORS = ("train_x", "train_y", "test_x", "test_y")


@timing.timed("outputs")
def save_prepared(ds: ImageDataset, path: str | Path) -> str:
    """Write the dataset atomically as one torch file; return its md5 (the dataset's digest)."""
    return io.save_prepared(ds, path, TENSORS)


@timing.timed("data")
def load_prepared(path: str | Path) -> ImageDataset:
    """The dataset the prepare stage wrote (a missing or corrupt file says to rerun it)."""
    return io.load_prepared(path, "prepare", ImageDataset, TENSORS)
