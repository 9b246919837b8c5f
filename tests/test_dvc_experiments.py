"""DVC's own experiment tools on the real pipeline: two studies queued with different rates run
side by side (`dvc queue start -j 2`), both land in the one MLflow store of the workspace, and
`dvc exp show` compares them by the stable metric columns.

The stages both studies share are run once first (docs/scaling.md says why: two queued
experiments running the same stage at the same moment race in DVC's run cache, and one fails)."""

import contextlib
import json
import os
import signal
import subprocess
import time

import pytest
from conftest import BIN, dvc_repo, sh, stage_env
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow  # two small studies in parallel: minutes


def tiny(params: dict) -> None:
    """The demo's tiny supervised part (one method pair at one rate, one seed), on the CPU: the
    queue's behaviour does not depend on which stages it runs."""
    params["runtime"]["device"] = "cpu"
    params["study"].update(ssl_seeds=[], selectors=[])
    params["tracking"] = {"experiment": "queued", "log_models": False}


SHARED = ["prepare", "warmup@0", "full@0"]
OWN = 3  # the stages each rate runs on its own: train@random, train@emp, aggregate


def test_two_queued_studies_run_in_parallel_into_one_store(tmp_path):
    repo = dvc_repo(tmp_path, tiny)
    sh(repo, "dvc", "repro", *SHARED)
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "the shared stages")
    for rate in ("0.5", "0.7"):
        sh(repo, "dvc", "exp", "run", "--queue", "-n", f"rate-{rate}", "-S", f"study.rates=[{rate}]")
    # Not waited on: a worker whose queue drained while its last task ran can linger after
    # reporting the task done (seen with DVC's celery workers); the tasks' status is what counts.
    env = stage_env(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    workers = subprocess.Popen(
        ["dvc", "queue", "start", "-j", "2"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 1500
        while time.time() < deadline:
            status = sh(repo, "dvc", "queue", "status")
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(workers.pid, signal.SIGTERM)
    logs = "".join(sh(repo, "dvc", "queue", "logs", f"rate-{r}") for r in ("0.5", "0.7"))
    assert "Failed" not in status, logs[-6000:] + status
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
    parents = {}
    for name in ("rate-0.5", "rate-0.7"):
        # Each experiment logs one run per stage it ran, under the parent run of its own params.
        own = [r for r in runs if r.data.tags.get("dvc.exp_name") == name]
        assert len(own) == OWN and all(r.info.status == "FINISHED" for r in own), name
        [parents[name]] = {r.data.tags["mlflow.parentRunId"] for r in own}
    assert parents["rate-0.5"] != parents["rate-0.7"]
