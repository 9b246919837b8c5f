"""The public API for one's own loop (dynaprune.Pruner): a sampler-driven PyTorch loop trains on
exactly the subsets, in the same order and with the same weights, as the study's own epoch loop
for the same method, rate and seed; and the example script trains digits with it."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from torch.utils.data import DataLoader, TensorDataset

from dynaprune import Pruner, WithIndex, pruning
from dynaprune.stats import SampleStats
from pipeline.study.grids import SUPERVISED

ROOT = Path(__file__).resolve().parents[1]
RATE, SEED = 0.7, 3
CFG = tiny_config(epochs=5, warmup_epochs=2)  # E = 5: InfoBatch and SeTa anneal in the last epoch
METHODS = sorted(pruning.REGISTRY)


def record_pipeline(monkeypatch, run):
    """Run `run()` (the study's loop) and return, per epoch, its batches in training order: the
    sample indices, their per-sample losses and memory terms, and the weights the loss used."""
    batches: dict[int, list[dict]] = {}
    pending = []
    observe, weighted_mean = SampleStats.observe, pruning.weighted_mean

    def spy_mean(per_sample, weights):
        pending.append(None if weights is None else weights.clone())
        return weighted_mean(per_sample, weights)

    def spy_observe(self, indices, loss, epoch, trained=True, **signals):
        if trained:
            batches.setdefault(epoch, []).append(
                {
                    "idx": indices.clone(),
                    "loss": loss.clone(),
                    "memory": signals["memory"].clone(),
                    "weights": pending.pop(),
                }
            )
        return observe(self, indices, loss, epoch, trained, **signals)

    monkeypatch.setattr(SampleStats, "observe", spy_observe)
    monkeypatch.setattr(pruning, "weighted_mean", spy_mean)
    result = run()
    monkeypatch.undo()
    return batches, result


@pytest.fixture(scope="module")
def recorded_warmup(digits):
    mp = pytest.MonkeyPatch()
    batches, checkpoint = record_pipeline(mp, lambda: SUPERVISED.setup(CFG).warmup(digits, seed=SEED))
    return batches, checkpoint


@pytest.mark.parametrize("method", METHODS)
def test_the_sampler_loop_trains_what_the_pipeline_loop_trains(method, digits, recorded_warmup, monkeypatch):
    warmup_batches, checkpoint = recorded_warmup
    pruned_batches, result = record_pipeline(
        monkeypatch,
        lambda: SUPERVISED.setup(CFG).pruned_run(
            digits, checkpoint, method=method, rate=RATE, seed=SEED, keep_selections=True
        ),
    )
    pipeline = {**warmup_batches, **pruned_batches}
    n, E = len(digits), CFG.train.epochs

    # The user's loop: a DataLoader over the indexed dataset, sampled by the Pruner, replaying the
    # pipeline's per-sample losses and memory terms as the user's forward pass would produce them.
    pruner = Pruner(
        method,
        num_samples=n,
        rate=RATE,
        epochs=E,
        warmup_epochs=CFG.train.warmup_epochs,
        seed=SEED,
        labels=digits.train_y,
    )
    loader = DataLoader(
        WithIndex(TensorDataset(torch.arange(n))), batch_size=CFG.train.batch_size, sampler=pruner.sampler
    )
    for epoch in range(E):
        pruner.set_epoch(epoch)
        theirs = pipeline[epoch]
        ours = list(loader)
        assert len(ours) == len(theirs), f"epoch {epoch}: another number of batches"
        for (idx, _), batch in zip(ours, theirs):
            assert torch.equal(idx, batch["idx"]), f"epoch {epoch}: another subset or order"
            w = pruner.weights(idx)
            assert (w is None) == (batch["weights"] is None), f"epoch {epoch}: weighting differs"
            if w is not None:
                assert torch.equal(w, batch["weights"]), f"epoch {epoch}: other weights"
            per_sample = batch["loss"].clone().requires_grad_()
            loss = pruner.loss(idx, per_sample, memory=batch["memory"])
            assert torch.equal(loss.detach(), pruning.weighted_mean(batch["loss"], batch["weights"]))
    # The pruned epochs' subsets are the pipeline's, and the tables agree sample by sample.
    W = CFG.train.warmup_epochs
    for epoch, selection in zip(range(W, E), result.selections):
        assert sorted(torch.cat([b["idx"] for b in pipeline[epoch]]).tolist()) == sorted(selection.tolist())
    # (The Pruner's table keeps the signals its method reads; the pipeline's, all its task produces.)
    ours = pruner.stats.state_dict()
    assert ours.keys() == {"momentum", "loss", "mean", "var", "visits", "last_epoch", *pruning.REGISTRY[method].reads}
    for key, value in ours.items():
        assert value == result.stats[key] if key == "momentum" else torch.equal(value, result.stats[key]), key


def test_memory_comes_from_the_logits_and_unread_signals_are_refused_cleanly():
    pruner = Pruner("emp", num_samples=4, rate=0.5, epochs=3, warmup_epochs=1)
    pruner.set_epoch(0)
    logits = torch.tensor([[5.0, 0.0], [0.0, 0.0]])
    per_sample = torch.tensor([0.5, 1.5], requires_grad=True)
    loss = pruner.loss(torch.tensor([2, 0]), per_sample, logits=logits)
    assert loss.item() == pytest.approx(1.0)  # warm-up: weight 1, the plain mean
    loss.backward()
    assert per_sample.grad.tolist() == [0.5, 0.5]  # the graph is the caller's
    # entropy: log 2 for the uniform prediction, ~0.04 for the confident one
    assert pruner.stats.signal("memory")[0].item() == pytest.approx(0.6931, abs=1e-4)
    assert pruner.stats.signal("memory")[2].item() == pytest.approx(0.0402, abs=1e-3)
    with pytest.raises(ValueError, match="pass logits"):
        pruner.loss(torch.tensor([1]), torch.tensor([1.0]))
    with pytest.raises(RuntimeError, match="set_epoch"):
        list(Pruner("random", num_samples=4, rate=0.5, epochs=3).sampler)
    with pytest.raises(ValueError, match="warmup_epochs"):
        Pruner("random", num_samples=4, rate=0.5, epochs=3, warmup_epochs=3)


def test_options_are_validated_like_params_yaml():
    with pytest.raises(Exception, match="did you mean 'beta'"):
        Pruner("emp", num_samples=10, rate=0.5, epochs=3, options={"betta": 2.0})
    with pytest.raises(Exception, match="unknown pruning method 'empp'"):
        Pruner("empp", num_samples=10, rate=0.5, epochs=3)
    pruner = Pruner("infobatch", num_samples=10, rate=0.5, epochs=8, options={"anneal": False})
    assert pruner.plan.anneal_start == 8


def test_example_script_trains_digits_with_emp(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["digits_emp.py", "--epochs", "8"])
    runpy.run_path(str(ROOT / "examples" / "digits_emp.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 9 and lines[0].startswith("emp@0.7 epoch 1/8 | trained 1347")
    # Warm-up epochs train all 1,347 samples, pruned ones round(0.3 * 1347) = 404.
    assert [int(line.split("trained ")[1].split(" ")[0]) for line in lines[:8]] == [1347] * 2 + [404] * 6
    acc = float(lines[-1].split("test accuracy ")[1].split(",")[0])
    assert acc > 0.9, lines[-1]
    assert "achieved saving 0.525" in lines[-1]  # 1 - (2 * 1347 + 6 * 404) / (8 * 1347)


def test_importing_the_library_loads_nothing_of_the_study_tracking_or_plotting():
    """`from dynaprune import Pruner` is what a user's own loop imports: it must stay light (the
    import-linter contract in pyproject.toml checks the static closure; this, what really loads;
    tests/test_library_package.py runs it where none of these is installed)."""
    heavy = ("pipeline", "mlflow", "dvc", "matplotlib", "yaml", "sklearn", "scipy", "transformers", "lightning")
    code = (
        "import sys; from dynaprune import Pruner, WithIndex; "
        f"print('\\n'.join(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m.startswith('dynaprune')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "dynaprune.pruner" in loaded and "dynaprune.pruning.plan" in loaded
    assert [m for m in loaded if not m.startswith("dynaprune")] == []


def test_a_per_pixel_loss_reduced_per_sample_prunes_and_a_logit_reading_method_refuses_it(capsys, monkeypatch):
    """examples/digits_denoise.py: denoising (per-pixel squared error, averaged per sample) with
    a method that reads the loss only; EMP, which reads the entropy of class scores, says why not."""
    monkeypatch.setattr(sys, "argv", ["digits_denoise.py", "--method", "orderdp", "--epochs", "6"])
    runpy.run_path(str(ROOT / "examples" / "digits_denoise.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    # warm-up: all 1,347 samples; pruned at rate 0.5: round(0.5 * 1347) = 673.5 -> 674 (half up)
    assert [int(line.split("trained ")[1].split(" ")[0]) for line in lines[:6]] == [1347] * 2 + [674] * 4
    assert "achieved saving 0.333" in lines[-1]  # 1 - (2 * 1347 + 4 * 674) / (6 * 1347) = 0.3331
    mse, noisy = (float(x) for x in re.findall(r"test MSE ([\d.]+) \(noisy input: ([\d.]+)\)", lines[-1])[0])
    assert mse < 0.5 * noisy, lines[-1]  # it learned to denoise, not just to copy its input

    pruner = Pruner("emp", num_samples=8, rate=0.5, epochs=3, warmup_epochs=1)
    pruner.set_epoch(0)
    idx, outputs = torch.arange(4), torch.zeros(4, 1, 8, 8)
    with pytest.raises(ValueError, match=r"logits have shape \(4, 1, 8, 8\), not \(batch = 4, classes >= 2\)"):
        pruner.loss(idx, torch.ones(4), logits=outputs)
    with pytest.raises(ValueError, match=r"choose a method that reads the loss only \(full, random, .*orderdp"):
        pruner.loss(idx, torch.ones(4), logits=torch.zeros(4, 1))  # one output column: no class prediction
    rs2 = Pruner("rs2", num_samples=8, rate=0.5, epochs=3)
    rs2.set_epoch(0)
    with pytest.raises(ValueError, match=r"shape \(4, 1, 8, 8\): pass one loss per sample, shape \(4,\)"):
        rs2.loss(idx, outputs)  # the per-pixel loss, not reduced per sample
