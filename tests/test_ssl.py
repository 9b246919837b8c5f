"""NT-Xent and the SSL memory term against closed-form values."""

import math

import pytest
import torch

from pipeline.core.ssl import ProjectionHead, nt_xent, ssl_memory

B, TAU = 3, 0.5


def aligned_orthogonal():
    """Each image's two views are the same unit vector; different images are orthogonal."""
    z = torch.eye(8)[:B]
    return z, z.clone()


def test_nt_xent_of_aligned_pairs_with_orthogonal_negatives():
    # each view: positive logit 1/tau = 2, the other 2B - 2 = 4 views logit 0
    expected = math.log(math.exp(2.0) + 4) - 2.0
    assert nt_xent(*aligned_orthogonal(), TAU) == pytest.approx(torch.full((B,), expected), abs=1e-6)


def test_nt_xent_per_sample_losses_average_to_simclrs_batch_loss():
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    # SimCLR's definition, written as loops: l(i, j) = -log exp(s_ij / t) / sum_{k != i} exp(s_ik / t)
    v = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1).tolist()
    n = len(v)
    sim = lambda a, b: sum(x * y for x, y in zip(v[a], v[b])) / TAU
    total = 0.0
    for i in range(n):
        j = (i + n // 2) % n
        total += -(sim(i, j) - math.log(sum(math.exp(sim(i, k)) for k in range(n) if k != i)))
    assert float(nt_xent(z1, z2, TAU).mean()) == pytest.approx(total / n, abs=1e-5)


def test_memory_term_is_log_2b_minus_1_when_features_cannot_tell_views_apart():
    h = torch.ones(B, 4)
    assert ssl_memory(h, h.clone(), TAU) == pytest.approx(torch.full((B,), math.log(2 * B - 1)), abs=1e-6)


def test_memory_term_closed_form_and_zero_limit():
    # q_pos = e^2 / (e^2 + 4), each of the 4 others 1 / (e^2 + 4)
    denom = math.exp(2.0) + 4
    q = [math.exp(2.0) / denom] + [1 / denom] * 4
    expected = -sum(p * math.log(p) for p in q)
    assert ssl_memory(*aligned_orthogonal(), TAU) == pytest.approx(torch.full((B,), expected), abs=1e-6)
    assert float(ssl_memory(*aligned_orthogonal(), 0.01).max()) < 1e-6  # features single out the positive


def test_memory_term_stays_within_its_bounds():
    gen = torch.Generator().manual_seed(1)
    h = ssl_memory(torch.randn(16, 8, generator=gen), torch.randn(16, 8, generator=gen), TAU)
    assert float(h.min()) >= 0.0 and float(h.max()) <= math.log(31) + 1e-6


def test_projection_head_shapes():
    head = ProjectionHead(64, hidden=32, out_features=16)
    assert head(torch.randn(4, 64)).shape == (4, 16)
