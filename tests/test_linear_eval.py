"""Linear evaluation: the encoder stays frozen, and the probes score what they should."""

import copy

import pytest
import torch

from pipeline.core.augment import InputPipeline
from pipeline.core.evaluate import Features, frozen_features, knn_accuracy, labelled_subset, linear_probe_accuracy
from pipeline.core.models import build_encoder


def test_linear_eval_leaves_every_encoder_weight_and_buffer_unchanged(digits):
    torch.manual_seed(0)
    encoder, width = build_encoder("small_cnn", digits.in_channels)
    encoder.train()
    before = copy.deepcopy(encoder.state_dict())
    inputs = InputPipeline(*digits.channel_stats(), torch.device("cpu"))
    train = frozen_features(encoder, digits.train_x, inputs, 256)
    test = frozen_features(encoder, digits.test_x, inputs, 256)
    assert train.shape == (len(digits), width) and not train.requires_grad
    features = Features(train, digits.train_y, test, digits.test_y)
    linear, knn = linear_probe_accuracy(features), knn_accuracy(features)
    after = encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats included
    assert encoder.training  # the caller's mode is restored
    # even a random conv encoder's features separate digits well above chance (10%)
    assert 0.5 < linear <= 1.0 and 0.5 < knn <= 1.0


def test_knn_votes_by_cosine_neighbours():
    train = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0]])
    train_y = torch.tensor([0, 0, 1])
    test = torch.tensor([[0.1, 5.0], [3.0, 0.0]])
    features = Features(train, train_y, test, torch.tensor([1, 0]))
    assert knn_accuracy(features, k=1) == 1.0
    # with k = 3 every test point sees two votes for class 0
    assert knn_accuracy(features, k=3) == 0.5


def test_a_label_budget_draws_that_many_of_each_class_without_replacement():
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 2, 1, 0, 2])  # class sizes 4, 3, 3
    picked = labelled_subset(labels, 2, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[picked]).tolist() == [2, 2, 2]
    assert picked.tolist() == sorted(set(picked.tolist()))  # ascending, no repeats
    again = labelled_subset(labels, 2, torch.Generator().manual_seed(0))
    assert torch.equal(picked, again)  # the same seed, the same labels
    assert torch.equal(labelled_subset(labels, None, torch.Generator()), torch.arange(10))
    three = set(labelled_subset(labels, 3, torch.Generator()).tolist())
    assert {1, 4, 7, 3, 6, 9} <= three and len(three) == 9  # classes 1 and 2 whole, 3 of class 0's 4
    with pytest.raises(ValueError, match="class 1 has 3 samples, fewer than the 4 asked for"):
        labelled_subset(labels, 4, torch.Generator())
