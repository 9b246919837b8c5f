"""`make ui` (scripts/ui.py) against a real store and a real `mlflow ui`: after `make demo` alone the
store holds only the demo's experiment, and the script prints that experiment's address, which
the UI then serves."""

import os
import select
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, stop_group
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow  # starts the MLflow UI: seconds

ROOT = Path(__file__).resolve().parents[1]


def lines(proc, n: int, deadline: float) -> list[str]:
    """The first n lines the process prints, or a failure at the deadline (never a hang)."""
    out = b""
    while out.count(b"\n") < n:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"scripts/ui.py printed {out!r} and then nothing"
        chunk = os.read(proc.stdout.fileno(), 4096)
        assert chunk, f"scripts/ui.py ended after printing {out!r}"
        out += chunk
    return out.decode().splitlines()[:n]


def test_make_ui_after_the_demo_alone_prints_the_demos_address(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    demo = MlflowClient(uri).create_experiment("data-pruning-smoke")  # what `make demo` leaves behind
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [sys.executable, "scripts/ui.py", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the UI's workers are stopped with it, whatever they are doing
    )
    try:
        first, second = lines(proc, 2, time.monotonic() + 120)
        # params.yaml's experiment does not exist yet: said, and the one that does is offered
        assert first.startswith("ui: no experiment 'data-pruning' (params.yaml) yet")
        address = f"http://127.0.0.1:{port}/#/experiments/{demo}"
        assert second.startswith(f"ui: data-pruning-smoke: {address}")
        deadline = time.monotonic() + 180  # a server's imports take a minute on a busy machine
        while True:  # the UI answers at that address
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    assert page.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the MLflow UI did not start"
                time.sleep(0.5)
    finally:
        stop_group(proc)
