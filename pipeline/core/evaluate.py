"""Evaluation passes: accuracy; frozen features, linear probe and kNN."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from dynaprune.pruning.base import random_subset


@torch.no_grad()
def predict(
    model: nn.Module,
    images: torch.Tensor,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    autocast: Callable,
) -> torch.Tensor:
    """Logits (float32) for uint8 `images`, in eval mode, batch by batch."""
    was_training = model.training
    model.eval()
    try:
        out = []
        for start in range(0, images.shape[0], batch_size):
            with autocast():
                out.append(model(prepare(images[start : start + batch_size])).float())
        return torch.cat(out)
    finally:
        model.train(was_training)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == labels).float().mean())


@torch.no_grad()
def frozen_features(
    encoder: nn.Module,
    images: torch.Tensor,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    autocast: Callable = contextlib.nullcontext,
) -> torch.Tensor:
    """Features of uint8 `images` from a frozen encoder: no gradients, eval mode (batch-norm
    statistics untouched), no augmentation; the encoder's mode is restored afterwards."""
    return predict(encoder, images, prepare, batch_size, autocast)


@dataclass(frozen=True)
class Features:
    """Frozen features of a labelled training split (what a probe is fitted on, or a kNN votes
    from) and of a test split (what it is scored on), with their labels."""

    train: torch.Tensor
    train_y: torch.Tensor
    test: torch.Tensor
    test_y: torch.Tensor

    def labelled(self, keep: torch.Tensor) -> Features:
        """The same, with only the training samples `keep` labelled (a label budget, a pruned set)."""
        return replace(self, train=self.train[keep], train_y=self.train_y[keep])


def knn_accuracy(features: Features, *, k: int = 20, chunk: int = 1024) -> float:
    """Cosine k-nearest-neighbour majority vote: a cheap check of the features, no fitting."""
    train, train_y = F.normalize(features.train.float(), dim=1), features.train_y
    test, test_y = features.test, features.test_y
    classes = int(train_y.max()) + 1
    k = min(k, train.shape[0])
    correct = 0
    for start in range(0, test.shape[0], chunk):
        sims = F.normalize(test[start : start + chunk].float(), dim=1) @ train.T
        neighbours = train_y[sims.topk(k, dim=1).indices]  # [chunk, k]
        votes = F.one_hot(neighbours, classes).sum(dim=1)
        correct += int((votes.argmax(dim=1) == test_y[start : start + chunk]).sum())
    return correct / test.shape[0]


def linear_probe_accuracy(features: Features, *, max_iter: int = 1000, seed: int = 0) -> float:
    """Test accuracy of a multinomial logistic regression fitted on standardised frozen features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed))
    probe.fit(features.train.cpu().numpy(), features.train_y.cpu().numpy())
    return float(probe.score(features.test.cpu().numpy(), features.test_y.cpu().numpy()))


def labelled_subset(labels: torch.Tensor, per_class: int | None, gen: torch.Generator) -> torch.Tensor:
    """Indices of the labels a probe is fitted on, ascending: `per_class` of each class drawn
    without replacement (ValueError if a class has fewer); None: every label."""
    if per_class is None:
        return torch.arange(labels.numel())
    picks = []
    for c in torch.unique(labels).tolist():
        members = (labels == c).nonzero().squeeze(1)
        if members.numel() < per_class:
            raise ValueError(f"class {c} has {members.numel()} samples, fewer than the {per_class} asked for")
        picks.append(random_subset(members, per_class, gen))
    return torch.cat(picks).sort().values


def probe_accuracies(features: Features, *, seed: int = 0) -> dict[str, float]:
    """Both reads of the same frozen features: the linear probe's test accuracy (seeded) and the
    kNN vote's, the fitting-free check."""
    return {"linear_acc": linear_probe_accuracy(features, seed=seed), "knn_acc": knn_accuracy(features)}
