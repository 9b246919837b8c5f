"""MLflow tracking: the store, the study's parent run, and one run per stage cell.

The default store is SQLite: `mlflow.db` at the repository root, artifacts in `mlartifacts/`
beside it (an absolute location, so runs read from anywhere find their files). The root is
DVC_ROOT, which DVC sets for every stage, pointing at the parent repository even for queued
experiments that run in a temporary copy; outside DVC it is the working directory.
MLFLOW_TRACKING_URI, when set, wins (a team's tracking server).

Every stage cell is one run nested under the study's parent run. The parent belongs to the
study's params and prepared dataset (found by their hash, in its name and tags): a rerun with the
same params joins it, a rerun after a params edit starts a new one, so old and new runs never mix.
Every run carries MLflow's own source tags (commit, script, user), so the UI's Source column and
lineage links work, and `task`, `stage`, `method`, `rate` and `seed` tags to filter by.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
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
from ..core.errors import UserError
from ..core.io import check_writable
from ..core.schema import flatten
from .config import Config
from .paths import DATASET_FILE

PARENT_TAG = "study_parent"
DATASET_TAG = "dataset_md5"
STUDY_TAG = "study.params_hash"
# The experiment tag MLflow 3's UI reads to open an experiment on its runs table (not on GenAI traces).
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
# A saved view of the runs table (MLflow's shared-view mechanism: an experiment tag holding the
# view, opened by `?viewStateShareKey=study`): the supervised cells grouped by method, with their
# source, tags and headline metrics as columns. `make ui` prints its address.
VIEW_KEY = "study"
STUDY_VIEW = {
    "searchFilter": "tags.task = 'supervised'",
    "orderByKey": "attributes.start_time",
    "orderByAsc": True,
    "groupBy": {"aggregateFunction": "average", "groupByKeys": [{"mode": "tag", "groupByData": "method"}]},
    "selectedColumns": [
        "attributes.`Source`",
        *(f"tags.`{t}`" for t in ("task", "method", "rate", "seed", "stage")),
        *(f"metrics.`{m}`" for m in ("test_acc", "achieved_saving", "train_time_s")),
    ],
}


def _experiment_tags() -> dict[str, str]:
    return {**EXPERIMENT_KIND, f"mlflow.sharedViewState.{VIEW_KEY}": json.dumps(STUDY_VIEW)}


def runs_url(base: str, experiment_id: str, view: bool = True) -> str:
    """The experiment's runs table in the UI at `base` (with the study's saved view)."""
    query = f"?viewStateShareKey={VIEW_KEY}&workflowType=machine_learning" if view else "?workflowType=machine_learning"
    return f"{base}/#/experiments/{experiment_id}/runs{query}"


EPOCH_METRIC = "train_loss"  # logged by every training loop at every epoch: how far a run got


def repo_root() -> Path:
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def _artifact_location() -> str | None:
    # A server picks its own artifact store; the local store keeps artifacts beside mlflow.db.
    return None if os.environ.get("MLFLOW_TRACKING_URI") else (repo_root() / "mlartifacts").as_uri()


def _git_tags() -> dict[str, str]:
    return _git_state(repo_root())


def source_tags() -> dict[str, str]:
    """MLflow's system tags for where a run comes from: the commit, the script, the user."""
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    # Relative to the working copy the stage runs in (a DVC experiment's temporary copy included).
    base = next((b for b in (Path.cwd().resolve(), repo_root()) if script and script.is_relative_to(b)), None)
    name = str(script.relative_to(base)) if base else (str(script) if script else "python")
    tags = {"mlflow.source.name": name, "mlflow.source.type": "LOCAL", "mlflow.user": _user()}
    git = _git_tags()
    if "git.commit" in git:
        tags["mlflow.source.git.commit"] = git["git.commit"]
    return {**tags, **git}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name (a container without a passwd entry)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


NLU_GRID = ("study.nlu_datasets", "study.nlu_methods", "study.nlu_rates", "study.nlu_seeds")


def on_text(meta: dict) -> bool:
    """Whether a prepared dataset's metadata is an NLU dataset's (nlu_prepare marks it)."""
    return meta.get("task") == "nlu"


def study_params(cfg: Config, meta: dict) -> dict[str, Any]:
    """The params a study run belongs to, flattened: for an NLU dataset the NLU part's (the nlu
    section, its grid, the methods, train's device settings, tracking), for the image study all
    the others, so that editing one part never starts a new study run for the other."""
    flat = flatten(cfg)
    nlu = lambda k: k.startswith("nlu.") or k in NLU_GRID
    if on_text(meta):
        device = {f"train.{k}" for k in DEVICE_KEYS}
        return {k: v for k, v in flat.items() if nlu(k) or k in device or k.startswith(("methods.", "tracking."))}
    return {k: v for k, v in flat.items() if not nlu(k)}


def study_hash(cfg: Config, meta: dict) -> str:
    """The study's identity: a digest of its params (study_params) and of the prepared dataset."""
    params = {k: str(v) for k, v in study_params(cfg, meta).items()}
    digest = hashlib.sha256(json.dumps({"params": params, "dataset": meta["md5"]}, sort_keys=True).encode())
    return digest.hexdigest()[:10]


@functools.cache
def _git_state(root: Path) -> dict[str, str]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        return {
            "git.commit": git("rev-parse", "HEAD"),
            "git.dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))).lower(),
        }
    except (OSError, subprocess.SubprocessError):
        return {}  # not a git checkout (e.g. an unpacked release): nothing to record


def run_tags(stage: str, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """stage and dvc.stage (DVC_STAGE names the matrix cell, e.g. train@emp-0.7-0), the source tags,
    the DVC experiment's name, and `extra` (task, method, rate, seed)."""
    stage = os.environ.get("DVC_STAGE", stage)
    tags = {"dvc.stage": stage, "stage": stage, **source_tags(), **{k: str(v) for k, v in (extra or {}).items()}}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def dataset_input(meta: dict, split: str = "train") -> MetaDataset:
    """One split of a prepared dataset as an MLflow dataset (its digest: the file's md5 and the
    split); meta's `file` names it, the image dataset's by default."""
    with warnings.catch_warnings():  # MLflow registers the local-file source twice and warns about it
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(str(repo_root() / meta.get("file", DATASET_FILE)))
    size = meta[f"{split}_size"]
    digest = hashlib.md5(f"{meta['md5']}:{split}".encode()).hexdigest()[:16]
    return MetaDataset(source, name=f"{meta['name']}-{split}-{size}", digest=digest)


def check_store() -> None:
    """Refuse, before any work, a store that cannot be reached or created."""
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10).close()
        except urllib.error.HTTPError:
            pass  # it answers (authentication and the like are MLflow's business)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise UserError(
                f"MLFLOW_TRACKING_URI = {uri} is unreachable ({reason}): start the tracking "
                f"server (see README) or unset MLFLOW_TRACKING_URI to log to mlflow.db here"
            ) from None
    elif uri.startswith("sqlite:///"):
        check_writable(uri[len("sqlite:///") :], "the MLflow store")


def _database_locked(err: Exception) -> bool:
    text = str(err).lower()
    return "database is locked" in text or "database table is locked" in text


class RetryingClient:
    """An MlflowClient whose calls are retried, with jittered exponential back-off, while SQLite
    reports the database locked: parallel stages (`dvc queue start -j 2`) share one mlflow.db, and
    SQLite lets one writer in at a time. A failed call's transaction is rolled back, so retrying
    it writes nothing twice."""

    def __init__(self, client: MlflowClient, attempts: int = 10, wait_s: float = 0.1):
        self._client = client
        self._attempts = attempts
        self._wait_s = wait_s

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        @timing.timed("mlflow")
        def call(*args, **kwargs):
            for attempt in range(self._attempts):
                try:
                    return attr(*args, **kwargs)
                except Exception as err:
                    if attempt == self._attempts - 1 or not _database_locked(err):
                        raise
                    time.sleep(self._wait_s * 2 ** min(attempt, 6) * (0.5 + random.random()))
            raise AssertionError("unreachable")

        return call


@contextlib.contextmanager
def _creating_store() -> Iterator[None]:
    """Hold a lock beside a SQLite store while a client opens it: the first client creates and
    migrates its tables, and two doing so at once (queued experiments starting together) fail."""
    uri = tracking_uri()
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    db = Path(uri[len("sqlite:///") :])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + "-init.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _fluent_store(uri: str) -> Iterator[None]:
    """MLflow's fluent API (mlflow.pytorch.log_model) pointed at `uri` for the block only:
    mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI in the environment, which would send
    every later stage process of the same Python session to this store."""
    import mlflow

    saved_env, saved_uri = os.environ.get("MLFLOW_TRACKING_URI"), mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_uri)
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env


class Store:
    """The configured store and experiment (created by the prepare stage, found by the others)."""

    @timing.timed("mlflow")
    def __init__(self, cfg: Config):
        with _creating_store():
            self.client = RetryingClient(MlflowClient(tracking_uri()))
        name = cfg.tracking.experiment
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                self.client.create_experiment(name, artifact_location=_artifact_location(), tags=_experiment_tags())
            except MlflowException:  # another process created it first
                pass
            experiment = self.client.get_experiment_by_name(name)
        elif not _experiment_tags().items() <= experiment.tags.items():  # made before these tags were set
            for key, value in _experiment_tags().items():
                self.client.set_experiment_tag(experiment.experiment_id, key, value)
        self.experiment_id = experiment.experiment_id
        self.cfg = cfg

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

    def epochs_logged(self, run_id: str) -> int:
        return max((m.step for m in self.client.get_metric_history(run_id, EPOCH_METRIC)), default=0)

    def study_run_id(self, meta: dict) -> str:
        """The parent run of the study with these params on this prepared dataset: found by their
        hash, else created (and left running until aggregate finishes it)."""
        key = study_hash(self.cfg, meta)
        found = self._study_runs(key)
        if found:
            return found[0].info.run_id
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"study {meta['name']} ({meta['train_size']} train) {key[:8]}",
            tags={PARENT_TAG: "true", DATASET_TAG: meta["md5"], STUDY_TAG: key, "task": "study", **source_tags()},
        )
        # Every param of the study (what its hash digests), and the dataset it ran on.
        StageRun(self.client, run.info.run_id).log_params({**study_params(self.cfg, meta), **_meta_params(meta)})
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

    def finish_study(self, meta: dict, metrics: dict[str, float], artifacts: list[Path]) -> str:
        """The study's headline metrics and its report on the parent run, which ends now (its
        duration: the whole study's)."""
        parent = self.study_run_id(meta)
        StageRun(self.client, parent).log_metrics(metrics)
        for path in artifacts:
            self.client.log_artifact(parent, str(path), "report" if path.suffix == ".md" else "report/plots")
        self.client.set_terminated(parent, status="FINISHED")
        return parent


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
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), ts, step) for k, v in metrics.items()])

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
        with _fluent_store(tracking_uri()), warnings.catch_warnings(), mlflow.start_run(run_id=self.run_id):
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
    cfg: Config,
    meta: dict,
    stage: str,
    run_name: str,
    params: dict[str, Any] | None = None,
    resume_id: str | None = None,
    abandoned_id: str | None = None,
    tags: dict[str, Any] | None = None,
) -> Iterator[StageRun]:
    """A run nested under the study's parent: FINISHED when the block completes, FAILED if it raises.

    resume_id continues an interrupted run (no params logged again, no epoch logged twice);
    abandoned_id is an interrupted run that will not be continued, marked FAILED; tags: the
    run's task, method, rate and seed (what the UI filters by)."""
    store = Store(cfg)
    if abandoned_id:
        store.abandon(abandoned_id)
    run_id = store.reopen(resume_id) if resume_id else None
    if run_id is not None:
        tracked = StageRun(store.client, run_id, store.epochs_logged(run_id), cfg.tracking.log_models)
    else:
        parent = store.study_run_id(meta)
        all_tags = {"mlflow.parentRunId": parent, STUDY_TAG: study_hash(cfg, meta), **run_tags(stage, tags)}
        run_id = store.client.create_run(store.experiment_id, run_name=run_name, tags=all_tags).info.run_id
        tracked = StageRun(store.client, run_id, log_models=cfg.tracking.log_models)
    try:
        if run_id != resume_id:  # a resumed run has its params and inputs already
            tracked.log_params({**config_params(cfg, images=not on_text(meta)), **(params or {})})
            store.client.log_inputs(run_id, datasets=_dataset_entities(meta))
        yield tracked
    except BaseException:
        store.client.set_terminated(run_id, status="FAILED")
        raise
    store.client.set_terminated(run_id, status="FINISHED")


DEVICE_KEYS = ("device", "amp", "channels_last", "compile", "eval_batch_size")  # of train: every stage's


def config_params(cfg: Config, images: bool = True) -> dict[str, Any]:
    """The sections every run shares, flattened (data.dataset, train.lr, ...); for a run on text
    (`images` False), of train only its device settings."""
    if not images:
        device = {f"train.{k}": getattr(cfg.train, k) for k in DEVICE_KEYS}
        return {**device, **flatten(cfg.tracking, "tracking.")}
    return {
        **flatten(cfg.data, "data."),
        **flatten(cfg.model, "model."),
        **flatten(cfg.train, "train."),
        **flatten(cfg.tracking, "tracking."),
    }


def create_study(cfg: Config, meta: dict) -> str:
    """Create the store, experiment and the study's parent run up front (the prepare stage)."""
    return Store(cfg).study_run_id(meta)
