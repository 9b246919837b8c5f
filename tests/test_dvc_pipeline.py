"""The real `dvc repro` on a tiny params file, in a temporary copy of the repository."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def sh(cwd, *cmd):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    if shutil.which("dvc", path=str(BIN)) is None:
        pytest.fail("dvc is not installed in this environment: run `make setup`")
    repo = tmp_path_factory.mktemp("study")
    for item in ("pipeline", "stages", "dvc.yaml", "params.yaml", "pyproject.toml"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, repo / item)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(dataset="digits", train_size=None)
    params["train"].update(epochs=4, warmup_epochs=1, batch_size=64, lr=0.1, crop_padding=1, hflip=False,
                           device="cpu")
    params["study"] = {"methods": ["random", "emp"], "rates": [0.3, 0.7], "seeds": [0]}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(repo, "git", "init", "-q")
    sh(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init")
    sh(repo, "dvc", "init", "-q")
    sh(repo, "dvc", "repro")
    return repo


def test_repro_writes_every_cell_and_the_report(study):
    cells = ["full-0.0-0", "random-0.3-0", "random-0.7-0", "emp-0.3-0", "emp-0.7-0"]
    for cell in cells:
        metrics = json.loads((study / "outputs" / "train" / cell / "metrics.json").read_text())
        assert 0.5 < metrics["test_acc"] <= 1.0
    emp = json.loads((study / "outputs" / "train" / "emp-0.7-0" / "metrics.json").read_text())
    # N=1347, E=4, W=1, K=round(0.3 N)=404: 1 - (1347 + 3*404) / (4*1347)
    assert emp["achieved_saving"] == pytest.approx(1 - (1347 + 3 * 404) / (4 * 1347))
    report = (study / "reports" / "results.md").read_text()
    for row in ("| full | 0 |", "| random | 0.3 |", "| random | 0.7 |", "| emp | 0.3 |", "| emp | 0.7 |"):
        assert row in report
    assert json.loads((study / "reports" / "metrics.json").read_text())["emp-0.7"]["achieved_saving"] == \
        pytest.approx(emp["achieved_saving"])


def test_adding_a_rate_reruns_only_the_new_cells(study):
    params = yaml.safe_load((study / "params.yaml").read_text())
    params["study"]["rates"].append(0.5)
    (study / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(sh(study, "dvc", "status", "--json"))
    assert set(status) == {"train@random-0.5-0", "train@emp-0.5-0", "aggregate"}
