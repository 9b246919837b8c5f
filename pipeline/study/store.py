"""Where the MLflow store is, and a client that reaches it safely.

The default store is SQLite: `mlflow.db` at the repository root, artifacts in `mlartifacts/`
beside it (an absolute location, so runs read from anywhere find their files). The root is
DVC_ROOT, which DVC sets for every stage, pointing at the parent repository even for queued
experiments that run in a temporary copy; outside DVC it is the working directory.
MLFLOW_TRACKING_URI, when set, wins (a team's tracking server).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from mlflow.tracking import MlflowClient

from ..core import timing
from ..core.errors import UserError
from ..core.io import check_writable


def repo_root() -> Path:
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def artifact_location() -> str | None:
    # A server picks its own artifact store; the local store keeps artifacts beside mlflow.db.
    return None if os.environ.get("MLFLOW_TRACKING_URI") else (repo_root() / "mlartifacts").as_uri()


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
def creating_store() -> Iterator[None]:
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
def fluent_store(uri: str) -> Iterator[None]:
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
