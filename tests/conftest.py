import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# One computing thread per process, set before torch is imported here and inherited by every
# stage, server and script the tests start: the suite runs two workers on a 2-core machine, where
# OpenMP threads of several processes spin each other out (a 1.3 s cell took 13.5 s with 2 threads).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
import yaml  # noqa: E402

from pipeline.core import data
from pipeline.study import config
from pipeline.study.grids import SUPERVISED

# Where the stage scripts' helpers live (_stage.py, the warm launcher): `import _launch` in the tests.
# Appended, so that no stage script's name shadows an installed module.
sys.path.append(str(Path(__file__).resolve().parents[1] / "stages"))


@pytest.fixture(autouse=True)
def _fixed_threads():
    # Results must not depend on how many cores the test machine has.
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def digits():
    return data.load_digits()


def tiny_config(*, methods: dict | None = None, study: dict | None = None, **overrides) -> config.Config:
    """Digits on the CPU, a short schedule; `overrides` of train's keys or runtime's; `methods` and
    `study`: those sections, where given."""
    t = {"epochs": 6, "warmup_epochs": 2, "batch_size": 64, "lr": 0.1, "crop_padding": 1, "hflip": False}
    runtime = {"device": "cpu", **{k: overrides.pop(k) for k in config.RUNTIME_KEYS if k in overrides}}
    sections = {"methods": methods, "study": study}
    return config.from_dict(
        {
            "data": {"dataset": "digits"},
            "runtime": runtime,
            "train": {**t, **overrides},
            **{k: v for k, v in sections.items() if v is not None},
        }
    )


@pytest.fixture(scope="session")
def digits_warmup(digits):
    torch.set_num_threads(1)
    cfg = tiny_config()
    return cfg, SUPERVISED.setup(cfg).warmup(digits)


def stage_env(**extra: str) -> dict:
    """The environment for a stage subprocess: this one without DVC's, MLflow's or pytest's
    variables, plus `extra`. Without pytest's (the current test's name, the worker's), every study
    the tests run in that environment shares one warm server (stages/_launch.py), whichever test
    and worker runs it: its imports are paid once, not once per study."""
    dropped = ("DVC_", "MLFLOW_", "PYTEST_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(dropped)}, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def sh(cwd, *cmd, with_stderr=False):
    """Run a command of the project's environment (dvc, git) in `cwd`; it must succeed. The timeout
    only guards against a hang: the tiny study's ~30 stages took over 600 s on a loaded 2-core machine."""
    env = stage_env(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr if with_stderr else proc.stdout


def dvc_repo(repo: Path, edit) -> Path:
    """A git + DVC repository at `repo` holding the project's pipeline, with the tiny study as its
    params.yaml: the demo's (params/smoke.yaml: digits, a few epochs, every kind of stage), changed
    by `edit(params)` (a function that edits the loaded dict in place: each test says only what
    it needs otherwise)."""
    if shutil.which("dvc", path=str(BIN)) is None:
        pytest.fail("dvc is not installed in this environment: run `make setup`")
    for item in (
        "pipeline",
        "dynaprune",
        "stages",
        "scripts",
        "dvc.yaml",
        "params.yaml",
        "pyproject.toml",
        "README.md",
        ".dvcignore",
    ):
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, repo / item, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        else:
            shutil.copy(src, repo / item)
    params = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text())
    edit(params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(repo, "git", "init", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    sh(repo, "dvc", "init", "-q")
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")  # the project's plot templates
    return repo


@contextlib.contextmanager
def mlflow_server(home: Path, *, meanwhile: Callable[[], object] | None = None) -> Iterator[str]:
    """A real `mlflow server` on loopback (SQLite and an artifact folder in `home`): its URI, once
    it answers. `meanwhile()`, when given, runs while the server starts up (its imports and database
    take tens of seconds on a busy machine)."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += [
        "--backend-store-uri",
        f"sqlite:///{home / 'team.db'}",
        "--artifacts-destination",
        str(home / "artifacts"),
    ]
    with open(home / "server.log", "w") as log:
        # its own session: stopped with its workers below, whatever they are doing
        proc = subprocess.Popen(command, cwd=home, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        if meanwhile is not None:
            meanwhile()
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"mlflow server did not start: {(home / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield uri
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen) -> None:
    """Stops a process started with start_new_session=True and everything it started."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def pytest_collection_modifyitems(items: list) -> None:
    """The slow test files first: pytest-xdist hands out files in this order, so the longest work
    starts at once and the short files fill the gaps, instead of a slow file starting last and
    leaving the other worker idle (the order within a file is kept)."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)
