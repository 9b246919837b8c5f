"""What users see in the MLflow UI: start `mlflow ui` on loopback, open the latest study's runs
table and its parent run in headless Chromium (Debian's `chromium`), and save a screenshot of each.

    python scripts/ui_screenshot.py [--out docs/mlflow] [--params params.yaml]
    # -> docs/mlflow-runs.png, docs/mlflow-study-run.png

The runs table is a saved view of the latest study (the one whose supervised run is newest) at its
largest rate: every method's group collapsed to its means but EMP's and InfoBatch's, which list
their runs. The view is an experiment tag (`make ui`'s is another) set while rendering and then
removed. The MLflow Assistant panel is closed, as for a user who closed it once (CLOSED).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from mlflow.tracking import MlflowClient
from ui import arguments, study_experiment  # ui.py beside this file: a script's folder is on sys.path

from pipeline.core.errors import UserError, exit_on_user_error
from pipeline.study import tracking, views

# MLflow 3.17's UI opens its Assistant panel (a third of the page) by itself on the first visit to
# a loopback server (host localhost, 127.0.0.1 or ::1), unless the browser's localStorage says it
# did so before; it then stays open or closed as localStorage says (keys `<name>_v<version>`).
CLOSED = {"mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true", "mlflow.assistant.panelOpen_v1": "false"}
DOCS_VIEW = "docs"  # the runs screenshot's saved view (views.VIEW_TAG + this), there while rendering
SHOWN = ("emp", "infobatch")  # the methods whose runs the runs screenshot lists (the others: their means)
NAME = "attributes.`Run Name`"
COLUMNS = [*(f"tags.`{t}`" for t in ("method", "rate", "seed")), "metrics.`test_acc`", "metrics.`achieved_saving`"]
WIDTH, HEIGHT = 1600, 900  # the pages' size; the runs table's grows to show its every row (table_height)


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


def _fd_above_9(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium page driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    JSON messages ended by a NUL byte, read from its fd 3, answered on its fd 4), so that localStorage
    is set before the UI's scripts run and a page is captured once it has loaded."""

    def __init__(self, profile: str):
        # Pipe ends numbered 10 or more (bash's redirections take those; dash's do not), so that
        # moving them to 3 and 4 cannot overwrite one.
        command_r, self._command_w, self._reply_r, reply_w = (_fd_above_9(fd) for fd in (*os.pipe(), *os.pipe()))
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--remote-debugging-pipe"]
        argv = [chromium(), *flags, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"]
        self._log = Path(profile) / "chromium.log"
        with self._log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", f'exec "$@" 3<&{command_r} 4>&{reply_w}', "bash", *argv],
                pass_fds=(command_r, reply_w),
                stdout=log,
                stderr=log,
            )
        os.close(command_r)
        os.close(reply_w)
        self._pending, self._id, self._session = b"", 0, None
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.call("Page.enable")  # without it, the script below is not run
            storage = "".join(f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)});" for k, v in CLOSED.items())
            self.call("Page.addScriptToEvaluateOnNewDocument", source=storage)
        except BaseException:
            self.close()
            raise

    def call(self, method: str, **params) -> dict:
        """Send a DevTools command (to the page, once attached) and wait for its answer."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._command_w, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._pending:
                chunk = os.read(self._reply_r, 1 << 20)
                if not chunk:
                    log = self._log.read_text(errors="replace")[-2000:]
                    raise UserError(f"Chromium quit while answering {method}:\n{log}")
                self._pending += chunk
            raw, self._pending = self._pending.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:  # anything else is an event
                if "error" in reply:
                    raise UserError(f"Chromium: {method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def render(self, url: str, screenshot: Path | None = None, until: str = "", height: int = HEIGHT) -> str:
        """The page's DOM once it shows `until` and its text stopped changing (and, with
        `screenshot`, a PNG of it, WIDTH by `height`)."""
        self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url="about:blank")  # a fresh load, not a route change
        self.call("Page.navigate", url=url)
        deadline, seen, same = time.time() + 90, None, 0
        while time.time() < deadline and same < 4:
            time.sleep(0.5)
            text = self.evaluate("document.body ? document.body.innerText : ''") or ""
            same = same + 1 if text == seen and until in text else 0
            seen = text
        if same < 4:
            raise UserError(f"{url} did not finish loading in 90 s (waiting for {until!r})")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return self.evaluate("document.documentElement.outerHTML")

    def close(self) -> None:
        with contextlib.suppress(UserError, OSError):
            self._session = None
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._command_w)
        os.close(self._reply_r)


@contextlib.contextmanager
def browser() -> Iterator[Browser]:
    """A headless Chromium with a throwaway profile for the block."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        page = Browser(profile)
        try:
            yield page
        finally:
            page.close()


def study_view(client: MlflowClient, experiment_id: str, key: str) -> tuple[dict, int]:
    """The runs table of study `key`'s supervised runs at its largest rate, grouped by method: the
    groups of SHOWN open (their runs), the others closed (their means), with COLUMNS; and its rows."""
    query = views.study_filter(key)
    runs = client.search_runs([experiment_id], query, max_results=5000)
    rate = max((r.data.tags["rate"] for r in runs if "rate" in r.data.tags), key=float, default="0")
    methods = {r.data.tags.get("method") for r in runs if r.data.tags.get("rate") == rate} - {None}
    listed = [r for r in runs if r.data.tags.get("rate") == rate and r.data.tags.get("method") in SHOWN]
    view = {
        **views.STUDY_VIEW,
        "searchFilter": f"{query} and tags.rate = '{rate}'",
        "selectedColumns": COLUMNS,
        "groupsExpanded": {f"tag.method.{m}": m in SHOWN for m in sorted(methods)},
        "columnOrder": [NAME, *COLUMNS],  # the UI applies columnWidths to these only
        "columnWidths": dict(zip([NAME, *COLUMNS], (220, 110, 70, 70, 110, 150))),
    }
    return view, len(methods) + len(listed) + 1  # + "Additional runs": the parent, which the UI adds


def table_height(rows: int) -> int:
    """A page tall enough to show a runs table of `rows` rows (32 px each, under 320 px of page
    header and controls and over 64 px of footer), at least HEIGHT."""
    return max(HEIGHT, 320 + 32 * rows + 64)


@contextlib.contextmanager
def saved_view(client: MlflowClient, experiment_id: str, name: str, view: dict) -> Iterator[None]:
    """The view saved in the experiment as `name` for the block (views.runs_url(..., name) opens it)."""
    client.set_experiment_tag(experiment_id, views.VIEW_TAG + name, json.dumps(view))
    try:
        yield
    finally:
        client.delete_experiment_tag(experiment_id, views.VIEW_TAG + name)


@exit_on_user_error
def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--out", default="docs/mlflow", help="the screenshots' path prefix (default: docs/mlflow)")
    args = parser.parse_args()
    cfg, uri, client, experiment = study_experiment(args.params)
    if experiment is None:
        raise UserError(f"no experiment '{cfg.tracking.experiment}' in {uri}: run the study first (make study)")
    tracking.Store(cfg.tracking.experiment)  # gives an experiment made before the saved view its tags
    key, parent = views.latest_study(client, experiment.experiment_id)
    if key is None:
        raise UserError(f"no supervised runs in '{experiment.name}' ({uri}): run the study first (make study)")
    view, rows = study_view(client, experiment.experiment_id, key)
    with mlflow_ui(uri) as base, saved_view(client, experiment.experiment_id, DOCS_VIEW, view), browser() as page:
        table = views.runs_url(base, experiment.experiment_id, DOCS_VIEW)
        pages = {f"{args.out}-runs.png": (table, "matching runs", table_height(rows))}
        if parent is not None:
            parent_page = run_page(base, experiment.experiment_id, parent.info.run_id)
            pages[f"{args.out}-study-run.png"] = (parent_page, "Child runs", HEIGHT)
        for out, (url, until, height) in pages.items():
            page.render(url, Path(out), until, height)
            print(f"ui_screenshot: {url} -> {out}")


if __name__ == "__main__":
    main()
