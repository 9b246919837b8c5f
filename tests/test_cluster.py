"""The grid across a cluster (scripts/cluster.py, pipeline/study/cluster.py), through submitit's
local executor: the tiny study's stages as jobs, 2 at a time, in checkouts of their own that
share one DVC cache, logging to an MLflow server on loopback. One job is killed mid-cell: its
stage is reported with its log, the rerun submits only that stage, which resumes from its
checkpoint. Afterwards `dvc repro` in the workspace runs only the report, and its metrics equal a
plain `dvc repro` of the same params."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BIN, ROOT, dvc_repo, mlflow_server, sh, stage_env
from mlflow.tracking import MlflowClient

pytest.importorskip("submitit")
pytestmark = pytest.mark.slow  # two small studies, one of them as jobs: minutes

KILLED = "train@emp-0.7-0"
JOBS = {"prepare", "warmup@0", "full@0", "train@random-0.7-0", KILLED}  # aggregate stays in the workspace


def supervised(params: dict) -> None:
    """The demo's tiny study without its SimCLR part, with cells long enough to be killed in."""
    params["runtime"]["device"] = "cpu"
    params["train"].update(epochs=12, warmup_epochs=2)
    params["study"].update(ssl_seeds=[], selectors=[])
    params["tracking"]["experiment"] = "cluster"


def committed(repo: Path) -> Path:
    """The repository with DVC's own files committed too: the jobs run a commit."""
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "dvc init")
    return repo


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), deepest first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found[::-1]


def kill_when_mid_cell(proc: subprocess.Popen, shared: Path, timeout_s: float = 600) -> None:
    """SIGKILL KILLED's job, its whole process tree (a node lost), once its cell has checkpointed
    an epoch."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None:
        jobs = json.loads((shared / "jobs.json").read_text()) if (shared / "jobs.json").is_file() else {}
        checkpoints = list((shared / "checkouts").glob(f"*/{KILLED.replace('@', '_')}/resume/*/state.pt"))
        if KILLED in jobs and checkpoints:
            pid = int(jobs[KILLED]["job_id"])
            for victim in [*descendants(pid), pid]:
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return
        time.sleep(0.2)
    pytest.fail(f"{KILLED} never checkpointed mid-cell")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The plain study; the study as jobs, with one killed, then rerun; then `dvc repro` in its workspace."""
    base = tmp_path_factory.mktemp("cluster")
    plain = dvc_repo(base / "plain", supervised)
    workspace = committed(dvc_repo(base / "workspace", supervised))
    shared = base / "shared"
    # The plain study runs while the server starts (it logs to its own SQLite file: sh() leaves
    # MLFLOW_TRACKING_URI out).
    with mlflow_server(base, meanwhile=lambda: sh(plain, "dvc", "repro")) as uri:
        env = stage_env(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", MLFLOW_TRACKING_URI=uri)
        command = [sys.executable, str(ROOT / "scripts" / "cluster.py"), "--executor", "local", "--jobs", "2"]
        command += ["--folder", str(shared), "--time-min", "30"]
        first = subprocess.Popen(
            command, cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        kill_when_mid_cell(first, shared)
        out, err = first.communicate(timeout=600)
        killed = {"returncode": first.returncode, "stdout": out, "stderr": err}
        again = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True, timeout=600)
        repro = subprocess.run([str(BIN / "dvc"), "repro"], cwd=workspace, env=env, capture_output=True, text=True)
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("cluster")
        found = client.search_runs([experiment.experiment_id], max_results=200)
        yield {"plain": plain, "workspace": workspace, "shared": shared, "killed": killed, "again": again}, repro, found


def submitted(output: str) -> set[str]:
    return {line.split()[2] for line in output.splitlines() if line.startswith("cluster: submitted ")}


def test_a_killed_job_is_named_with_its_log_and_only_it_is_resubmitted_and_resumes(runs):
    done, _, _ = runs
    killed, again = done["killed"], done["again"]
    assert killed["returncode"] == 2, killed["stderr"][-3000:]
    assert submitted(killed["stdout"]) == JOBS  # the first run submitted every job stage
    [failed] = [line for line in killed["stderr"].splitlines() if line.startswith("cluster: failed: ")]
    log = Path(failed.split(": ", 3)[3])
    assert failed.startswith(f"cluster: failed: {KILLED}: ") and log.is_file()
    assert again.returncode == 0, again.stderr[-3000:]
    assert submitted(again.stdout) == {KILLED}  # the rest came from the cache
    logs = sorted(log.parent.glob("*_log.err"), key=lambda p: p.stat().st_mtime)
    assert any(f"resume: {KILLED} continues after epoch" in p.read_text() for p in logs), "the cell started over"


def test_the_workspace_restores_every_job_and_runs_only_the_report(runs):
    done, repro, _ = runs
    assert repro.returncode == 0, repro.stderr[-3000:]
    ran = [line for line in repro.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == ["Running stage 'aggregate':"], repro.stdout[-3000:]
    ours = json.loads((done["workspace"] / "reports" / "metrics.json").read_text())
    plain = json.loads((done["plain"] / "reports" / "metrics.json").read_text())
    assert ours == plain


def test_the_server_holds_one_finished_run_per_stage_under_one_study(runs):
    _, _, found = runs
    cells = [r for r in found if r.data.tags.get("dvc.stage") in JOBS - {"prepare"}]
    # one each: the killed cell's resumed job continued its run rather than starting another
    assert sorted(r.data.tags["dvc.stage"] for r in cells) == sorted(JOBS - {"prepare"})
    assert all(r.info.status == "FINISHED" for r in cells)
    [study] = [r for r in found if r.data.tags.get("study_parent") == "true"]
    assert {r.data.tags["mlflow.parentRunId"] for r in cells} == {study.info.run_id}


def test_the_slurm_script_in_the_docs_is_what_submitit_writes(tmp_path):
    workspace = committed(dvc_repo(tmp_path / "workspace", supervised))
    command = [sys.executable, str(ROOT / "scripts" / "cluster.py"), "--folder", str(tmp_path / "shared")]
    command += ["--show-slurm-script", KILLED, "--partition", "gpu", "--gpus-per-job", "1", "--cpus-per-job", "8"]
    command += ["--time-min", "600"]
    done = subprocess.run(command, cwd=workspace, env=stage_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    commit = sh(workspace, "git", "rev-parse", "HEAD").strip()
    logs = tmp_path / "shared" / "logs" / commit[:12]
    script = done.stdout.replace(str(logs), "<folder>/logs/<commit>").replace(
        sys.executable, "<this environment's python>"
    )
    flags = ("--partition=gpu", "--gpus-per-node=1", "--cpus-per-task=8", "--time=600", f"--job-name=prune-{KILLED}")
    assert all(f"#SBATCH {flag}" in script for flag in flags), script
    docs = (ROOT / "docs" / "scaling.md").read_text()
    assert script in docs, script  # docs/scaling.md shows this very script
    assert not logs.exists()  # showing it submitted nothing and wrote nothing there
    typo = subprocess.run(
        [*command[:5], "train@emp-0.9-0"], cwd=workspace, env=stage_env(), capture_output=True, text=True, timeout=120
    )
    assert typo.returncode == 2 and typo.stdout == ""
    [line] = typo.stderr.strip().splitlines()  # one line, naming the typo and a stage that exists
    assert line.startswith("error: --show-slurm-script: 'train@emp-0.9-0' is not a stage that runs as a job here"), line
    assert line.split("e.g. ")[1].strip("'") in JOBS, line
