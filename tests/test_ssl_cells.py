"""The SSL cells in process, in a temporary working tree: pre-training warm-up, a pruned
pre-training cell, the linear evaluation of its encoder and of the untrained reference, DLC and
the downstream cells, each logged to MLflow."""

import pytest
import torch
from mlflow.tracking import MlflowClient

from dynaprune.seeding import generator
from pipeline.core import data, io, selectors
from pipeline.core.errors import UserError
from pipeline.core.evaluate import Features, labelled_subset, probe_accuracies
from pipeline.study import cells, config, grids, paths, probing, store, tracking
from pipeline.training.tasks import SimCLRTask

pytestmark = pytest.mark.slow  # runs the stages or several processes: minutes in all


@pytest.fixture
def prepared(tmp_path, monkeypatch, digits):
    """A working tree holding the prepared digits, with its own MLflow store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    md5 = data.save_prepared(digits, paths.DATASET_FILE)
    io.write_json(
        paths.DATASET_META,
        {
            "name": "digits",
            "train_size": len(digits),
            "test_size": 450,
            "image_shape": [1, 8, 8],
            "classes": list(digits.classes),
            "md5": md5,
        },
    )
    return tmp_path


def test_pretrain_cell_then_linear_eval(prepared, digits):
    tmp_path = prepared
    cfg = config.from_dict(
        {
            "data": {"dataset": "digits"},
            "runtime": {"device": "cpu"},
            "pretrain": {"epochs": 3, "warmup_epochs": 1, "batch_size": 64, "hidden": 64, "projection_dim": 32},
            "tracking": {"experiment": "ssl-cells"},
        }
    )
    cells.run_warmup(cfg, grids.SSL, seed=0)
    cells.run_cell(cfg, grids.SSL, method="emp", rate=0.5, seed=0)
    cell = tmp_path / "outputs" / "pretrain" / "emp-0.5-0"
    saved = io.read_json(cell / "metrics.json")
    assert set(torch.load(cell / "encoder.pt")) and "fc.weight" not in torch.load(cell / "encoder.pt")
    metrics = probing.run_linear_eval(cfg, method="emp", rate=0.5, seed=0)
    assert 0.5 < metrics["linear_acc"] <= 1.0 and 0.5 < metrics["knn_acc"] <= 1.0
    assert metrics["achieved_saving"] == saved["achieved_saving"]
    assert (
        io.read_json(tmp_path / "outputs" / "linear_eval" / "emp-0.5-0" / "metrics.json")["linear_acc"]
        == metrics["linear_acc"]
    )
    client = MlflowClient(store.tracking_uri())
    exp = client.get_experiment_by_name("ssl-cells")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert {"pretrain_warmup@0", "pretrain emp-0.5-0", "linear_eval emp-0.5-0"} <= set(runs)
    ssl_run = runs["pretrain emp-0.5-0"]
    assert ssl_run.data.tags["dvc.stage"] == "pretrain@emp-0.5-0"
    assert ssl_run.data.params["pretrain.temperature"] == "0.5"
    assert [m.step for m in client.get_metric_history(ssl_run.info.run_id, "knn_acc")] == [2, 3]
    assert runs["linear_eval emp-0.5-0"].data.metrics["linear_acc"] == tracking.shown(metrics["linear_acc"])


def test_dlc_and_downstream_cells(prepared, digits):
    cfg = config.from_dict(
        {
            "data": {"dataset": "digits"},
            "runtime": {"device": "cpu"},
            "pretrain": {"epochs": 2, "warmup_epochs": 1, "batch_size": 64, "hidden": 64, "projection_dim": 32},
            "downstream": {"levels": 5, "delta": 0.1},
            "tracking": {"experiment": "downstream"},
        }
    )
    cells.run_warmup(cfg, grids.SSL, seed=0)
    cells.run_cell(cfg, grids.SSL, method="full", rate=0.0, seed=0)
    probing.run_dlc(cfg, seed=0)
    blob = torch.load(paths.dlc_file(0))
    assert blob["scores"].shape == (len(digits),) and blob["train_features"].shape[0] == len(digits)
    # the downstream comparison's first row: the full-data encoder probed on every label
    everything = io.read_json(paths.all_labels_file(0))
    assert everything["kept"] == len(digits) and everything["achieved_saving"] == 0.0
    expected = probe_accuracies(Features(blob["train_features"], digits.train_y, blob["test_features"], digits.test_y))
    assert everything["linear_acc"] == expected["linear_acc"] and everything["knn_acc"] == expected["knn_acc"]
    # every selector keeps round(0.5 n_c) of each class (static random and DLC top-K per class, as the
    # DLC authors compare them with FlexRand)
    per_class = torch.bincount(digits.train_y).tolist()
    K = sum(int(0.5 * n + 0.5) for n in per_class)
    results = {s: probing.run_downstream(cfg, selector=s, rate=0.5, seed=0) for s in selectors.SELECTORS}
    for selector, metrics in results.items():
        assert metrics["kept"] == K and metrics["achieved_saving"] == 1 - K / len(digits), selector
        assert 0.3 < metrics["linear_acc"] <= 1.0, selector
    scores, labels = blob["scores"], digits.train_y
    easiest = selectors.select("dlc_easiest", scores, labels, rate=0.5, gen=generator(0))
    hardest = selectors.select("dlc_hardest", scores, labels, rate=0.5, gen=generator(0))
    for c in range(10):
        e, h = easiest[labels[easiest] == c], hardest[labels[hardest] == c]
        assert float(scores[e].max()) <= float(scores[h].min())
    # the global variant: round(0.5 N) = 674 (halves up), easiest all below hardest
    easiest = selectors.select("dlc_easiest", scores, labels, rate=0.5, gen=generator(0), stratified=False)
    hardest = selectors.select("dlc_hardest", scores, labels, rate=0.5, gen=generator(0), stratified=False)
    assert len(easiest) == len(hardest) == 674
    assert float(scores[easiest].max()) <= float(scores[hardest].min())


def test_the_untrained_reference_is_the_encoder_pre_training_starts_from(prepared, digits):
    cfg = config.from_dict(
        {
            "data": {"dataset": "digits"},
            "runtime": {"device": "cpu"},
            "pretrain": {"epochs": 2, "warmup_epochs": 1, "batch_size": 64, "hidden": 64, "projection_dim": 32},
            "tracking": {"experiment": "untrained"},
        }
    )
    run = grids.SSL.setup(cfg)
    first = {}
    for seed in (0, 1):
        start = run.task(digits, seed=seed).encoder.state_dict()
        encoder, _ = SimCLRTask.initial_encoder(cfg.model.arch, digits.in_channels, seed)
        assert all(torch.equal(start[k].cpu(), v) for k, v in encoder.state_dict().items())
        first[seed] = encoder.state_dict()["features.0.weight"]
    assert not torch.equal(first[0], first[1])  # each seed its own initial weights
    metrics = probing.run_untrained_probe(cfg, seed=1)
    assert 0.3 < metrics["linear_acc"] <= 1.0 and 0.1 < metrics["knn_acc"] <= 1.0
    saved = io.read_json(paths.LINEAR_EVAL_DIR / "untrained-0.0-1" / "metrics.json")
    assert saved["method"] == "untrained" and saved["seed"] == 1 and saved["linear_acc"] == metrics["linear_acc"]


def test_a_label_budget_fits_every_encoder_of_a_seed_on_the_same_labels(prepared, digits):
    raw = {
        "data": {"dataset": "digits"},
        "runtime": {"device": "cpu"},
        "linear_eval": {"labels_per_class": 5},
        "tracking": {"experiment": "label-budget"},
    }
    cfg = config.from_dict(raw)
    metrics = probing.run_untrained_probe(cfg, seed=1)
    keep = labelled_subset(digits.train_y, 5, generator(1, "probe labels"))
    assert len(keep) == 50 and torch.bincount(digits.train_y[keep]).tolist() == [5] * 10
    encoder, _ = SimCLRTask.initial_encoder(cfg.model.arch, digits.in_channels, 1)
    features = probing.encoder_features(cfg, digits, encoder.eval())
    expected = probe_accuracies(features.labelled(keep), seed=1)
    assert metrics["linear_acc"] == expected["linear_acc"] and metrics["knn_acc"] == expected["knn_acc"]
    everything = probe_accuracies(features, seed=1)
    assert metrics["linear_acc"] < everything["linear_acc"]  # 50 labels fit worse than 1,348
    too_many = config.from_dict({**raw, "linear_eval": {"labels_per_class": 1000}})
    with pytest.raises(UserError, match=r"linear_eval.labels_per_class is too large: class \d has \d+ samples"):
        probing.run_untrained_probe(too_many, seed=1)
