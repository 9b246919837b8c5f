"""The supervised loop on scikit-learn's digits: it learns, it is deterministic, it counts right."""

import math
from dataclasses import replace

import pytest
import torch
from conftest import tiny_config

from dynaprune.pruning import MethodSpec, keep_count
from dynaprune.pruning.infobatch import InfoBatchOptions
from dynaprune.stats import achieved_saving
from pipeline.core.errors import UserError
from pipeline.study.grids import SUPERVISED
from pipeline.training import loop, optim


def test_warmup_checkpoint_holds_the_last_training_pass_statistics(digits_warmup, digits):
    cfg, ck = digits_warmup
    n = len(digits)
    assert ck["epoch"] == 2 and len(ck["history"]) == 2 and ck["seed"] == 0
    stats = ck["stats"]
    assert torch.all(stats["visits"] == 2)  # two full epochs
    assert torch.all(stats["last_epoch"] == 1)  # every sample recorded as trained in epoch W-1
    # The losses are those of the last warm-up epoch's training pass: their mean is that epoch's train loss.
    assert stats["loss"].mean().item() == pytest.approx(ck["history"][-1]["train_loss"], rel=1e-5)
    assert stats["loss"].shape == (n,) and torch.all(stats["loss"] >= 0)
    assert torch.all(stats["memory"] >= 0) and torch.all(stats["memory"] <= math.log(10) + 1e-5)


def test_eval_pass_starting_statistics_are_an_option(digits):
    cfg = tiny_config(init_stats="eval_pass")
    ck = SUPERVISED.setup(cfg).warmup(digits)
    # an eval-mode pass over clean images after the warm-up: other losses than the training pass's
    assert torch.all(ck["stats"]["visits"] == 2)
    assert abs(ck["stats"]["loss"].mean().item() - ck["history"][-1]["train_loss"]) > 1e-4


def test_each_seed_runs_its_own_warmup(digits_warmup, digits):
    cfg, ck0 = digits_warmup
    ck1 = SUPERVISED.setup(cfg).warmup(digits, seed=1)
    assert ck1["seed"] == 1
    assert not torch.equal(ck0["state"]["model"]["features.0.weight"], ck1["state"]["model"]["features.0.weight"])
    assert ck0["history"][-1]["train_loss"] != ck1["history"][-1]["train_loss"]


def test_training_on_digits_really_learns(digits_warmup, digits):
    cfg, ck = digits_warmup
    result = SUPERVISED.setup(cfg).pruned_run(digits, ck, method="full", rate=0.0, seed=0)
    assert result.metrics["test_acc"] > 0.93
    assert result.achieved_saving == 0.0
    assert [row["epoch"] for row in result.history] == [2, 3, 4, 5]
    assert result.history[-1]["train_loss"] < ck["history"][0]["train_loss"]


def test_achieved_saving_of_a_run_with_known_counts(digits_warmup, digits):
    cfg, ck = digits_warmup
    n, W, E = len(digits), 2, 6
    k = keep_count(0.7, n)
    result = SUPERVISED.setup(cfg).pruned_run(digits, ck, method="random", rate=0.7, seed=0)
    assert [row["kept"] for row in result.history] == [k] * (E - W)
    assert int(result.visits.sum()) == W * n + (E - W) * k
    assert result.achieved_saving == pytest.approx(1 - (W * n + (E - W) * k) / (E * n))

    # InfoBatch: counts vary by epoch; delta 0.5 anneals from epoch ceil(0.5 * 6) = 3 on, with all data
    ib_cfg = replace(cfg, methods={"ib": MethodSpec("ib", "infobatch", InfoBatchOptions(delta=0.5))})
    ib = SUPERVISED.setup(ib_cfg).pruned_run(digits, ck, method="ib", rate=0.7, seed=0)
    kept = [row["kept"] for row in ib.history]
    assert kept[0] < n and kept[1:] == [n, n, n]
    assert int(ib.visits.sum()) == W * n + sum(kept)
    assert ib.achieved_saving == pytest.approx(achieved_saving(W * n + sum(kept), n, E))


def test_same_seed_same_subsets_and_weights(digits_warmup, digits):
    cfg, ck = digits_warmup
    a = SUPERVISED.setup(cfg).pruned_run(digits, ck, method="emp", rate=0.7, seed=0, keep_selections=True)
    b = SUPERVISED.setup(cfg).pruned_run(digits, ck, method="emp", rate=0.7, seed=0, keep_selections=True)
    # the same warm-up relabelled as seed 5's: only the selection seed differs
    c = SUPERVISED.setup(cfg).pruned_run(digits, dict(ck, seed=5), method="emp", rate=0.7, seed=5, keep_selections=True)
    assert all(torch.equal(x, y) for x, y in zip(a.selections, b.selections))
    assert all(torch.equal(a.model_state[k], b.model_state[k]) for k in a.model_state)
    assert a.metrics == b.metrics
    assert not all(torch.equal(x, y) for x, y in zip(a.selections, c.selections))


def test_warmup_is_deterministic(digits):
    cfg = tiny_config(epochs=3, warmup_epochs=1)
    a, b = SUPERVISED.setup(cfg).warmup(digits), SUPERVISED.setup(cfg).warmup(digits)
    assert all(torch.equal(a["state"]["model"][k], b["state"]["model"][k]) for k in a["state"]["model"])
    assert torch.equal(a["stats"]["loss"], b["stats"]["loss"])


def test_lfl_diagnostics_separate_static_from_dynamic(digits_warmup, digits):
    cfg, ck = digits_warmup
    static = SUPERVISED.setup(cfg).pruned_run(digits, ck, method="static_random", rate=0.7, seed=0)
    dynamic = SUPERVISED.setup(cfg).pruned_run(digits, ck, method="random", rate=0.7, seed=0)
    # static: the kept samples (round(0.3 n_c) per class) seen every pruned epoch, the rest never ->
    # Gini = 1 - kept / N exactly
    kept = sum(keep_count(0.7, int(c)) for c in torch.bincount(digits.train_y))
    assert static.history[-1]["kept"] == kept
    assert static.lfl["lfl_gini"] == pytest.approx(1 - kept / len(digits), abs=1e-9)
    assert dynamic.lfl["lfl_gini"] < static.lfl["lfl_gini"]
    assert sum(static.lfl["visit_histogram"]) == len(digits)


def test_learning_rate_schedule_over_fractional_epochs():
    cfg = tiny_config(epochs=10, lr=0.2).train
    assert optim.lr_at(cfg, 0.0) == pytest.approx(0.2)
    assert optim.lr_at(cfg, 5.0) == pytest.approx(0.1)
    assert optim.lr_at(cfg, 2.5) == pytest.approx(0.1 * (1 + math.cos(math.pi / 4)))
    ramp = tiny_config(epochs=10, lr=0.2, lr_warmup_epochs=1.0).train
    assert optim.lr_at(ramp, 0.5) == pytest.approx(0.2 * 0.501)
    assert optim.lr_at(tiny_config(lr_schedule="constant").train, 4.9) == 0.1


def test_pruned_epochs_cover_the_whole_schedule(digits_warmup, digits):
    cfg, ck = digits_warmup
    result = SUPERVISED.setup(cfg).pruned_run(digits, ck, method="random", rate=0.9, seed=0)
    # the lr at the end of the last epoch is the schedule's end, however few steps the epochs had
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-6)


def test_divergence_is_a_clear_error(digits):
    cfg = tiny_config(epochs=2, warmup_epochs=1, lr=1e12)
    with pytest.raises(loop.NonFiniteLossError, match="lower train.lr"):
        SUPERVISED.setup(cfg).warmup(digits)


def test_warmup_epochs_must_match_the_checkpoint(digits_warmup, digits):
    _, ck = digits_warmup
    with pytest.raises(UserError, match=r"train.warmup_epochs = 3: rerun the warmup@0 stage"):
        SUPERVISED.setup(tiny_config(warmup_epochs=3)).pruned_run(digits, ck, method="random", rate=0.5, seed=0)


@pytest.mark.slow  # compiling takes about 40 s
def test_compiled_model_computes_what_the_eager_one_does(digits):
    # torch.compile (train.compile) compiles in place: same checkpoint keys, same per-sample losses.
    eager = SUPERVISED.setup(tiny_config()).task(digits, seed=0)
    compiled = SUPERVISED.setup(tiny_config(compile=True)).task(digits, seed=0)
    assert compiled.model._compiled_call_impl is not None and eager.model._compiled_call_impl is None
    assert list(compiled.model.state_dict()) == list(eager.model.state_dict())
    idx = torch.arange(64)
    with torch.no_grad():
        (loss_e, sig_e), (loss_c, sig_c) = eager.losses(idx, None), compiled.losses(idx, None)
    memory_e, memory_c = sig_e["memory"], sig_c["memory"]
    assert torch.allclose(loss_c, loss_e, atol=1e-4) and torch.allclose(memory_c, memory_e, atol=1e-4)


def test_warmup_progress_counts_to_its_own_epochs(digits, capsys):
    """The warm-up's lines count to W (and its ETA is of the warm-up's epochs), not to E."""
    cfg = tiny_config(epochs=6, warmup_epochs=2)
    SUPERVISED.setup(cfg).warmup(digits)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if " epoch " in line]
    assert [line.split(" | ")[0].split()[-1] for line in lines] == ["1/2", "2/2"]
    assert lines[-1].endswith("ETA 0m00s")
