"""A team's MLflow tracking server: with MLFLOW_TRACKING_URI pointing at a real `mlflow server`
(started here on loopback, backed by SQLite and an artifact folder), the stages log over HTTP,
nothing goes to a local mlflow.db, and the runs read back from the server."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import mlflow_server, stage_env
from mlflow.tracking import MlflowClient

from pipeline.study import tracking

pytestmark = pytest.mark.slow  # runs the stages or several processes: minutes in all

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("server")
    with mlflow_server(home) as uri:
        yield uri, home


def test_stages_log_to_the_tracking_server(server, tmp_path):
    uri, home = server
    params = {
        "data": {"dataset": "digits"},
        "runtime": {"device": "cpu"},
        "train": {"epochs": 3, "warmup_epochs": 2},
        "tracking": {"experiment": "team"},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = stage_env(MLFLOW_TRACKING_URI=uri)
    for script, *args in (
        ("prepare.py",),
        ("warmup.py",),
        ("train.py", "--method", "emp", "--rate", "0.5", "--seed", "0"),
    ):
        done = subprocess.run(
            [sys.executable, str(ROOT / "stages" / script), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlartifacts").exists()

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("team")
    runs = {r.data.tags.get("dvc.stage", "study"): r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"study", "warmup@0", "train@emp-0.5-0"}
    cell = runs["train@emp-0.5-0"]
    assert cell.info.status == "FINISHED" and cell.data.tags["mlflow.parentRunId"] == runs["study"].info.run_id
    assert cell.data.params["method"] == "emp" and cell.data.params["rate"] == "0.5"
    history = client.get_metric_history(cell.info.run_id, "test_acc")
    assert [m.step for m in history] == [3]  # epoch 3 of 3, the only pruned epoch
    metrics = yaml.safe_load((tmp_path / "outputs" / "train" / "emp-0.5-0" / "metrics.json").read_text())
    assert history[0].value == tracking.shown(metrics["test_acc"])
    # Artifacts went through the server into its artifact store.
    assert {a.path for a in client.list_artifacts(cell.info.run_id)} == {"curves.png", "visits.png"}
    stored = list((home / "artifacts").rglob("curves.png"))
    assert len(stored) == 2  # the warm-up's and the cell's
