"""SimCLR pre-training with pruning on digits: the shared loop drives it like supervised runs."""

import math

import pytest
import torch

from pipeline.study import config
from pipeline.study.grids import SSL


def ssl_config():
    return config.from_dict(
        {
            "data": {"dataset": "digits"},
            "runtime": {"device": "cpu"},
            "pretrain": {
                "epochs": 3,
                "warmup_epochs": 1,
                "batch_size": 64,
                "lr": 0.1,
                "hidden": 64,
                "projection_dim": 32,
                "min_scale": 0.5,
            },
        }
    )


@pytest.fixture(scope="module")
def ssl_warmup(digits):
    torch.set_num_threads(1)
    cfg = ssl_config()
    return cfg, SSL.setup(cfg).warmup(digits)


def test_warmup_scores_every_sample_with_nt_xent_and_the_memory_term(ssl_warmup, digits):
    cfg, ck = ssl_warmup
    N, B = len(digits), cfg.pretrain.batch_size
    stats = ck["stats"]
    assert ck["epoch"] == 1 and ck["history"][0]["kept"] == N
    assert bool((stats["visits"] == 1).all())  # the scoring pass trains nothing
    # NT-Xent is at most log(2B - 1) + 2 / tau (positive at -1/tau, every negative at +1/tau)
    assert float(stats["loss"].min()) > 0 and float(stats["loss"].max()) < math.log(2 * B - 1) + 2 / 0.5
    assert float(stats["memory"].min()) >= 0 and float(stats["memory"].max()) <= math.log(2 * B - 1) + 1e-5
    assert 0.3 < ck["history"][0]["knn_acc"] <= 1.0


def test_pruned_pretraining_counts_visits_and_saving(ssl_warmup, digits):
    cfg, ck = ssl_warmup
    result = SSL.setup(cfg).pruned_run(digits, ck, method="emp", rate=0.5, seed=0)
    N, K = len(digits), round(0.5 * len(digits) + 1e-9)
    assert [row["kept"] for row in result.history] == [K, K]
    assert result.achieved_saving == pytest.approx(1 - (N + 2 * K) / (3 * N))
    assert set(result.metrics) == {"knn_acc"} and "lfl_gini" in result.final_metrics()
    assert int(result.visits.sum()) == N + 2 * K


def test_pretraining_is_deterministic_on_cpu(ssl_warmup, digits):
    cfg, ck = ssl_warmup
    a = SSL.setup(cfg).pruned_run(digits, ck, method="emp", rate=0.5, seed=0)
    b = SSL.setup(cfg).pruned_run(digits, ck, method="emp", rate=0.5, seed=0)
    assert a.metrics == b.metrics and torch.equal(a.visits, b.visits)
