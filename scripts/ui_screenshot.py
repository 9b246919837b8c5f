"""What users see in the MLflow UI: start `mlflow ui` on loopback, open the study's runs table
(the view `make ui` prints) and the study's parent run in headless Chromium (Debian's
`chromium`), and save a screenshot of each.

    python scripts/ui_screenshot.py [--out docs/mlflow] [--params params.yaml]
    # -> docs/mlflow-runs.png, docs/mlflow-study-run.png
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from ui import arguments, study_experiment  # ui.py beside this file: a script's folder is on sys.path

from pipeline.core.errors import UserError, exit_on_user_error
from pipeline.study import tracking


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise UserError("Chromium not found: install Debian's package (apt-get install chromium) or put it on PATH")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_ui(uri: str, timeout_s: float = 90) -> Iterator[str]:
    """`mlflow ui` on a free loopback port for the block; yields its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [str(mlflow), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=5).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise UserError(f"mlflow ui did not start on {base} (store {uri})") from None
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)


def run_page(base: str, experiment_id: str, run_id: str) -> str:
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def render(url: str, screenshot: Path | None = None, budget_ms: int = 20000) -> str:
    """The page's DOM once its scripts ran (and, with `screenshot`, a PNG of it)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        common = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--window-size=2000,1000",
            f"--virtual-time-budget={budget_ms}",
        ]
        dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([*common, f"--screenshot={screenshot}", url], capture_output=True, timeout=180, check=True)
    return dom


@exit_on_user_error
def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--out", default="docs/mlflow", help="the screenshots' path prefix (default: docs/mlflow)")
    args = parser.parse_args()
    cfg, uri, client, experiment = study_experiment(args.params)
    if experiment is None:
        raise UserError(f"no experiment '{cfg.tracking.experiment}' in {uri}: run the study first (make study)")
    tracking.Store(cfg.tracking.experiment)  # gives an experiment made before the saved view its tags
    parents = client.search_runs(
        [experiment.experiment_id], f"tags.{tracking.PARENT_TAG} = 'true'", order_by=["start_time DESC"], max_results=1
    )
    with mlflow_ui(uri) as base:
        pages = {f"{args.out}-runs.png": tracking.runs_url(base, experiment.experiment_id)}
        if parents:
            pages[f"{args.out}-study-run.png"] = run_page(base, experiment.experiment_id, parents[0].info.run_id)
        for out, url in pages.items():
            render(url, Path(out))
            print(f"ui_screenshot: {url} -> {out}")


if __name__ == "__main__":
    main()
