"""DLC's masking levels counted by hand, DLC's ordering, FlexRand's per-class counts and intervals."""

import pytest
import torch
from torch import nn

from dynaprune.seeding import generator
from pipeline.core.dlc import dlc_scores, dlc_top_k, flexrand, masked_counts, masked_encoders
from pipeline.core.selectors import select


def tiny_encoder():
    """|w| = conv 4, 1, 3, 2 and linear 0.5, 6: six prunable weights."""
    enc = nn.Sequential(nn.Conv2d(1, 1, 2, bias=False), nn.Flatten(), nn.Linear(1, 2, bias=False))
    with torch.no_grad():
        enc[0].weight.copy_(torch.tensor([[[[4.0, -1.0], [3.0, 2.0]]]]))
        enc[2].weight.copy_(torch.tensor([[0.5], [-6.0]]))
    return enc


def test_masked_counts_follow_r_k():
    # r_k = 1 - 0.5^k: 0, 0.5, 0.75 of 6 weights -> 0, 3, 4.5 rounded half up to 5
    assert masked_counts(6, 3, 0.5) == [0, 3, 5]
    assert masked_counts(1000, 3, 0.02) == [0, 20, 40]  # 1 - 0.98^2 = 0.0396 -> 39.6 -> 40


def test_each_level_zeroes_the_globally_smallest_weights():
    enc = tiny_encoder()
    seen = []
    for masked in masked_encoders(enc, 3, 0.5):
        seen.append((masked[0].weight.flatten().tolist(), masked[2].weight.flatten().tolist()))
    assert seen[0] == ([4.0, -1.0, 3.0, 2.0], [0.5, -6.0])
    assert seen[1] == ([4.0, 0.0, 3.0, 0.0], [0.0, -6.0])  # 0.5, 1 and 2 go first, across layers
    assert seen[2] == ([0.0, 0.0, 0.0, 0.0], [0.0, -6.0])  # then 3 and 4
    assert enc[0].weight.flatten().tolist() == [4.0, -1.0, 3.0, 2.0]  # the original is untouched


def test_dlc_ranks_an_ambiguous_sample_hardest():
    x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.5, 0.5]])
    y = torch.tensor([0, 0, 1, 1, 0])
    encoder = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        encoder.weight.copy_(torch.tensor([[1.0, 0.2], [0.3, 1.0]]))
    scores = dlc_scores(encoder, lambda enc: enc(x), y, levels=4, delta=0.2)
    assert int(scores.argmax()) == 4
    assert dlc_top_k(scores, 0.4, hardest=True).tolist() == sorted(scores.argsort(descending=True)[:3].tolist())
    assert 4 not in dlc_top_k(scores, 0.4, hardest=False).tolist()


def test_single_level_dlc_is_the_prototype_cross_entropy():
    # One level = the unmasked encoder (identity here): prototype 0 = mean of class 0 = (1, 1/3),
    # prototype 1 = (0, 2); sample 2 at (1, 1) has logits 1 / distance and loss -log softmax[0].
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([0, 1, 0, 0])
    identity = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        identity.weight.copy_(torch.eye(2))
    scores = dlc_scores(identity, lambda enc: enc(x), y, levels=1)
    proto0 = x[[0, 2, 3]].mean(0)
    d0, d1 = float((x[2] - proto0).norm()), float((x[2] - x[1]).norm())
    expected = -torch.log_softmax(torch.tensor([1 / d0, 1 / d1]), 0)[0]
    assert float(scores[2]) == pytest.approx(float(expected), abs=1e-6)


def intervals(picked, scores, labels, c, gamma):
    members = torch.nonzero(labels == c).flatten()
    ranked = members[scores[members].argsort()].tolist()
    split = int(gamma * len(ranked) + 0.5)
    return (sum(i in ranked[:split] for i in picked), sum(i in ranked[split:] for i in picked))


def test_flexrand_takes_half_the_budget_from_each_interval_per_class():
    labels = torch.tensor([0] * 10 + [1] * 6)
    scores = torch.randperm(16, generator=torch.Generator().manual_seed(0)).float()
    picked = flexrand(scores, labels, rate=0.5, gen=torch.Generator().manual_seed(1)).tolist()
    assert len(picked) == 5 + 3 and picked == sorted(set(picked))
    assert intervals(picked, scores, labels, 0, 0.5) == (2, 3)  # budget 5: 5 // 2 easy, the rest hard
    assert intervals(picked, scores, labels, 1, 0.5) == (1, 2)  # budget 3


@pytest.mark.parametrize("gamma, expected", [(0.1, (1, 5)), (0.9, (5, 1))])
def test_flexrand_fills_from_the_other_interval_when_one_is_too_small(gamma, expected):
    labels = torch.zeros(10, dtype=torch.long)
    scores = torch.arange(10.0)
    picked = flexrand(scores, labels, rate=0.4, gen=torch.Generator().manual_seed(0), gamma=gamma).tolist()
    assert len(picked) == 6  # round(0.6 * 10)
    assert intervals(picked, scores, labels, 0, gamma) == expected


def test_dlc_top_k_and_static_random_keep_round_b_n_c_per_class():
    # classes of 4, 6 and 10 at rate 0.5: 2, 3 and 5 kept; at rate 0.75: round(1.0) = 1, round(1.5) = 2
    # (halves up), round(2.5) = 3
    labels = torch.tensor([0] * 4 + [1] * 6 + [2] * 10)
    scores = torch.arange(20, dtype=torch.float32).flip(0)  # sample i has score 19 - i
    easiest = dlc_top_k(scores, 0.5, hardest=False, labels=labels)
    # the lowest scores of each class are its last members
    assert easiest.tolist() == [2, 3, 7, 8, 9, 15, 16, 17, 18, 19]
    hardest = dlc_top_k(scores, 0.75, hardest=True, labels=labels)
    assert hardest.tolist() == [0, 4, 5, 10, 11, 12]
    assert torch.bincount(labels[hardest]).tolist() == [1, 2, 3]
    kept = select("static_random", scores, labels, rate=0.75, gen=generator(0))
    assert torch.bincount(labels[kept]).tolist() == [1, 2, 3]
    # global variants, as options: round((1 - rate) * N)
    assert dlc_top_k(scores, 0.75, hardest=True).tolist() == [0, 1, 2, 3, 4]
    assert len(select("static_random", scores, labels, rate=0.75, gen=generator(0), stratified=False)) == 5
