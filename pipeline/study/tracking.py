"""MLflow tracking: the experiment, the study's parent run, and one run per stage cell (the
store's location and client: pipeline/study/store.py; what a study is: pipeline/study/identity.py).

Every stage cell is one run nested under the study's parent run. The parent belongs to the
study's params and prepared dataset (found by their hash, in its name and tags): a rerun with the
same params joins it, a rerun after a params edit starts a new one, so old and new runs never mix.
Every run carries MLflow's own source tags (commit, script, user), so the UI's Source column and
lineage links work, and `task`, `stage`, `method`, `rate` and `seed` tags to filter by.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ..core import timing
from .identity import Study
from .paths import DATASET_FILE
from .provenance import DATASET_TAG, NOTE_TAG, PARENT_TAG, SOURCE_TAG, STUDY_TAG, run_tags, source_tags
from .store import RetryingClient, artifact_location, creating_store, fluent_store, repo_root, tracking_uri
from .views import experiment_tags

EPOCH_METRIC = "train_loss"  # logged by every training loop at every epoch: how far a run got


def dataset_input(meta: dict, split: str = "train") -> MetaDataset:
    """One split of a prepared dataset as an MLflow dataset (its digest: the file's md5 and the
    split); meta's `file` names it, the image dataset's by default."""
    with warnings.catch_warnings():  # MLflow registers the local-file source twice and warns about it
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(str(repo_root() / meta.get("file", DATASET_FILE)))
    size = meta[f"{split}_size"]
    digest = hashlib.md5(f"{meta['md5']}:{split}".encode()).hexdigest()[:16]
    return MetaDataset(source, name=f"{meta['name']}-{split}-{size}", digest=digest)


class Store:
    """The configured store and experiment (created by the prepare stage, found by the others)."""

    @timing.timed("mlflow")
    def __init__(self, experiment_name: str):
        with creating_store():
            self.client = RetryingClient(MlflowClient(tracking_uri()))
        name = experiment_name
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                self.client.create_experiment(name, artifact_location=artifact_location(), tags=experiment_tags())
            except MlflowException:  # another process created it first
                pass
            experiment = self.client.get_experiment_by_name(name)
        elif not experiment_tags().items() <= experiment.tags.items():  # made before these tags were set
            for key, value in experiment_tags().items():
                self.client.set_experiment_tag(experiment.experiment_id, key, value)
        self.experiment_id = experiment.experiment_id

    def reopen(self, run_id: str) -> str | None:
        """Mark an interrupted run RUNNING again; None if the store no longer has it."""
        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return None
        if run.info.lifecycle_stage == "deleted":
            return None
        self.client.update_run(run_id, status="RUNNING")
        return run_id

    def abandon(self, run_id: str) -> None:
        """An interrupted run that will not be resumed (its params changed) ends as FAILED."""
        with contextlib.suppress(MlflowException):
            self.client.set_terminated(run_id, status="FAILED")

    def end_dead(self, run_ids: list[str]) -> None:
        """Runs whose process died without a word (resume.sweep found them) end as KILLED, unless
        they ended meanwhile; a resumed run is reopened RUNNING (`reopen`)."""
        for run_id in run_ids:
            with contextlib.suppress(MlflowException):
                if self.client.get_run(run_id).info.status == "RUNNING":
                    self.client.set_terminated(run_id, status="KILLED")

    def epochs_logged(self, run_id: str) -> int:
        return max((m.step for m in self.client.get_metric_history(run_id, EPOCH_METRIC)), default=0)

    def study_run_id(self, study: Study) -> str:
        """The parent run of the study with these params on this prepared dataset: found by their
        hash, else created (and left running until aggregate finishes it)."""
        key, meta = study.key, study.meta
        found = self._study_runs(key)
        if found:
            return found[0].info.run_id
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"study {meta['name']} ({meta['train_size']} train) {key[:8]}",
            # Its source is the pipeline (whichever stage happens to create it): dvc.yaml.
            tags={
                PARENT_TAG: "true",
                DATASET_TAG: meta["md5"],
                STUDY_TAG: key,
                "task": "study",
                **source_tags(),
                SOURCE_TAG: "dvc.yaml",
                NOTE_TAG: "Running: the verdict is written here when the study's report stage finishes.",
            },
        )
        # Every param of the study (what its hash digests), and the dataset it ran on.
        StageRun(self.client, run.info.run_id).log_params({**study.params, **_meta_params(meta)})
        self.client.log_inputs(run.info.run_id, datasets=_dataset_entities(meta))
        # Parallel stages (queued experiments) may create the study at once: the oldest one stays.
        first = self._study_runs(key)[0].info.run_id
        if first != run.info.run_id:
            self.client.delete_run(run.info.run_id)
        return first

    def _study_runs(self, key: str) -> list:
        """The parent runs of the study `key`, oldest first (ties by run id)."""
        query = f"tags.{PARENT_TAG} = 'true' and tags.`{STUDY_TAG}` = '{key}'"
        found = self.client.search_runs([self.experiment_id], query, max_results=100)
        return sorted(found, key=lambda r: (r.info.start_time, r.info.run_id))

    def finish_study(self, study: Study, *, metrics: dict[str, float], artifacts: list[Path], description: str) -> str:
        """The study's headline metrics, its report and its verdict in words (the run's description,
        Markdown) on the parent run, which ends now (its duration: the whole study's)."""
        parent = self.study_run_id(study)
        StageRun(self.client, parent).log_metrics(metrics)
        self.client.set_tag(parent, NOTE_TAG, description)
        for path in artifacts:
            self.client.log_artifact(parent, str(path), "report" if path.suffix == ".md" else "report/plots")
        self.client.set_terminated(parent, status="FINISHED")
        return parent


def shown(value: float) -> float:
    """A metric as MLflow stores and shows it: 4 significant digits below 1 (accuracy 0.8123,
    saving 0.4667), 2 decimals above (12.35 s; counts stay whole). The UI prints what it stores,
    and the exact values stay in each stage's metrics.json, which the reports read."""
    value = float(value)
    return float(f"{value:.4g}") if abs(value) < 1 else round(value, 2)


def _meta_params(meta: dict) -> dict[str, Any]:
    shape = {"image_shape": "x".join(map(str, meta["image_shape"]))} if "image_shape" in meta else {}
    return {
        "dataset": meta["name"],
        "train_size": meta["train_size"],
        "test_size": meta["test_size"],
        **shape,
        "dataset_md5": meta["md5"],
    }


def _dataset_entities(meta: dict) -> list[DatasetInput]:
    """The training and test sets, each with its context (what the UI's Datasets column shows)."""
    return [
        DatasetInput(dataset_input(meta, split)._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", split)])
        for split in ("train", "test")
    ]


class StageRun:
    """One stage cell's MLflow run: params once, metrics per epoch, final metrics, artifacts."""

    def __init__(
        self, client: MlflowClient | RetryingClient, run_id: str, epochs_logged: int = 0, log_models: bool = True
    ):
        self.client = client
        self.run_id = run_id
        self.epochs_logged = epochs_logged  # a resumed run does not log these epochs again
        self.log_models = log_models

    def log_params(self, params: dict[str, Any]) -> None:
        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        ts = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, shown(v), ts, step) for k, v in metrics.items()])

    def log_epoch(self, row: dict) -> None:
        """A history row (0-based `epoch`) as metrics at step epoch + 1, i.e. epochs completed."""
        if row["epoch"] + 1 <= self.epochs_logged:
            return
        self.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"] + 1)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    @timing.timed("model_export")
    def log_model(self, model: Any, name: str, input_shape: list[int]) -> None:
        """`model` (a torch module on the CPU) as an MLflow model of this run, unless
        tracking.log_models is off: in the safe graph format (pt2), traced on one zero input of
        `input_shape` (C, H, W), which also gives its signature. Its requirements are given, not
        inferred (inference imports every module the model's code might need, seconds per stage)."""
        if not self.log_models:
            return
        import mlflow
        import mlflow.pytorch
        import numpy as np
        import torch

        example = np.zeros((1, *input_shape), dtype=np.float32)
        with fluent_store(tracking_uri()), warnings.catch_warnings(), mlflow.start_run(run_id=self.run_id):
            warnings.simplefilter("ignore")  # torch.export's notes on specialised dimensions
            mlflow.pytorch.log_model(
                model,
                name=name,
                serialization_format="pt2",
                input_example=example,
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            )


@contextlib.contextmanager
def stage_run(
    study: Study,
    *,
    stage: str,
    run_name: str,
    params: dict[str, Any] | None = None,
    resume_id: str | None = None,
    abandoned_id: str | None = None,
    tags: dict[str, Any] | None = None,
    dead_ids: tuple[str, ...] = (),
) -> Iterator[StageRun]:
    """A run nested under the study's parent: FINISHED when the block completes, FAILED if it raises.

    params: every param the run depends on, flat (pipeline/study/identity.py); resume_id
    continues an interrupted run (no params logged again, no epoch logged twice); abandoned_id
    is an interrupted run that will not be continued, marked FAILED; tags: the run's task,
    method, rate and seed (what the UI filters by); dead_ids: runs whose process died, marked KILLED."""
    store, meta = Store(study.experiment), study.meta
    store.end_dead(dead_ids)
    if abandoned_id:
        store.abandon(abandoned_id)
    run_id = store.reopen(resume_id) if resume_id else None
    if run_id is not None:
        tracked = StageRun(store.client, run_id, store.epochs_logged(run_id), study.log_models)
    else:
        parent = store.study_run_id(study)
        all_tags = {"mlflow.parentRunId": parent, STUDY_TAG: study.key, **run_tags(stage, tags)}
        run_id = store.client.create_run(store.experiment_id, run_name=run_name, tags=all_tags).info.run_id
        tracked = StageRun(store.client, run_id, log_models=study.log_models)
    try:
        if run_id != resume_id:  # a resumed run has its params and inputs already
            tracked.log_params(params or {})
            store.client.log_inputs(run_id, datasets=_dataset_entities(meta))
        yield tracked
    except BaseException:
        store.client.set_terminated(run_id, status="FAILED")
        raise
    store.client.set_terminated(run_id, status="FINISHED")


def create_study(study: Study) -> str:
    """Create the store, experiment and the study's parent run up front (the prepare stage)."""
    return Store(study.experiment).study_run_id(study)
