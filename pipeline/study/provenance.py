"""Where a run comes from, as MLflow tags: the commit, the script, the user, the DVC stage and
experiment."""

from __future__ import annotations

import functools
import getpass
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .store import repo_root

# The tags that find a study: its parent run, its prepared dataset, and the hash of its params.
PARENT_TAG = "study_parent"
DATASET_TAG = "dataset_md5"
STUDY_TAG = "study.params_hash"
NOTE_TAG = "mlflow.note.content"  # a run's description in the UI (Markdown)
SOURCE_TAG = "mlflow.source.name"  # the UI's Source column


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
