"""What users see in the MLflow UI: the page `make ui` points at, rendered by headless Chromium,
lists the study's runs grouped by method with their tags; the runs screenshot's view lists the
latest study's EMP and InfoBatch runs; neither shows the Assistant panel (skipped where Chromium
is absent)."""

import os
import runpy
import shutil
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.study import config, stage_runs, store, tracking, views

pytestmark = [
    pytest.mark.slow,  # starts mlflow ui and a browser: about 30 s
    pytest.mark.skipif(
        not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
        reason="Chromium is not installed (apt-get install chromium)",
    ),
]

ROOT = Path(__file__).resolve().parents[1]
META = {"name": "digits", "train_size": 1347, "test_size": 450, "image_shape": [1, 8, 8], "md5": "1" * 32}


def _log(cfg, meta, method, rate, seed):
    tags = {"task": "supervised", "method": method, "rate": rate, "seed": seed}
    name = f"{method}-{rate}-{seed}"
    with stage_runs.stage_run(cfg, meta, stage=f"train@{name}", run_name=name, tags=tags) as run:
        run.log_metrics({"test_acc": 0.8 + seed / 100, "achieved_saving": 0.467})


def test_the_runs_pages_list_the_study_grouped_by_method(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(sys, "argv", [str(ROOT / "stages" / "train.py")])
    cfg = config.from_dict({"data": {"dataset": "digits"}, "tracking": {"experiment": "ui-check"}})
    older = {**META, "md5": "0" * 32}  # another prepared dataset: another, older study
    stage_runs.create_study(cfg, older)
    _log(cfg, older, "emp", 0.7, 5)
    stage_runs.create_study(cfg, META)
    for method in ("random", "infobatch", "emp"):
        for seed in (0, 1):
            _log(cfg, META, method, 0.7, seed)
    _log(cfg, META, "emp", 0.5, 0)
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # as when run: it imports ui.py from beside it
    ui = runpy.run_path(str(ROOT / "scripts" / "ui_screenshot.py"))
    uri = store.tracking_uri()
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("ui-check").experiment_id
    key, parent = views.latest_study(client, experiment_id)
    assert parent.data.tags[tracking.STUDY_TAG] == key and parent.info.run_name.endswith(key[:8])
    view, rows = ui["study_view"](client, experiment_id, key)
    assert rows == 3 + 4 + 1  # three groups, EMP's and InfoBatch's runs at 0.7, the parent
    with ui["mlflow_ui"](uri) as base, ui["saved_view"](client, experiment_id, "docs", view), ui["browser"]() as page:
        dom = page.render(views.runs_url(base, experiment_id), tmp_path / "runs.png", "matching runs")
        url = views.runs_url(base, experiment_id, "docs")
        docs = page.render(url, None, "matching runs", ui["table_height"](rows))
        # `make ui` points the study view at the latest study: the older study's run leaves it.
        assert views.show_latest_study(client, experiment_id) == key
        latest = page.render(views.runs_url(base, experiment_id), None, "matching runs")
    assert views.VIEW_TAG + "docs" not in client.get_experiment(experiment_id).tags  # removed afterwards
    for name in ("random-0.7-0", "random-0.7-1", "emp-0.7-0", "emp-0.7-1", "emp-0.7-5"):
        assert name in dom, f"{name} is not on the page"
    assert "Group: emp" in dom and "Group: random" in dom  # the saved view groups the cells by method
    assert "emp-0.7-0" in latest and "emp-0.7-5" not in latest
    assert "supervised" in dom and "train.py" in dom  # the task tag and the Source column
    assert (tmp_path / "runs.png").read_bytes()[:4] == b"\x89PNG" and os.path.getsize(tmp_path / "runs.png") > 20_000
    # The screenshot's view: the latest study at its largest rate, EMP's and InfoBatch's runs, the others' means.
    for name in ("emp-0.7-0", "emp-0.7-1", "infobatch-0.7-0", "infobatch-0.7-1", "Group: random"):
        assert name in docs, f"{name} is not on the screenshot's page"
    for name in ("random-0.7-0", "emp-0.7-5", "emp-0.5-0"):  # random's group closed; another study; another rate
        assert name not in docs, f"{name} is on the screenshot's page"
    for page_dom in (dom, docs):  # the Assistant is there, closed to its button: no panel
        assert "data-assistant-ui" in page_dom and "mlflow.assistant.chat_panel" not in page_dom
