"""Where runs are stored, what every run is tagged with, and run status on failure."""

import json
import multiprocessing
import os
import time

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.core.errors import UserError
from pipeline.study import config, identity, provenance, stage_runs, store, tracking, views

META = {"name": "digits", "train_size": 1347, "test_size": 450, "image_shape": [1, 8, 8], "md5": "0" * 32}


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_STAGE", "DVC_EXP_NAME"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_store_is_mlflow_db_at_dvc_root_unless_a_uri_is_set(clean_env, tmp_path):
    clean_env.setenv("DVC_ROOT", str(tmp_path))
    assert store.tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    assert store.artifact_location() == (tmp_path / "mlartifacts").as_uri()
    clean_env.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert store.tracking_uri() == "http://127.0.0.1:5000"
    assert store.artifact_location() is None  # the server chooses


def test_without_dvc_the_store_is_in_the_working_directory(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    assert store.tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"


def test_tags_name_the_dvc_stage_and_experiment(clean_env):
    assert provenance.run_tags("warmup")["dvc.stage"] == "warmup"
    assert "dvc.exp_name" not in provenance.run_tags("warmup")
    clean_env.setenv("DVC_STAGE", "train@emp-0.7-0")
    clean_env.setenv("DVC_EXP_NAME", "lower-lr")
    tags = provenance.run_tags("train", {"task": "supervised", "method": "emp", "rate": 0.7, "seed": 0})
    assert (tags["dvc.stage"], tags["stage"], tags["dvc.exp_name"]) == ("train@emp-0.7-0",) * 2 + ("lower-lr",)
    assert (tags["task"], tags["method"], tags["rate"], tags["seed"]) == ("supervised", "emp", "0.7", "0")


def test_runs_carry_mlflows_own_source_tags(clean_env, monkeypatch):
    monkeypatch.setattr("sys.argv", [str(store.repo_root() / "stages" / "train.py")])
    tags = provenance.run_tags("train")
    assert tags["mlflow.source.name"] == "stages/train.py" and tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"]
    if "git.commit" in tags:  # a git checkout: the UI's Source column links the commit
        assert tags["mlflow.source.git.commit"] == tags["git.commit"] and len(tags["git.commit"]) == 40


def test_the_study_is_identified_by_its_params(clean_env, tmp_path):
    clean_env.setenv("DVC_ROOT", str(tmp_path))
    cfg = config.from_dict({"data": {"dataset": "digits"}, "tracking": {"experiment": "ids"}})
    other = config.from_dict(
        {"data": {"dataset": "digits"}, "study": {"rates": [0.5]}, "tracking": {"experiment": "ids"}}
    )
    first, again, edited = (stage_runs.create_study(c, META) for c in (cfg, cfg, other))
    assert first == again != edited  # a params edit starts a new study; the same params find it again
    client = MlflowClient(store.tracking_uri())
    run = client.get_run(edited)
    key = identity.study(other, META).key
    assert run.data.tags[tracking.STUDY_TAG] == key and run.info.run_name.endswith(key[:8])
    assert run.info.status == "RUNNING"  # until aggregate finishes it
    assert run.data.params["study.rates"] == "[0.5]" and run.data.params["dataset_md5"] == "0" * 32
    assert sorted(i.tags[0].value for i in run.inputs.dataset_inputs) == ["test", "train"]
    experiment = client.get_experiment_by_name("ids")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens on runs


def test_finishing_the_study_puts_the_headline_and_report_on_the_parent(clean_env, tmp_path):
    clean_env.setenv("DVC_ROOT", str(tmp_path))
    cfg = config.from_dict({"data": {"dataset": "digits"}, "tracking": {"experiment": "finish"}})
    parent = stage_runs.create_study(cfg, META)
    report = tmp_path / "results.md"
    report.write_text("# Results\n")
    client = MlflowClient(store.tracking_uri())
    assert client.get_run(parent).data.tags["mlflow.source.name"] == "dvc.yaml"  # the study, not the stage
    said = "Supervised, digits:\n\n- At 46.7% skipped, no method is distinguishable from random.\n"
    # 0.812345 is stored as the reports print it, 4 significant digits; 1234.5678 s to 2 decimals
    metrics = {"emp_test_acc": 0.812345, "wall_time_s": 1234.5678, "kept": 13999}
    assert stage_runs.finish_study(cfg, META, metrics=metrics, artifacts=[report], description=said) == parent
    run = client.get_run(parent)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"emp_test_acc": 0.8123, "wall_time_s": 1234.57, "kept": 13999}
    assert run.data.tags["mlflow.note.content"] == said  # the run's description in the UI
    assert [a.path for a in client.list_artifacts(parent, "report")] == ["report/results.md"]


def test_cells_share_one_parent_and_a_failing_cell_is_marked_failed(clean_env, tmp_path):
    clean_env.setenv("DVC_ROOT", str(tmp_path))
    cfg = config.from_dict({"data": {"dataset": "digits"}, "tracking": {"experiment": "unit"}})
    parent = stage_runs.create_study(cfg, META)
    with stage_runs.stage_run(cfg, META, stage="warmup", run_name="ok", params={"seed": 3}) as run:
        run.log_epoch({"epoch": 0, "test_acc": 0.5})
    with pytest.raises(RuntimeError):
        with stage_runs.stage_run(cfg, META, stage="warmup", run_name="boom"):
            raise RuntimeError("diverged")
    client = MlflowClient(store.tracking_uri())
    exp = client.get_experiment_by_name("unit")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert runs["ok"].info.status == "FINISHED" and runs["boom"].info.status == "FAILED"
    assert runs["ok"].data.tags["mlflow.parentRunId"] == runs["boom"].data.tags["mlflow.parentRunId"] == parent
    assert runs["ok"].data.params["seed"] == "3" and runs["ok"].data.params["data.dataset"] == "digits"
    assert [(m.step, m.value) for m in client.get_metric_history(runs["ok"].info.run_id, "test_acc")] == [(1, 0.5)]
    assert stage_runs.create_study(cfg, META) == parent  # found again by the params and the dataset's md5
    assert runs["ok"].data.tags[tracking.STUDY_TAG] == identity.study(cfg, META).key


def _writer(root: str, name: str, epochs: int, barrier) -> None:
    os.environ["DVC_ROOT"] = root
    cfg = config.from_dict({"data": {"dataset": "digits"}, "tracking": {"experiment": "parallel"}})
    barrier.wait()  # all four write at once
    with stage_runs.stage_run(cfg, META, stage=name, run_name=name, params={"writer": name}) as run:
        for epoch in range(epochs):
            run.log_epoch({"epoch": epoch, "train_loss": 1.0 / (epoch + 1), "test_acc": epoch / epochs})
        run.log_metrics({"wall_time_s": 1.0}, step=epochs)


@pytest.mark.slow  # four processes start MLflow: about 20 s
def test_four_concurrent_writers_lose_nothing(clean_env, tmp_path):
    clean_env.setenv("DVC_ROOT", str(tmp_path))
    cfg = config.from_dict({"data": {"dataset": "digits"}, "tracking": {"experiment": "parallel"}})
    parent = stage_runs.create_study(cfg, META)  # the store and experiment, once, up front (as prepare does)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    epochs = 40
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), f"w{i}", epochs, barrier)) for i in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=300)
    assert [w.exitcode for w in writers] == [0, 0, 0, 0]
    client = MlflowClient(store.tracking_uri())
    exp = client.get_experiment_by_name("parallel")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id], "tags.`dvc.stage` LIKE 'w%'")}
    assert sorted(runs) == ["w0", "w1", "w2", "w3"]
    for name, run in runs.items():
        assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == parent
        assert run.data.params["writer"] == name
        for metric in ("train_loss", "test_acc"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, metric)]
            assert sorted(steps) == list(range(1, epochs + 1)), (name, metric)
        assert run.data.metrics["wall_time_s"] == 1.0


class _Flaky:
    """Fails like a busy SQLite store `failures` times, then answers."""

    def __init__(self, failures: int, error: str = "(sqlite3.OperationalError) database is locked"):
        self.failures, self.error, self.calls = failures, error, 0

    def log_batch(self, *args):
        self.calls += 1
        if self.calls <= self.failures:
            raise MlflowException(self.error)
        return "logged"


def test_a_locked_database_is_retried_and_other_errors_are_not():
    flaky = _Flaky(failures=3)
    assert store.RetryingClient(flaky, wait_s=0.001).log_batch("run") == "logged" and flaky.calls == 4
    broken = _Flaky(failures=1, error="no such table: runs")
    with pytest.raises(MlflowException, match="no such table"):
        store.RetryingClient(broken, wait_s=0.001).log_batch("run")
    assert broken.calls == 1
    hopeless = _Flaky(failures=100)
    with pytest.raises(MlflowException, match="locked"):
        store.RetryingClient(hopeless, attempts=3, wait_s=0.001).log_batch("run")
    assert hopeless.calls == 3


def test_an_unreachable_tracking_server_is_refused_in_one_line(clean_env):
    clean_env.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    with pytest.raises(UserError, match=r"MLFLOW_TRACKING_URI = http://127.0.0.1:9 is unreachable"):
        store.check_store()


def test_logging_a_model_leaves_the_environment_as_it_was(clean_env, tmp_path):
    # mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI: left set, it would send every later
    # stage process of the same session (a notebook, a test run) to this store.
    import torch

    clean_env.setenv("DVC_ROOT", str(tmp_path))
    cfg = config.from_dict({"data": {"dataset": "digits"}, "tracking": {"experiment": "models"}})
    with stage_runs.stage_run(cfg, META, stage="full@0", run_name="full-0.0-0") as run:
        run.log_model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), "model", [1, 8, 8])
    assert "MLFLOW_TRACKING_URI" not in os.environ
    client = MlflowClient(store.tracking_uri())
    [model] = client.search_logged_models([client.get_experiment_by_name("models").experiment_id])
    assert model.name == "model" and model.source_run_id == run.run_id


def test_make_ui_points_the_study_view_at_the_latest_study(clean_env, tmp_path):
    clean_env.setenv("DVC_ROOT", str(tmp_path))
    cfg = config.from_dict({"data": {"dataset": "digits"}, "tracking": {"experiment": "views"}})
    tags = {"task": "supervised", "method": "emp", "rate": 0.7, "seed": 0}
    keys = []
    for md5 in ("0" * 32, "1" * 32):  # an older study, then a newer one (another prepared dataset)
        meta = {**META, "md5": md5}
        stage_runs.create_study(cfg, meta)
        with stage_runs.stage_run(cfg, meta, stage="train@emp-0.7-0", run_name="emp-0.7-0", tags=tags):
            pass
        keys.append(identity.study(cfg, meta).key)
        time.sleep(0.01)  # start times a millisecond apart at least: "newest" is well defined
    client = MlflowClient(store.tracking_uri())
    experiment = client.get_experiment_by_name("views")
    assert views.show_latest_study(client, experiment.experiment_id) == keys[1]
    view = json.loads(client.get_experiment(experiment.experiment_id).tags[views.VIEW_TAG + views.VIEW_KEY])
    assert view["searchFilter"] == f"tags.`study.params_hash` = '{keys[1]}' and tags.task = 'supervised'"
    assert view["groupBy"] == views.STUDY_VIEW["groupBy"]  # the rest of the view as it was
