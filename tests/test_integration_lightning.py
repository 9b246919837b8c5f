"""Pruning inside lightning.Trainer (dynaprune.integrations.lightning): a LightningModule trains, for
every registered method, exactly the samples, in the order and with the loss weights, that a plain
`Pruner` loop replaying the same losses trains; under DDP each rank trains its share; Trainer
settings that would train other samples are refused before any does; the example trains digits."""

import math
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

L = pytest.importorskip("lightning")
from lightning.pytorch.utilities.exceptions import MisconfigurationException  # noqa: E402

from dynaprune import Pruner, WithIndex, pruning  # noqa: E402
from dynaprune.integrations.lightning import PruningCallback  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RATE, SEED, EPOCHS, WARMUP, BATCH = 0.7, 3, 5, 2, 64  # E = 5: InfoBatch and SeTa anneal in the last epoch
QUIET = {"enable_progress_bar": False, "logger": False, "enable_checkpointing": False, "enable_model_summary": False}
RUN = {"max_epochs": EPOCHS, "accelerator": "cpu", **QUIET}  # with trainer_kwargs, what every fit here sets


def digits_xy() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return torch.tensor(bunch.data, dtype=torch.float32) / 16.0, torch.tensor(bunch.target)


class Recorder(L.LightningModule):
    """A small MLP on digits that records, per epoch, each batch as training_step saw it: the
    indices, per-sample losses and logits it gave the Pruner, the weights and the loss it returned."""

    def __init__(self, pruning: PruningCallback, x: torch.Tensor, y: torch.Tensor, out: Path | None = None, **loader):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        self.pruning, self.data, self.out, self.loader = pruning, TensorDataset(x, y), out, loader
        self.batches: dict[int, list[dict]] = {}
        self.num_batches: list[int] = []  # what Lightning counted for each epoch

    def train_dataloader(self):
        return DataLoader(WithIndex(self.data), batch_size=BATCH, **{"sampler": self.pruning.sampler, **self.loader})

    def on_train_epoch_start(self):
        self.num_batches.append(self.trainer.num_training_batches)

    def training_step(self, batch, batch_idx):
        idx, x, y = batch
        logits = self.net(x)
        per_sample = F.cross_entropy(logits, y, reduction="none")
        loss = self.pruning.loss(idx, per_sample, logits=logits)
        self.batches.setdefault(self.current_epoch, []).append(
            {
                "idx": idx.clone(),
                "loss": per_sample.detach().clone(),
                "logits": logits.detach().clone(),
                "weights": self.pruning.pruner.weights(idx),
                "returned": loss.detach().clone(),
            }
        )
        return loss

    def on_train_end(self):
        if self.out is not None:  # a spawned rank hands its record back through a file
            record = {"batches": self.batches, "stats": self.pruning.pruner.stats.state_dict()}
            torch.save(record, self.out / f"rank{self.global_rank}.pt")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def make_pruner(method: str, y: torch.Tensor, **options) -> Pruner:
    return Pruner(method, len(y), rate=RATE, epochs=EPOCHS, warmup_epochs=WARMUP, seed=SEED, labels=y, options=options)


def fit(method: str, x, y, **trainer_overrides) -> tuple[Recorder, PruningCallback]:
    callback = PruningCallback(make_pruner(method, y))
    module = Recorder(callback, x, y)
    kwargs = {**callback.trainer_kwargs, **RUN, "devices": 1, **trainer_overrides}
    L.Trainer(callbacks=[callback], **kwargs).fit(module)
    return module, callback


@pytest.mark.parametrize("method", sorted(pruning.REGISTRY))
def test_lightning_trains_what_the_pruner_loop_trains(method):
    x, y = digits_xy()
    module, callback = fit(method, x, y)
    n = len(y)

    # The plain loop: a fresh Pruner, its sampler in a DataLoader, fed the losses Lightning's run produced.
    pruner = make_pruner(method, y)
    loader = DataLoader(WithIndex(TensorDataset(torch.arange(n))), batch_size=BATCH, sampler=pruner.sampler)
    sizes = []
    for epoch in range(EPOCHS):
        pruner.set_epoch(epoch)
        ours, theirs = list(loader), module.batches[epoch]
        assert len(theirs) == len(ours), f"epoch {epoch}: another number of batches"
        for (idx, _), batch in zip(ours, theirs):
            assert torch.equal(batch["idx"], idx), f"epoch {epoch}: another subset or order"
            w = pruner.weights(idx)
            assert (w is None) == (batch["weights"] is None), f"epoch {epoch}: weighting differs"
            if w is not None:
                assert torch.equal(batch["weights"], w), f"epoch {epoch}: other weights"
            # The loss training_step returned is the weighted mean with these weights.
            assert torch.equal(batch["returned"], pruner.loss(idx, batch["loss"], logits=batch["logits"]))
        sizes.append(pruner.epoch_indices().numel())
        assert sum(len(b["idx"]) for b in theirs) == sizes[-1], f"epoch {epoch}: another number of samples"
    # Warm-up epochs train every sample once; pruned ones fewer (except `full`), and Lightning counted
    # each epoch's batches anew, so no epoch was cut short or padded.
    for epoch in range(WARMUP):
        assert sorted(torch.cat([b["idx"] for b in module.batches[epoch]]).tolist()) == list(range(n))
    pruned = [sizes[e] for e in range(EPOCHS) if pruner.plan.is_pruned(e)]
    assert pruned and all(s < n for s in pruned) or method == "full", sizes
    assert module.num_batches == [math.ceil(s / BATCH) for s in sizes]
    # Both tables hold the same history, sample by sample.
    for key, value in pruner.stats.state_dict().items():
        theirs = callback.pruner.stats.state_dict()[key]
        assert value == theirs if key == "momentum" else torch.equal(value, theirs), key


@pytest.mark.parametrize(
    "overrides, loader, match",
    [
        ({"reload_dataloaders_every_n_epochs": 0}, {}, r"reload_dataloaders_every_n_epochs=1"),
        ({"max_epochs": EPOCHS + 1}, {}, rf"max_epochs={EPOCHS}, the Pruner's epochs"),
        ({"max_epochs": None}, {}, rf"max_epochs={EPOCHS}, the Pruner's epochs"),  # Lightning's default: 1000
        ({"max_steps": 20}, {}, "no max_steps"),
        ({"limit_train_batches": 0.5}, {}, "no limit_train_batches"),
        ({"fast_dev_run": True}, {}, "no limit_train_batches"),
        ({}, {"sampler": None, "shuffle": True}, "samples with RandomSampler, not pruning.sampler"),
        ({}, {"drop_last": True}, "drop_last=True"),
    ],
)
def test_settings_that_would_train_other_samples_are_refused_before_any_trains(overrides, loader, match):
    x, y = digits_xy()
    callback = PruningCallback(make_pruner("emp", y))
    module = Recorder(callback, x, y, **loader)
    kwargs = {**callback.trainer_kwargs, **RUN, "devices": 1, **overrides}
    with pytest.raises(MisconfigurationException, match=match) as err:
        L.Trainer(callbacks=[callback], **kwargs).fit(module)
    assert "\n" not in str(err.value)  # one line that says what to set
    assert module.batches == {}  # nothing trained


def test_a_pruner_serves_one_fit_from_epoch_0():
    x, y = digits_xy()
    module, callback = fit("random", x, y)
    with pytest.raises(RuntimeError, match="Lightning starts epoch 0 but the Pruner is at epoch 4"):
        L.Trainer(callbacks=[callback], **callback.trainer_kwargs, **RUN, devices=1).fit(module)


def test_a_fit_resumed_from_a_checkpoint_trains_what_an_uninterrupted_one_does(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    class StopAfterEpoch2(L.Callback):
        def on_train_epoch_end(self, trainer, module):
            trainer.should_stop = trainer.current_epoch == 2  # an interruption after epoch 2, saved at its end

    x, y = digits_xy()
    whole, _ = fit("emp", x, y)
    first = PruningCallback(make_pruner("emp", y))
    begun = Recorder(first, x, y)
    saving = {**first.trainer_kwargs, **RUN, "devices": 1, "enable_checkpointing": True}
    checkpoints = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    L.Trainer(callbacks=[first, StopAfterEpoch2(), checkpoints], **saving).fit(begun)
    assert sorted(begun.batches) == [0, 1, 2]
    second = PruningCallback(make_pruner("emp", y))  # a new process: a new Pruner, given the checkpoint
    resumed = Recorder(second, x, y)
    L.Trainer(callbacks=[second], **{**second.trainer_kwargs, **RUN, "devices": 1}).fit(
        resumed, ckpt_path=tmp_path / "last.ckpt"
    )
    assert sorted(resumed.batches) == [3, 4]
    parts = {**begun.batches, **resumed.batches}
    for epoch in range(EPOCHS):
        for ours, theirs in zip(parts[epoch], whole.batches[epoch], strict=True):
            assert torch.equal(ours["idx"], theirs["idx"]), f"epoch {epoch}: another subset or order"
            assert (ours["weights"] is None) == (theirs["weights"] is None)
            assert ours["weights"] is None or torch.equal(ours["weights"], theirs["weights"])
            assert torch.equal(ours["returned"], theirs["returned"]), f"epoch {epoch}: another loss"
    for key, value in whole.pruning.pruner.stats.state_dict().items():
        theirs = second.pruner.stats.state_dict()[key]
        assert value == theirs if key == "momentum" else torch.equal(value, theirs), key


def test_under_ddp_each_rank_trains_its_share_and_the_tables_agree(tmp_path):
    """Two CPU processes (ddp_spawn, gloo): each rank trains every other sample of the Pruner's
    selection (a remainder of one is left out) with its weights, and both hold the table of the
    whole run (losses and memory terms), which a one-process Pruner fed both ranks' batches (rank
    0's first, as all_gather orders them) holds. EMP with rescaling: a memory signal and weights."""
    x, y = digits_xy()
    callback = PruningCallback(make_pruner("emp", y, rescale=True))
    module = Recorder(callback, x, y, out=tmp_path)
    kwargs = {**callback.trainer_kwargs, **RUN, "devices": 2, "strategy": "ddp_spawn"}
    L.Trainer(callbacks=[callback], **kwargs).fit(module)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    pruner = make_pruner("emp", y, rescale=True)
    for epoch in range(EPOCHS):
        pruner.set_epoch(epoch)
        full = pruner.epoch_indices()
        full = full[: full.numel() - full.numel() % 2]
        for rank, record in enumerate(ranks):
            trained = torch.cat([b["idx"] for b in record["batches"][epoch]])
            assert torch.equal(trained, full[rank::2]), f"epoch {epoch}: rank {rank} trained another share"
        for b0, b1 in zip(ranks[0]["batches"][epoch], ranks[1]["batches"][epoch], strict=True):
            for b in (b0, b1):
                w = pruner.weights(b["idx"])
                assert (w is None) == (b["weights"] is None) and (w is None or torch.equal(w, b["weights"]))
            both = {k: torch.cat([b0[k], b1[k]]) for k in ("idx", "loss", "logits")}
            pruner.loss(both["idx"], both["loss"], logits=both["logits"])
    assert ranks[1]["batches"][WARMUP][0]["weights"] is not None  # the rescaled epochs were weighted
    for key, value in pruner.stats.state_dict().items():
        for record in ranks:
            theirs = record["stats"][key]
            assert value == theirs if key == "momentum" else torch.equal(value, theirs), key


def test_example_script_trains_digits_with_emp_in_lightning(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["digits_emp_lightning.py", "--epochs", "8"])
    example = runpy.run_path(str(ROOT / "examples" / "digits_emp_lightning.py"), run_name="__main__")
    lines = [line for line in capsys.readouterr().out.strip().splitlines() if line.startswith("emp@0.7")]
    assert len(lines) == 9 and lines[0].startswith("emp@0.7 epoch 1/8 | trained 1347")
    # Warm-up epochs train all 1,347 samples, pruned ones round(0.3 * 1347) = 404.
    assert [int(line.split("trained ")[1].split(" ")[0]) for line in lines[:8]] == [1347] * 2 + [404] * 6
    acc = float(lines[-1].split("test accuracy ")[1].split(",")[0])
    assert acc > 0.9, lines[-1]
    assert "achieved saving 0.525" in lines[-1]  # 1 - (2 * 1347 + 6 * 404) / (8 * 1347)
    # The plain loop (examples/digits_emp.py) with the same seed trains the same model: the same
    # samples in the same order, the same steps (up to one test sample of float noise).
    plain = example["digits_emp"].main(epochs=8)
    assert plain["trained"] == [1347] * 2 + [404] * 6
    assert abs(plain["test_acc"] - acc) <= 1 / 450 + 1e-4, (plain["test_acc"], acc)


@pytest.mark.slow  # two processes started by Lightning's ddp launcher (the script runs again per rank): ~20 s
def test_example_script_under_ddp_trains_each_rank_a_share():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "digits_emp_lightning.py"), "--epochs", "4", "--devices", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("emp@0.7")]  # rank 0's
    # Two ranks of 673 (the 1,347th sample is left out, so both run as many batches), then 202 each.
    assert [int(line.split("trained ")[1].split(" ")[0]) for line in lines[:4]] == [1346] * 2 + [404] * 2
