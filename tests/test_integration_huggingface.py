"""dynaprune.integrations.huggingface: transformers.Trainer, with PruningTrainer, trains exactly
what `dynaprune.Pruner` selects for the same method, rate and seed (subsets, order, loss weights),
with epochs of their real length and an LR schedule that ends at the last real step; under two
processes each rank trains the Pruner's share; and the TREC-6 example prunes as it says.

Run as a script, this file is one rank of the two-process test (torchrun starts it)."""

from __future__ import annotations

import math
import os
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from dynaprune import Pruner, pruning  # noqa: E402
from dynaprune.integrations.huggingface import PruningArguments, PruningTrainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N, LENGTH, CLASSES, BATCH = 96, 8, 3, 16
EPOCHS, WARMUP, RATE, SEED = 5, 2, 0.5, 3  # E = 5: InfoBatch and SeTa anneal in the last epoch
METHODS = sorted(pruning.REGISTRY)


class Toy(torch.utils.data.Dataset):
    """Dict items, as a tokenised dataset gives them, plus a column the model does not take."""

    def __init__(self, n: int):
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(1, 64, (n, LENGTH), generator=g)
        self.y = self.ids[:, 0] % CLASSES

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        mask = torch.ones(LENGTH, dtype=torch.long)
        return {"input_ids": self.ids[i], "attention_mask": mask, "labels": self.y[i], "source": torch.tensor(i)}


def make_trainer(
    method: str, out: Path, n: int = N, per_sample_loss=None, **overrides
) -> tuple[PruningTrainer, dict[int, list[dict]]]:
    """A tiny BERT in a PruningTrainer (TrainingArguments `overrides`), its Pruner's loss calls recorded per epoch."""
    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=LENGTH, num_labels=CLASSES,
    )  # fmt: skip
    settings = dict(
        num_train_epochs=EPOCHS, per_device_train_batch_size=BATCH, learning_rate=1e-3, warmup_steps=2, seed=SEED,
        use_cpu=True, report_to="none", logging_strategy="no", save_strategy="no", disable_tqdm=True,
        ddp_find_unused_parameters=False,
    )  # fmt: skip
    args = transformers.TrainingArguments(output_dir=str(out), **{**settings, **overrides})
    trainer = PruningTrainer(
        model=transformers.BertForSequenceClassification(config),
        args=args,
        train_dataset=Toy(n),
        pruning=PruningArguments(method, RATE, warmup_epochs=WARMUP, labels=Toy(n).y),  # for static_random
        per_sample_loss=per_sample_loss,
    )
    batches: dict[int, list[dict]] = {}
    pruner, loss = trainer.pruner, trainer.pruner.loss

    def recorded(idx, per_sample, logits=None, **signals):
        weights = pruner.weights(idx)
        out = loss(idx, per_sample, logits=logits, **signals)
        batches.setdefault(pruner.epoch, []).append(
            {
                "idx": idx.clone(),
                "loss": per_sample.detach().clone(),
                "logits": logits.detach().clone(),
                "weights": None if weights is None else weights.clone(),
                "out": out.detach().clone(),
            }
        )
        return out

    pruner.loss = recorded  # the test's spy on this one instance
    return trainer, batches


def replay_pruner(method: str, n: int = N) -> Pruner:
    return Pruner(method, num_samples=n, rate=RATE, epochs=EPOCHS, warmup_epochs=WARMUP, seed=SEED, labels=Toy(n).y)


@pytest.mark.parametrize("method", METHODS)
def test_the_trainer_trains_what_the_pruner_selects(method, tmp_path):
    trainer, trained = make_trainer(method, tmp_path)
    trainer.train()
    pruner = replay_pruner(method)
    assert sorted(trained) == list(range(EPOCHS))
    for epoch in range(EPOCHS):
        pruner.set_epoch(epoch)
        expected = pruner.epoch_indices().split(BATCH)
        ours = trained[epoch]
        assert len(ours) == len(expected), f"epoch {epoch}: another number of batches"
        for batch, idx in zip(ours, expected):
            assert torch.equal(batch["idx"], idx), f"epoch {epoch}: another subset or order"
            w = pruner.weights(idx)
            assert (w is None) == (batch["weights"] is None), f"epoch {epoch}: weighting differs"
            if w is not None:
                assert torch.equal(w, batch["weights"]), f"epoch {epoch}: other weights"
            loss = pruner.loss(idx, batch["loss"].clone().requires_grad_(), logits=batch["logits"])
            assert torch.equal(loss.detach(), batch["out"])
        assert trainer.epoch_sizes[epoch] == pruner.epoch_indices().numel()
    assert torch.equal(trainer.pruner.stats.loss, pruner.stats.loss)

    sizes = [trainer.epoch_sizes[e] for e in range(EPOCHS)]
    assert sizes[:WARMUP] == [N] * WARMUP
    if pruning.REGISTRY[method].uses_rate:
        assert all(sizes[e] < N for e in range(EPOCHS) if pruner.plan.is_pruned(e)), sizes
        assert sum(sizes) < EPOCHS * N
    # Epochs of their real length, and a schedule laid over exactly the steps trained: the linear
    # decay reaches 0 at the last step.
    steps = sum(math.ceil(n / BATCH) for n in sizes)
    assert trainer.state.global_step == steps
    assert trainer.state.epoch == pytest.approx(EPOCHS)
    assert trainer.state.max_steps == steps == trainer.lr_scheduler.total()
    assert trainer.lr_scheduler.get_last_lr()[0] == 0.0


def test_emp_prunes_to_its_budget_and_evaluation_keeps_the_trainer_loss(tmp_path):
    trainer, trained = make_trainer("emp", tmp_path)
    loader = trainer.get_train_dataloader()
    assert len(loader) == math.ceil(N / BATCH) and trainer.pruner.epoch == 0  # before any epoch: epoch 0's, drawn once
    # The Trainer's column removal took `source` (the model does not take it), not the index.
    assert set(next(iter(loader))) == {"input_ids", "attention_mask", "labels", "pruning_index"}
    trainer.train()
    k = pruning.keep_count(RATE, N)
    assert [trainer.epoch_sizes[e] for e in range(EPOCHS)] == [N] * WARMUP + [k] * (EPOCHS - WARMUP)
    assert [sum(b["idx"].numel() for b in trained[e]) for e in range(EPOCHS)] == [N] * WARMUP + [k] * (EPOCHS - WARMUP)
    # what the loggers get: the samples trained and the saving achieved, and a speed over those
    summary = trainer.state.log_history[-1]
    per_epoch = [row["pruning_epoch_samples"] for row in trainer.state.log_history if "pruning_epoch_samples" in row]
    assert per_epoch == [N] * WARMUP + [k] * (EPOCHS - WARMUP)
    trained = N * WARMUP + k * (EPOCHS - WARMUP)
    assert summary["pruning_trained_samples"] == trained and summary["pruning_rate"] == RATE
    assert summary["pruning_achieved_saving"] == pytest.approx(1 - trained / (N * EPOCHS), abs=1e-6)
    assert summary["train_samples_per_second"] == pytest.approx(trained / summary["train_runtime"], rel=1e-2)
    first, sizes = trainer.pruner, dict(trainer.epoch_sizes)
    trainer.train()  # another run prunes afresh, with a Pruner of its own
    assert trainer.pruner is not first and trainer.epoch_sizes == sizes
    metrics = trainer.evaluate(Toy(32))
    assert math.isfinite(metrics["eval_loss"])
    with pytest.raises(ValueError, match=r"set_epoch\(0\) after epoch 4: every epoch is drawn once"):
        trainer.train_sampler.set_epoch(0)


def test_mlflow_gets_the_method_as_params_and_what_pruning_did_as_metrics(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "hf")
    trainer, _ = make_trainer("emp", tmp_path / "out", report_to="mlflow", logging_strategy="epoch")
    trainer.train()
    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("hf").experiment_id])
    params, metrics = run.data.params, run.data.metrics
    assert (params["pruning_method"], params["pruning_rate"], params["pruning_warmup_epochs"]) == ("emp", "0.5", "2")
    assert params["pruning_beta"] == "1.0"  # the method's options, resolved
    k = pruning.keep_count(RATE, N)
    epochs = [m.value for m in client.get_metric_history(run.info.run_id, "pruning_epoch_samples")]
    assert epochs == [N, N, k, k, k]  # each epoch's size, as trained
    assert metrics["pruning_trained_samples"] == 2 * N + 3 * k
    assert metrics["pruning_achieved_saving"] == pytest.approx(1 - (2 * N + 3 * k) / (EPOCHS * N), abs=1e-6)


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="whole number"):
        make_trainer("emp", tmp_path, num_train_epochs=2.5)
    with pytest.raises(ValueError, match="dataloader_drop_last"):
        make_trainer("emp", tmp_path, dataloader_drop_last=True)
    trainer, _ = make_trainer("random", tmp_path)
    with pytest.raises(
        ValueError, match="holds no Pruner state .pruner-0.pt.: resume from a checkpoint PruningTrainer"
    ):
        trainer.train(resume_from_checkpoint=str(tmp_path))
    with pytest.raises(ValueError, match="resume_from_checkpoint=True, but .* holds no checkpoint"):
        trainer.train(resume_from_checkpoint=True)


@pytest.mark.parametrize("method", ["emp", "infobatch"])  # sizes known in advance, and drawn from the losses
def test_a_run_resumed_from_a_checkpoint_trains_what_the_uninterrupted_run_does(method, tmp_path):
    # Checkpoints every 4 steps: 6 steps a warm-up epoch, then shorter pruned ones, so most fall
    # within an epoch. Resumed from each of two (one within an epoch), a new Trainer and Pruner
    # train the rest exactly as the uninterrupted run did.
    whole, batches = make_trainer(method, tmp_path / "whole", save_strategy="steps", save_steps=4)
    whole.train()
    flat = lambda recorded: [(e, b) for e in sorted(recorded) for b in recorded[e]]
    everything = flat(batches)
    for step in (12, 16):  # the end of the warm-up; one step into the first... later pruned epoch
        again, rest = make_trainer(method, tmp_path / "whole", save_strategy="no")
        again.train(resume_from_checkpoint=str(tmp_path / "whole" / f"checkpoint-{step}"))
        resumed = flat(rest)
        assert len(resumed) == len(everything) - step
        for (e, ours), (f, theirs) in zip(resumed, everything[step:], strict=True):
            assert e == f and torch.equal(ours["idx"], theirs["idx"]), f"step {step}: another subset or order"
            assert (ours["weights"] is None) == (theirs["weights"] is None)
            assert ours["weights"] is None or torch.equal(ours["weights"], theirs["weights"])
            assert torch.allclose(ours["out"], theirs["out"], atol=1e-6), f"step {step}: another loss"
        assert again.epoch_sizes == whole.epoch_sizes
        assert again.state.global_step == whole.state.global_step
        for key, value in whole.pruner.stats.state_dict().items():
            theirs = again.pruner.stats.state_dict()[key]
            assert value == theirs if key == "momentum" else torch.allclose(value, theirs, atol=1e-6), key


def test_an_iterable_dataset_is_refused_with_the_reason_not_the_trainers_max_steps_advice(tmp_path):
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(Toy(N))

    args = transformers.TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    model = torch.nn.Linear(1, 1)
    with pytest.raises(ValueError, match="PruningTrainer selects samples by index: pass a map-style train_dataset"):
        PruningTrainer(model=model, args=args, train_dataset=Stream(), pruning=PruningArguments("emp", RATE))


@pytest.mark.parametrize(
    "schedule, options", [("polynomial", {"lr_end": 5e-4, "power": 1.0}), ("cosine_with_min_lr", {"min_lr": 5e-4})]
)
def test_a_schedule_with_an_absolute_floor_follows_the_plain_trainers(schedule, options, tmp_path):
    # Unpruned (full), the schedule must be the Trainer's own, step by step: its floor is absolute,
    # so a schedule laid out for a learning rate of 1 would end far below it.
    lr = 1e-3
    trainer, _ = make_trainer(
        "full", tmp_path, learning_rate=lr, lr_scheduler_type=schedule, lr_scheduler_kwargs=options
    )
    trainer.train()
    total = trainer.state.global_step
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    plain = transformers.get_scheduler(schedule, reference, 2, total, scheduler_specific_kwargs=options)
    for _ in range(total):
        reference.step()
        plain.step()
    assert trainer.lr_scheduler.get_last_lr()[0] == pytest.approx(plain.get_last_lr()[0], rel=1e-9)
    assert plain.get_last_lr()[0] == pytest.approx(5e-4, rel=0.1)  # the floor holds (not 1e-3 * 5e-4)


def test_accumulation_label_smoothing_and_a_custom_loss(tmp_path):
    """Gradient accumulation over epochs whose length the losses decide (InfoBatch), label smoothing
    in the default loss, and a user's per-sample loss in its place."""
    trainer, trained = make_trainer(
        "infobatch", tmp_path / "a", gradient_accumulation_steps=4, label_smoothing_factor=0.1, save_strategy="epoch"
    )
    trainer.train()
    sizes = [trainer.epoch_sizes[e] for e in range(EPOCHS)]
    steps = sum(math.ceil(math.ceil(n / BATCH) / 4) for n in sizes)
    assert trainer.state.global_step == steps == trainer.state.max_steps
    # Checkpoints hold the schedule's counters (its plan is code, not state).
    assert torch.load(tmp_path / "a" / f"checkpoint-{steps}" / "scheduler.pt")["last_epoch"] == steps
    assert trainer.lr_scheduler.get_last_lr()[0] == 0.0 and trainer.state.epoch == pytest.approx(EPOCHS)
    y = Toy(N).y
    for batch in trained[EPOCHS - 1]:
        smoothed = F.cross_entropy(batch["logits"], y[batch["idx"]], reduction="none", label_smoothing=0.1)
        assert torch.allclose(batch["loss"], smoothed)

    halves = lambda outputs, labels: 0.5 * F.cross_entropy(outputs.logits, labels, reduction="none")
    trainer, trained = make_trainer("emp", tmp_path / "b", per_sample_loss=halves)
    trainer.train()
    for batch in trained[0]:
        assert torch.allclose(batch["loss"], halves(SimpleNamespace(logits=batch["logits"]), y[batch["idx"]]))


def test_example_fine_tunes_minilm_on_trec6_with_emp(capsys, monkeypatch):
    args = ["--train-size", "300", "--max-length", "32", "--epochs", "3", "--warmup", "1"]
    monkeypatch.setattr(sys, "argv", ["trec6_emp_trainer.py", *args])
    runpy.run_path(str(ROOT / "examples" / "trec6_emp_trainer.py"), run_name="__main__")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("emp@0.7")]
    assert len(lines) == 4 and lines[0] == "emp@0.7 epoch 1/3 | trained 300"
    # The warm-up epoch trains all 300 questions, the pruned ones round(0.3 * 300) = 90.
    assert [int(line.split("trained ")[1]) for line in lines[:3]] == [300, 90, 90]
    assert "achieved saving 0.467" in lines[-1]  # 1 - (300 + 2 * 90) / (3 * 300)
    acc = float(lines[-1].split("test accuracy ")[1].split(",")[0])
    assert 1 / 6 < acc <= 1, lines[-1]  # above chance on TREC's 500 test questions, after 480 samples


DDP_N, DDP_METHODS, WORLD = 101, ("emp", "infobatch"), 2  # 101: a remainder the shares leave out


@pytest.mark.slow
def test_two_processes_train_the_pruner_shares(tmp_path):
    """torchrun, two CPU processes (gloo): accelerate runs the Trainer data-parallel, and each rank
    trains the Pruner's share of the selection, in its order, with its weights."""
    from conftest import free_port  # (not at the top: a rank runs this file without the test suite)

    port = str(free_port())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(WORLD), "--master_port", port,
         __file__, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    for method in DDP_METHODS:
        runs = [rank[method] for rank in ranks]
        assert [run["world"] for run in runs] == [WORLD] * WORLD
        pruner = replay_pruner(method, DDP_N)  # one process, fed what the ranks gathered
        for epoch in range(EPOCHS):
            pruner.set_epoch(epoch)
            selection = pruner.epoch_indices()
            kept = selection[: selection.numel() - selection.numel() % WORLD]
            batches = [run["batches"][epoch] for run in runs]
            for r in range(WORLD):
                trained = torch.cat([b["idx"] for b in batches[r]])
                assert torch.equal(trained, kept[r::WORLD]), f"{method} epoch {epoch}: rank {r} is not its share"
            assert sorted(torch.cat([b["idx"] for rank in batches for b in rank]).tolist()) == sorted(kept.tolist())
            assert runs[0]["sizes"][epoch] == kept.numel() and selection.numel() - kept.numel() < WORLD
            assert len({len(rank) for rank in batches}) == 1  # every rank runs as many steps
            assert all(b["idx"].numel() == BATCH for rank in batches for b in rank[:-1])
            for step in zip(*batches):
                idx = torch.cat([b["idx"] for b in step])
                w = pruner.weights(idx)
                if w is not None:
                    assert torch.equal(w, torch.cat([b["weights"] for b in step])), f"{method} epoch {epoch}"
                loss, logits = torch.cat([b["loss"] for b in step]), torch.cat([b["logits"] for b in step])
                pruner.loss(idx, loss, logits=logits)
        for run in runs:  # every rank's table holds every rank's losses, as the replay's does
            assert torch.equal(run["table"], pruner.stats.loss)


if __name__ == "__main__":  # one rank of test_two_processes_train_the_pruner_shares
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    results = {}
    # accelerate's options for how batches reach the ranks must change nothing: the Pruner shards.
    # split_batches: the batch size is over all ranks, so each rank's batches hold BATCH samples, as with emp.
    split = {"split_batches": True, "dispatch_batches": True, "use_seedable_sampler": True, "even_batches": True}
    options = {"emp": {}, "infobatch": {"accelerator_config": split, "per_device_train_batch_size": WORLD * BATCH}}
    for method in DDP_METHODS:
        trainer, batches = make_trainer(method, out / method, n=DDP_N, **options[method])
        trainer.train()
        run = {"batches": batches, "sizes": trainer.epoch_sizes, "world": trainer.pruner.world.size}
        results[method] = {**run, "table": trainer.pruner.stats.loss}
    torch.save(results, out / f"rank{trainer.pruner.world.rank}.pt")
