"""What users see in the MLflow UI: the page `make ui` points at, rendered by headless Chromium,
lists the study's runs grouped by method with their tags (skipped where Chromium is absent)."""

import os
import runpy
import shutil
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.study import config, stage_runs, store, tracking

pytestmark = [
    pytest.mark.slow,  # starts mlflow ui and a browser: about 30 s
    pytest.mark.skipif(
        not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
        reason="Chromium is not installed (apt-get install chromium)",
    ),
]

ROOT = Path(__file__).resolve().parents[1]
META = {"name": "digits", "train_size": 1347, "test_size": 450, "image_shape": [1, 8, 8], "md5": "1" * 32}


def test_the_runs_page_lists_the_study_grouped_by_method(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(sys, "argv", [str(ROOT / "stages" / "train.py")])
    cfg = config.from_dict({"data": {"dataset": "digits"}, "tracking": {"experiment": "ui-check"}})
    stage_runs.create_study(cfg, META)
    for method in ("random", "emp"):
        for seed in (0, 1):
            tags = {"task": "supervised", "method": method, "rate": 0.7, "seed": seed}
            with stage_runs.stage_run(
                cfg, META, f"train@{method}-0.7-{seed}", f"{method}-0.7-{seed}", tags=tags
            ) as run:
                run.log_metrics({"test_acc": 0.8 + seed / 100, "achieved_saving": 0.467})
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # as when run: it imports ui.py from beside it
    ui = runpy.run_path(str(ROOT / "scripts" / "ui_screenshot.py"))
    uri = store.tracking_uri()
    experiment = MlflowClient(uri).get_experiment_by_name("ui-check")
    with ui["mlflow_ui"](uri) as base:
        dom = ui["render"](tracking.runs_url(base, experiment.experiment_id), tmp_path / "runs.png")
    for name in ("random-0.7-0", "random-0.7-1", "emp-0.7-0", "emp-0.7-1"):
        assert name in dom, f"{name} is not on the page"
    assert "Group: emp" in dom and "Group: random" in dom  # the saved view groups the cells by method
    assert "supervised" in dom and "train.py" in dom  # the task tag and the Source column
    assert (tmp_path / "runs.png").read_bytes()[:4] == b"\x89PNG" and os.path.getsize(tmp_path / "runs.png") > 20_000
