"""The stage scripts as a user runs them: bad input gives one line, exit 2, no traceback, no output."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # runs the stages or several processes: minutes in all

ROOT = Path(__file__).resolve().parents[1]


def run_stage(cwd, script, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"train": {"lr": 0}}, "train.lr = 0 is invalid: expected a number > 0"),
        ({"data": {"datset": "digits"}}, "did you mean 'dataset'"),
        ({"data": {"dataset": "digits", "train_size": 99999}}, "data.train_size = 99999 is larger than the 1347"),
    ],
)
def test_prepare_refuses_bad_input_cleanly(tmp_path, params, expected):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_stage(tmp_path, "prepare.py")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()


def test_train_without_warmup_says_what_to_run(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"dataset": "digits"}}))
    assert run_stage(tmp_path, "prepare.py").returncode == 0
    proc = run_stage(tmp_path, "train.py", "--method", "emp", "--rate", "0.5", "--seed", "0")
    assert proc.returncode == 2 and "run the warmup@0 stage first" in proc.stderr
    assert not (tmp_path / "outputs" / "train").exists()
    proc = run_stage(tmp_path, "train.py", "--method", "emq", "--rate", "0.5", "--seed", "0")
    assert proc.returncode == 2 and "no method named 'emq'" in proc.stderr


def test_a_diverging_run_fails_its_mlflow_run_and_writes_no_results(tmp_path):
    from mlflow.tracking import MlflowClient

    params = {
        "data": {"dataset": "digits"},
        "train": {"epochs": 3, "warmup_epochs": 2, "lr": 1e12},
        "tracking": {"experiment": "nan"},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert run_stage(tmp_path, "prepare.py").returncode == 0
    proc = run_stage(tmp_path, "warmup.py")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training loss became nan") and "lower train.lr" in last, proc.stderr
    assert not (tmp_path / "outputs" / "warmup" / "0" / "metrics.json").exists()
    assert not (tmp_path / "outputs" / "warmup" / "0" / "checkpoint.pt").exists()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("nan").experiment_id], "tags.`dvc.stage` = 'warmup@0'")
    assert [r.info.status for r in runs] == ["FAILED"]


def test_nlu_stages_refuse_bad_input_cleanly(tmp_path):
    pytest.importorskip("datasets")
    params = {"study": {"nlu_datasets": ["sst2"]}, "nlu": {"model": "small_transformer"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    # a dataset the params do not list
    proc = run_stage(tmp_path, "nlu_prepare.py", "--dataset", "trec6")
    assert proc.returncode == 2 and "--dataset trec6 is not in study.nlu_datasets (sst2)" in proc.stderr
    # SST-2 with neither local files nor the network
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "nlu_prepare.py"), "--dataset", "sst2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "SST-2 could not be loaded" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "nlu").exists()
    # a warm-up before its dataset is prepared names the stage to run
    proc = run_stage(tmp_path, "nlu_warmup.py", "--dataset", "sst2", "--seed", "0")
    assert proc.returncode == 2 and "run the nlu_prepare@sst2 stage first" in proc.stderr
