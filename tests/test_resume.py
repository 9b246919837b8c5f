"""A training stage killed with SIGKILL and rerun resumes from its last epoch checkpoint, continues
its MLflow run, and ends exactly where an uninterrupted run ends."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import BIN, dvc_repo, sh, stage_env
from mlflow.tracking import MlflowClient

from pipeline.training import resume

pytestmark = pytest.mark.slow  # runs the stages or several processes: minutes in all

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {
    "data": {"dataset": "digits"},
    "runtime": {"device": "cpu"},
    "train": {"epochs": 8, "warmup_epochs": 4, "batch_size": 32, "lr": 0.05},
    "tracking": {"experiment": "resume"},
}
# The only values a resumed run may differ in: its times, and the load average its cell ended with.
TIMES = {"wall_time_s", "train_time_s", "epoch_time_s", "load_avg_1m"}


def env(cwd: Path) -> dict:
    return stage_env(DVC_ROOT=str(cwd), OMP_NUM_THREADS="1")


def stage(cwd: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(ROOT / "stages" / script), *args],
        cwd=cwd,
        env=env(cwd),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def killed_at(cwd: Path, line: str, script: str, *args: str) -> None:
    """Run a stage and SIGKILL it as soon as it prints `line` (its progress line for some epoch)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "stages" / script), *args],
        cwd=cwd,
        env=env(cwd),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    seen = []
    for text in proc.stderr:
        seen.append(text)
        if line in text:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)[-2000:]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    ws = tmp_path_factory.mktemp("prepared")
    (ws / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    stage(ws, "prepare.py")
    return ws


def without_times(rows):
    return [{k: v for k, v in row.items() if k not in TIMES} for row in rows]


def runs_of(cwd: Path, dvc_stage: str):
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    exp = client.get_experiment_by_name("resume")
    return client, client.search_runs([exp.experiment_id], f"tags.`dvc.stage` = '{dvc_stage}'")


# (stage script, its arguments, the DVC stage name, the progress line to kill at, its output folder)
CASES = {
    "warmup": ("warmup.py", (), "warmup@0", "warmup@0 epoch 2/4", Path("outputs/warmup/0")),
    "train": (
        "train.py",
        ("--method", "emp", "--rate", "0.7", "--seed", "0"),
        "train@emp-0.7-0",
        "emp@0.7 epoch 6/8",
        Path("outputs/train/emp-0.7-0"),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_killed_stage_resumes_and_ends_as_an_uninterrupted_one(prepared, tmp_path, case):
    script, args, dvc_stage, kill_line, out = CASES[case]
    ws_a, ws_b = tmp_path / "uninterrupted", tmp_path / "killed"
    shutil.copytree(prepared, ws_a)
    if case != "warmup":
        stage(ws_a, "warmup.py")
    shutil.copytree(ws_a, ws_b)

    stage(ws_a, script, *args)
    killed_at(ws_b, kill_line, script, *args)
    state = torch.load(ws_b / "resume" / dvc_stage / "state.pt", weights_only=True)
    assert 0 < state["epoch"] < 8, "the kill came after the run had finished: nothing was resumed"
    assert not (ws_b / out / "metrics.json").exists()
    rerun = stage(ws_b, script, *args)
    assert f"resume: {dvc_stage} continues after epoch {state['epoch']}" in rerun.stderr
    assert not (ws_b / "resume" / dvc_stage).exists()  # a finished stage removes its checkpoints

    a, b = (json.loads((ws / out / "metrics.json").read_text()) for ws in (ws_a, ws_b))
    assert {k: v for k, v in a.items() if k not in TIMES} == {k: v for k, v in b.items() if k not in TIMES}
    if case == "warmup":
        ck_a, ck_b = (torch.load(ws / out / "checkpoint.pt", weights_only=True) for ws in (ws_a, ws_b))
        assert without_times(ck_a["history"]) == without_times(ck_b["history"])
        for key in ck_a["stats"]:
            if key != "momentum":
                assert torch.equal(ck_a["stats"][key], ck_b["stats"][key]), key
        for key, value in ck_a["state"]["model"].items():
            assert torch.equal(value, ck_b["state"]["model"][key]), key
    else:
        history = [json.loads((ws / out / "history.json").read_text()) for ws in (ws_a, ws_b)]
        assert without_times(history[0]) == without_times(history[1])
        assert torch.equal(torch.load(ws_a / out / "visits.pt"), torch.load(ws_b / out / "visits.pt"))

    # MLflow: one run for the cell, continued, each epoch logged once, params as in the uninterrupted run.
    (client_a, (run_a,)), (client_b, runs_b) = runs_of(ws_a, dvc_stage), runs_of(ws_b, dvc_stage)
    assert len(runs_b) == 1 and runs_b[0].info.status == "FINISHED"
    run_b = runs_b[0]
    assert run_b.info.run_id == state["run_id"]
    assert run_b.data.params == run_a.data.params
    for metric in ("train_loss", "test_acc"):
        steps_a = [(m.step, m.value) for m in client_a.get_metric_history(run_a.info.run_id, metric)]
        steps_b = [(m.step, m.value) for m in client_b.get_metric_history(run_b.info.run_id, metric)]
        assert sorted(steps_b) == sorted(steps_a), metric
        assert len({s for s, _ in steps_b}) == len(steps_b), f"{metric}: an epoch was logged twice"


def test_dvc_repro_after_a_kill_resumes(tmp_path):
    """What a user meets: `dvc repro` killed with its whole process group (a dead machine, a
    terminal closed), then `dvc repro` again: DVC clears its stale locks and the stage resumes."""

    def edit(params):
        params["train"].update(PARAMS["train"])
        params["tracking"]["experiment"] = "resume"

    repo = dvc_repo(tmp_path, edit)
    env = stage_env(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        ["dvc", "repro", "warmup"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = []
    for text in proc.stdout:
        seen.append(text)
        if "warmup@0 epoch 3/4" in text:  # the warm-up counts to its W = 4 epochs
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)[-2000:]
    state = torch.load(repo / "resume" / "warmup@0" / "state.pt", weights_only=True)
    warmup_epochs = PARAMS["train"]["warmup_epochs"]
    assert 0 < state["epoch"] < warmup_epochs, "the kill came after the warm-up had finished"

    rerun = sh(repo, "dvc", "repro", "warmup", with_stderr=True)
    assert f"resume: warmup@0 continues after epoch {state['epoch']}" in rerun
    assert (repo / "outputs" / "warmup" / "0" / "checkpoint.pt").exists()
    assert not (repo / "resume" / "warmup@0").exists()
    assert "up to date" in sh(repo, "dvc", "status", "warmup", with_stderr=True)
    client, runs = runs_of(repo, "warmup@0")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].info.run_id == state["run_id"]
    steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "train_loss")]
    assert sorted(steps) == list(range(1, warmup_epochs + 1))  # each epoch logged once over both attempts


def test_a_checkpoint_of_other_inputs_is_not_resumed(tmp_path):
    old = resume.Resume("train@emp-0.7-0", resume.fingerprint(lr=0.1), root=tmp_path)
    old.run_id = "abc"
    old.save({"epoch": 3})
    same = resume.Resume("train@emp-0.7-0", resume.fingerprint(lr=0.1), root=tmp_path)
    assert same.state["epoch"] == 3 and same.run_id == "abc" and same.stale_run_id is None
    other = resume.Resume("train@emp-0.7-0", resume.fingerprint(lr=0.2), root=tmp_path)
    assert other.state is None and other.run_id is None and other.stale_run_id == "abc"
    (tmp_path / "train@emp-0.7-0" / "state.pt").write_bytes(b"not a checkpoint")
    assert resume.Resume("train@emp-0.7-0", resume.fingerprint(lr=0.1), root=tmp_path).state is None
    same.clear()
    assert not (tmp_path / "train@emp-0.7-0").exists()


def test_sweep_closes_dead_owners_and_removes_their_finished_cells(tmp_path):
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead_pid.stdout)  # a process that has ended
    done = tmp_path / "out" / "metrics.json"
    cells = {}
    for stage, run_id in (("finished", "r1"), ("unfinished", "r2"), ("alive", "r3")):
        cells[stage] = resume.Resume(stage, "k", tmp_path / "resume", done=done if stage != "unfinished" else None)
        cells[stage].claim(run_id)
    for stage in ("finished", "unfinished"):  # their processes died without a word
        owner = tmp_path / "resume" / stage / resume.OWNER
        owner.write_text(json.dumps({**json.loads(owner.read_text()), "pid": dead_pid}))
    done.parent.mkdir()
    done.write_text("{}")  # written after the owner: DVC restored the finished cell's outputs
    os.utime(done, (done.stat().st_atime, (tmp_path / "resume" / "finished" / resume.OWNER).stat().st_mtime + 1))
    assert resume.sweep(tmp_path / "resume") == ["r1", "r2"]
    assert not (tmp_path / "resume" / "finished").exists()  # nothing left to resume
    assert (tmp_path / "resume" / "unfinished").exists()  # may still resume when its stage reruns
    assert (tmp_path / "resume" / "alive").exists()  # this process owns it


def test_a_killed_cell_restored_by_dvc_leaves_no_running_run_or_checkpoint(prepared, tmp_path):
    """A cell killed outright whose outputs DVC then restores from its run cache (`dvc repro` with
    unchanged inputs runs no code for it): the next stage that runs closes its MLflow run and
    removes its checkpoint."""
    ws = tmp_path / "ws"
    shutil.copytree(prepared, ws)
    stage(ws, "warmup.py")
    script, args, dvc_stage, line, out = CASES["train"]
    killed_at(ws, line, script, *args)
    _, runs = runs_of(ws, dvc_stage)
    assert [r.info.status for r in runs] == ["RUNNING"] and (ws / "resume" / dvc_stage).exists()
    finished = ws / out / "metrics.json"  # what DVC's restore brings back, after the kill
    finished.parent.mkdir(parents=True, exist_ok=True)
    finished.write_text("{}")
    owner = ws / "resume" / dvc_stage / resume.OWNER
    os.utime(finished, (owner.stat().st_atime, owner.stat().st_mtime + 1))
    stage(ws, "train.py", "--method", "random", "--rate", "0.7", "--seed", "0")  # the next stage to run
    _, runs = runs_of(ws, dvc_stage)
    assert [r.info.status for r in runs] == ["KILLED"]
    assert not (ws / "resume" / dvc_stage).exists()
