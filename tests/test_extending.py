"""Extending the library touches one place per part (README, "Extending it"): a pruning method is
its own class and one registration, and every test that covers every method covers it too; a
dataset is one function and one registration; a per-sample signal is declared by the task that produces it and
read by the method that uses it, with no change to the statistics table or the loop; a task is a
task class and a grid record, with no change to the study's cell runner."""

import pytest
import test_pruner_misuse
import torch
from conftest import tiny_config
from mlflow.tracking import MlflowClient

from dynaprune import pruning
from dynaprune.pruning import MethodSpec
from dynaprune.pruning.base import PruningMethod, Selection, top_k
from pipeline.core import data, io
from pipeline.core.errors import ConfigError
from pipeline.study import cells, config, paths, store
from pipeline.study.grids import IMAGE_DATA, SUPERVISED, Grid, Layout
from pipeline.training import runs
from pipeline.training.runtime import Runtime
from pipeline.training.tasks import SupervisedTask


@pytest.fixture
def registered():
    """The registries as they were, after the test (the dicts themselves stay: config reads them)."""
    saved = [(registry, dict(registry)) for registry in (data.REGISTRY, pruning.REGISTRY)]
    yield
    for registry, before in saved:
        registry.clear()
        registry.update(before)


class HighestLoss(PruningMethod):
    """A throwaway method: the K samples of highest last loss (its own file, in a project)."""

    name = "highest_loss"

    def select(self, draw, stats, gen):
        return Selection(top_k(stats.loss, self.k), self.uniform_weights(self.k, stats.loss.device))


def test_a_method_is_one_class_and_one_registration(registered, digits):
    pruning.REGISTRY["highest_loss"] = HighestLoss
    # params.yaml names it under methods and in a grid; nothing else of the study changes
    grid = {"methods": ["highest_loss"], "ssl_methods": ["highest_loss"]}
    cfg = tiny_config(epochs=3, warmup_epochs=1, methods={"full": {}, "highest_loss": {}}, study=grid)
    assert cfg.study.methods == ["highest_loss"] and cfg.method("highest_loss").uses_rate
    setup = SUPERVISED.setup(cfg)
    result = setup.pruned_run(digits, setup.warmup(digits), method="highest_loss", rate=0.7, seed=0)
    k = pruning.keep_count(0.7, len(digits))
    assert [row["kept"] for row in result.history] == [k, k]
    # the library's checks that every method passes, run on it unchanged
    test_pruner_misuse.test_a_resumed_run_trains_what_an_uninterrupted_one_does("highest_loss", "within an epoch")
    with pytest.raises(ConfigError, match="'highest_los' has no entry in methods"):
        tiny_config(methods={"full": {}, "highest_loss": {}}, study={"methods": ["highest_los"]})


def test_a_dataset_is_one_function_and_one_registration(registered):
    @data.register("small_digits")
    def small_digits(root):
        return data.load_digits().subset(200, seed=0, test_size=100)

    cfg = config.from_dict({"data": {"dataset": "small_digits"}})  # validation reads the registry
    ds = data.load_dataset(cfg.data.dataset, cfg.data.root)
    assert len(ds) == 200 and ds.test_x.shape[0] == 100
    with pytest.raises(ConfigError, match="did you mean 'small_digits'"):
        config.from_dict({"data": {"dataset": "small_digit"}})


class MarginTask(SupervisedTask):
    """The supervised task with one more signal: the margin between the top two logits."""

    signals = ("memory", "margin")

    def sample_signals(self, logits):
        top2 = logits.float().topk(2, dim=1).values
        return {**super().sample_signals(logits), "margin": top2[:, 0] - top2[:, 1]}


class LowestMargin(PruningMethod):
    """Keeps the K samples the model separates least (a method reading the new signal)."""

    name = "lowest_margin"
    reads = ("margin",)

    def select(self, draw, stats, gen):
        return Selection(top_k(-stats.signal("margin"), self.k))


def test_a_signal_is_declared_by_its_task_and_read_by_its_method(registered, digits):
    pruning.REGISTRY["lowest_margin"] = LowestMargin
    cfg = tiny_config(epochs=3, warmup_epochs=2, crop_padding=0)
    task = MarginTask(digits, runtime=Runtime(cfg.runtime), arch=cfg.model.arch, settings=cfg.train)
    checkpoint = runs.warmup(task, cfg.train, seed=0)
    assert set(checkpoint["stats"]) >= {"memory", "margin"}  # the table kept the new signal unasked
    margins = checkpoint["stats"]["margin"]
    spec = MethodSpec("lowest_margin", "lowest_margin", LowestMargin.Options())
    task = MarginTask(digits, runtime=Runtime(cfg.runtime), arch=cfg.model.arch, settings=cfg.train)
    result = runs.pruned_run(task, cfg.train, checkpoint=checkpoint, entry=spec, rate=0.7, seed=0, keep_selections=True)
    k = pruning.keep_count(0.7, len(digits))
    assert torch.equal(result.selections[0], top_k(-margins, k))  # selected from the warm-up's margins
    # A task that does not produce the signal is refused, in one line, before any training.
    plain = SUPERVISED.setup(cfg).task(digits, seed=0)
    with pytest.raises(ConfigError, match="reads the per-sample signal.s. margin, which this task does not produce"):
        warmup = SUPERVISED.setup(cfg).warmup(digits)
        runs.pruned_run(plain, cfg.train, checkpoint=warmup, entry=spec, rate=0.7, seed=0)


class InvertedTask(SupervisedTask):
    """A toy task: digits classified from their negatives (its own metric name, its own stages)."""

    metrics = ("inverted_acc",)

    def __init__(self, data, **kwargs):
        super().__init__(data, **kwargs)
        self.train_x, self.test_x = 1.0 - self.train_x, 1.0 - self.test_x

    def evaluate(self):
        return {"inverted_acc": super().evaluate()["test_acc"]}


def test_a_task_is_a_task_class_and_a_grid_record(tmp_path, monkeypatch, digits):
    """A new task runs through the study's own warm-up and cell stages (pipeline/study/cells.py,
    unchanged) from one Grid record: its outputs, stage and run names, and MLflow runs. In the
    project, a stage script calling cells.run_cell with the record and a dvc.yaml block complete it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    md5 = data.save_prepared(digits, paths.DATASET_FILE)
    meta = {"name": "digits", "train_size": len(digits), "test_size": 450, "image_shape": [1, 8, 8], "md5": md5}
    io.write_json(paths.DATASET_META, meta)
    inverted = Grid(
        section="train",
        tag="inverted",
        task_class=InvertedTask,
        **IMAGE_DATA,
        layout=Layout.in_outputs(
            warmup="inverted_warmup", cell="inverted", full="inverted_full", run_name="inverted {cell}"
        ),
    )
    cfg = tiny_config(epochs=3, warmup_epochs=1)
    cells.run_warmup(cfg, inverted, seed=0)
    cells.run_cell(cfg, inverted, method="emp", rate=0.7, seed=0)
    saved = io.read_json(tmp_path / "outputs" / "inverted" / "emp-0.7-0" / "metrics.json")
    assert 0.5 < saved["inverted_acc"] <= 1.0 and saved["achieved_saving"] > 0.3
    assert io.read_json(tmp_path / "outputs" / "inverted_warmup" / "0" / "metrics.json")["epochs"] == 1
    client = MlflowClient(store.tracking_uri())
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    cell = runs["inverted emp-0.7-0"]
    assert cell.data.tags["task"] == "inverted" and cell.data.tags["dvc.stage"] == "inverted@emp-0.7-0"
    assert cell.info.status == "FINISHED" and "inverted_acc" in cell.data.metrics
    assert runs["inverted_warmup@0"].data.params["train.lr"] == "0.1"
