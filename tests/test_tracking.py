"""Where runs are stored, what every run is tagged with, and run status on failure."""

import pytest
from mlflow.tracking import MlflowClient

from pipeline import config, tracking

META = {"name": "digits", "train_size": 1347, "test_size": 450, "image_shape": [1, 8, 8], "md5": "0" * 32}


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_STAGE", "DVC_EXP_NAME"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_store_is_mlflow_db_at_dvc_root_unless_a_uri_is_set(clean_env, tmp_path):
    clean_env.setenv("DVC_ROOT", str(tmp_path))
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking._artifact_location() == (tmp_path / "mlartifacts").as_uri()
    clean_env.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.tracking_uri() == "http://127.0.0.1:5000"
    assert tracking._artifact_location() is None  # the server chooses


def test_without_dvc_the_store_is_in_the_working_directory(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"


def test_tags_name_the_dvc_stage_and_experiment(clean_env):
    assert tracking.run_tags("warmup")["dvc.stage"] == "warmup"
    assert "dvc.exp_name" not in tracking.run_tags("warmup")
    clean_env.setenv("DVC_STAGE", "train@emp-0.7-0")
    clean_env.setenv("DVC_EXP_NAME", "lower-lr")
    tags = tracking.run_tags("train")
    assert (tags["dvc.stage"], tags["dvc.exp_name"]) == ("train@emp-0.7-0", "lower-lr")


def test_cells_share_one_parent_and_a_failing_cell_is_marked_failed(clean_env, tmp_path):
    clean_env.setenv("DVC_ROOT", str(tmp_path))
    cfg = config.from_dict({"data": {"dataset": "digits"}, "tracking": {"experiment": "unit"}})
    parent = tracking.create_study(cfg, META)
    with tracking.stage_run(cfg, META, "warmup", "ok", {"seed": 3}) as run:
        run.log_epoch({"epoch": 0, "test_acc": 0.5})
    with pytest.raises(RuntimeError):
        with tracking.stage_run(cfg, META, "warmup", "boom"):
            raise RuntimeError("diverged")
    client = MlflowClient(tracking.tracking_uri())
    exp = client.get_experiment_by_name("unit")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert runs["ok"].info.status == "FINISHED" and runs["boom"].info.status == "FAILED"
    assert runs["ok"].data.tags["mlflow.parentRunId"] == runs["boom"].data.tags["mlflow.parentRunId"] == parent
    assert runs["ok"].data.params["seed"] == "3" and runs["ok"].data.params["data.dataset"] == "digits"
    assert [(m.step, m.value) for m in client.get_metric_history(runs["ok"].info.run_id, "test_acc")] == [(1, 0.5)]
    assert tracking.create_study(cfg, META) == parent  # found again by the dataset's md5
