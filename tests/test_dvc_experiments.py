"""DVC's own experiment tools on the real pipeline: two studies queued with different rates run
side by side (`dvc queue start -j 2`), both land in the one MLflow store of the workspace, and
`dvc exp show` compares them by the stable metric columns."""

import json
import time

import pytest
from conftest import dvc_repo, sh
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow  # two small studies in parallel: minutes


def tiny(params: dict) -> None:
    params["data"].update(dataset="digits", train_size=None, test_size=None)
    params["train"].update(epochs=3, warmup_epochs=1, batch_size=64, lr=0.1)
    params["runtime"]["device"] = "cpu"
    params["study"].update(
        {
            "methods": ["random", "emp"],
            "rates": [0.7],
            "seeds": [0],
            "ssl_methods": ["emp"],
            "ssl_rates": [0.7],
            "selectors": ["flexrand"],
        }
    )
    params["pretrain"].update(epochs=2, warmup_epochs=1, batch_size=128, hidden=32, projection_dim=16)
    params["downstream"].update(levels=3)
    params["tracking"] = {"experiment": "queued", "log_models": False}


def test_two_queued_studies_run_in_parallel_into_one_store(tmp_path):
    repo = dvc_repo(tmp_path, tiny)
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "dvc init")
    for rate in ("0.5", "0.7"):
        sh(repo, "dvc", "exp", "run", "--queue", "-n", f"rate-{rate}", "-S", f"study.rates=[{rate}]")
    sh(repo, "dvc", "queue", "start", "-j", "2")
    deadline = time.time() + 1500
    while time.time() < deadline:
        status = sh(repo, "dvc", "queue", "status")
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(5)
    assert "Failed" not in status, sh(repo, "dvc", "queue", "logs", "rate-0.5") + status
    assert (repo / "params.yaml").read_text().count("rates: [0.7]") == 0  # the workspace's params untouched

    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json"))
    exps = {
        e["name"]: e["data"]["metrics"]["reports/metrics.json"]["data"]
        for entry in shown
        for exp in entry.get("experiments") or []
        for e in exp["revs"]
        if e.get("name")
    }
    assert set(exps) == {"rate-0.5", "rate-0.7"}
    for name, metrics in exps.items():  # the same columns for both, each at its own rate
        assert metrics["headline"]["rate"] == float(name.split("-")[1])
        assert set(metrics["headline"]) == set(exps["rate-0.5"]["headline"])

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("queued")
    runs = client.search_runs([experiment.experiment_id], max_results=200)
    parents = [r for r in runs if r.data.tags.get("study_parent") == "true"]
    assert len(parents) == 2 and len({p.data.tags["study.params_hash"] for p in parents}) == 2
    for parent in parents:
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        name = children[0].data.tags["dvc.exp_name"]
        assert {r.data.tags["dvc.exp_name"] for r in children} == {name}
        # A stage whose twin in the other experiment finished first (the 8 with the same params:
        # warm-up, full-data, SimCLR, linear evaluation of its encoder, DLC) is restored from DVC's
        # run cache and logs no run: one run per stage that ran, of the 12 (prepare logs none).
        log = sh(repo, "dvc", "queue", "logs", name).splitlines()
        restored = [line for line in log if "is cached - skipping run" in line and "'prepare'" not in line]
        assert len(restored) <= 8 and len(children) == 12 - len(restored)
        assert all(r.info.status == "FINISHED" for r in children)
