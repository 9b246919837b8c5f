"""The MLflow runs of the stages that are not grid cells (prepare, linear_eval, dlc, downstream,
the reports): Config resolved into the study and the flat params (pipeline/study/identity.py)
that pipeline/study/tracking.py files them under."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from . import identity, tracking
from .config import Config


def stage_run(
    cfg: Config,
    meta: dict,
    *,
    stage: str,
    run_name: str,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
) -> AbstractContextManager[tracking.StageRun]:
    """The stage's run (tracking.stage_run), with the shared sections it reads and `params`."""
    return tracking.stage_run(
        identity.study(cfg, meta),
        stage=stage,
        run_name=run_name,
        params=identity.stage_params(cfg, meta, params or {}),
        tags=tags,
    )


def create_study(cfg: Config, meta: dict) -> str:
    """The study's parent run, created up front (prepare, nlu_prepare)."""
    return tracking.create_study(identity.study(cfg, meta))


def finish_study(cfg: Config, meta: dict, *, metrics: dict[str, float], artifacts: list[Path], description: str) -> str:
    """The study's headline metrics, report and verdict in words (its description) on its parent
    run, which ends (the reports)."""
    study = identity.study(cfg, meta)
    return tracking.Store(study.experiment).finish_study(
        study, metrics=metrics, artifacts=artifacts, description=description
    )
