"""MLflow tracking: the store, the study's parent run, and one run per stage cell.

The default store is SQLite: `mlflow.db` at the repository root, artifacts in `mlartifacts/`
beside it (an absolute location, so runs read from anywhere find their files). The root is
DVC_ROOT, which DVC sets for every stage, pointing at the parent repository even for queued
experiments that run in a temporary copy; outside DVC it is the working directory.
MLFLOW_TRACKING_URI, when set, wins (a team's tracking server).

Every stage cell is one run nested under the study's parent run. The parent belongs to the
prepared dataset (found by its md5), so cells added later, or rerun in an experiment, join it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag, Metric, Param
from mlflow.tracking import MlflowClient

from .config import Config
from .outputs import DATASET_FILE
from .schema import flatten

PARENT_TAG = "study_parent"
DATASET_TAG = "dataset_md5"


def repo_root() -> Path:
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def _artifact_location() -> str | None:
    # A server picks its own artifact store; the local store keeps artifacts beside mlflow.db.
    return None if os.environ.get("MLFLOW_TRACKING_URI") else (repo_root() / "mlartifacts").as_uri()


def _git_tags() -> dict[str, str]:
    return _git_state(repo_root())


@functools.cache
def _git_state(root: Path) -> dict[str, str]:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    try:
        return {"git.commit": git("rev-parse", "HEAD"),
                "git.dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))).lower()}
    except (OSError, subprocess.SubprocessError):
        return {}  # not a git checkout (e.g. an unpacked release): nothing to record


def run_tags(stage: str) -> dict[str, str]:
    """dvc.stage (DVC_STAGE names the matrix cell, e.g. train@emp-0.7-0), git state, experiment name."""
    tags = {"dvc.stage": os.environ.get("DVC_STAGE", stage), **_git_tags()}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def dataset_input(meta: dict) -> MetaDataset:
    """The prepared dataset as an MLflow dataset whose digest is the file's md5."""
    with warnings.catch_warnings():  # MLflow registers the local-file source twice and warns about it
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(str(repo_root() / DATASET_FILE))
    return MetaDataset(source, name=f"{meta['name']}-{meta['train_size']}", digest=meta["md5"])


class Store:
    """The configured store and experiment, created on first use."""

    def __init__(self, cfg: Config):
        self.client = MlflowClient(tracking_uri())
        name = cfg.tracking.experiment
        experiment = self.client.get_experiment_by_name(name)
        self.experiment_id = (experiment.experiment_id if experiment is not None else
                              self.client.create_experiment(name, artifact_location=_artifact_location()))

    def study_run_id(self, meta: dict) -> str:
        """The parent run of the study on this prepared dataset: found by its md5, else created."""
        query = f"tags.{PARENT_TAG} = 'true' and tags.{DATASET_TAG} = '{meta['md5']}'"
        found = self.client.search_runs([self.experiment_id], query, max_results=1, order_by=["start_time ASC"])
        if found:
            return found[0].info.run_id
        run = self.client.create_run(self.experiment_id, run_name=f"study {meta['name']} ({meta['train_size']} train)",
                                     tags={PARENT_TAG: "true", DATASET_TAG: meta["md5"], **_git_tags()})
        StageRun(self.client, run.info.run_id).log_params(_meta_params(meta))
        self.client.log_inputs(run.info.run_id, datasets=[_dataset_entity(meta)])
        self.client.set_terminated(run.info.run_id)
        return run.info.run_id


def _meta_params(meta: dict) -> dict[str, Any]:
    return {"dataset": meta["name"], "train_size": meta["train_size"], "test_size": meta["test_size"],
            "image_shape": "x".join(map(str, meta["image_shape"])), "dataset_md5": meta["md5"]}


def _dataset_entity(meta: dict) -> DatasetInput:
    return DatasetInput(dataset_input(meta)._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", "train")])


class StageRun:
    """One stage cell's MLflow run: params once, metrics per epoch, final metrics, artifacts."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client = client
        self.run_id = run_id

    def log_params(self, params: dict[str, Any]) -> None:
        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        ts = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), ts, step) for k, v in metrics.items()])

    def log_epoch(self, row: dict) -> None:
        """A history row (0-based `epoch`) as metrics at step epoch + 1, i.e. epochs completed."""
        self.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"] + 1)

    def log_artifact(self, path: str | Path) -> None:
        self.client.log_artifact(self.run_id, str(path))


@contextlib.contextmanager
def stage_run(cfg: Config, meta: dict, stage: str, run_name: str, params: dict[str, Any] | None = None
              ) -> Iterator[StageRun]:
    """A run nested under the study's parent: FINISHED when the block completes, FAILED if it raises."""
    store = Store(cfg)
    parent = store.study_run_id(meta)
    tags = {"mlflow.parentRunId": parent, **run_tags(stage)}
    run = store.client.create_run(store.experiment_id, run_name=run_name, tags=tags)
    tracked = StageRun(store.client, run.info.run_id)
    try:
        tracked.log_params({**config_params(cfg), **(params or {})})
        store.client.log_inputs(run.info.run_id, datasets=[_dataset_entity(meta)])
        yield tracked
    except BaseException:
        store.client.set_terminated(run.info.run_id, status="FAILED")
        raise
    store.client.set_terminated(run.info.run_id, status="FINISHED")


def config_params(cfg: Config) -> dict[str, Any]:
    """The sections every run shares, flattened (data.dataset, train.lr, ...)."""
    return {**flatten(cfg.data, "data."), **flatten(cfg.model, "model."), **flatten(cfg.train, "train."),
            **flatten(cfg.tracking, "tracking.")}


def create_study(cfg: Config, meta: dict) -> str:
    """Create the store, experiment and the study's parent run up front (the prepare stage)."""
    return Store(cfg).study_run_id(meta)
