"""Per-epoch checkpoints of a training stage, so that a stage killed mid-run resumes where it stopped.

A stage cell (warmup, full@0, train@emp-0.7-0, pretrain@emp-0.7, ...) checkpoints at every epoch
end into <root>/<stage>/state.pt (the study's root: resume/): model and optimizer, the statistics table (visit counts
included), the epoch plan's current subset, the history so far, the RNG states, the elapsed
time and the MLflow run id. The folder is outside DVC's outputs on purpose: DVC deletes a
stage's outputs before it reruns the stage.

Every random draw of a run comes from a stream keyed by (seed, epoch, purpose), so the epochs
after a resume are exactly those of an uninterrupted run. A checkpoint is keyed by a
fingerprint of everything that determines the run (params, prepared dataset, warm-up
checkpoint, cell): a run with other inputs starts over instead of resuming a stranger's state.
A finished stage deletes its folder.

A stage killed outright (SIGKILL, a lost machine) cannot clean up after itself, and DVC may
never run it again: with unchanged inputs `dvc repro` restores its outputs from the run cache.
So each folder names its owner (process, host, MLflow run, and the file whose presence marks the
cell finished), and `sweep`, which every later stage runs first, removes the folders of dead
owners whose cell is finished since, and returns the runs of every dead owner to be closed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import torch

from ..core import timing
from ..core.io import save_torch


def fingerprint(**inputs: Any) -> str:
    """A digest of the run's inputs (JSON-able values)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


OWNER = "owner.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep(root: Path) -> list[str]:
    """The MLflow runs of checkpoint folders under `root` whose owner process on this host is
    dead; of those, the folders whose cell has finished since (its done file is newer) go."""
    dead_runs = []
    for owner_file in sorted(root.glob(f"*/{OWNER}")):
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            continue  # being written, or removed meanwhile
        if owner.get("host") != socket.gethostname() or _alive(owner["pid"]):
            continue
        if owner.get("run_id"):
            dead_runs.append(owner["run_id"])
        done = Path(owner["done"]) if owner.get("done") else None
        if done is not None and done.is_file() and done.stat().st_mtime > owner_file.stat().st_mtime:
            shutil.rmtree(owner_file.parent, ignore_errors=True)
    return dead_runs


class Resume:
    """One stage cell's checkpoint folder. `done`: the output file whose presence marks the cell
    finished (see sweep)."""

    def __init__(self, stage: str, key: str, root: Path, main: bool = True, done: Path | None = None):
        self.main = main  # under torchrun, only rank 0 writes; every rank reads
        self.folder = root / stage
        self.path = self.folder / "state.pt"
        self.done = done
        self.key = key
        self.run_id: str | None = None  # the MLflow run the checkpoints belong to
        self.stale_run_id: str | None = None  # the run of a discarded checkpoint (to mark FAILED)
        self.state = self._load()
        if self.state is not None:
            self.run_id = self.state["run_id"]
            self._say(f"{stage} continues after epoch {self.state['epoch']} from {self.path}")

    def _say(self, message: str) -> None:
        if self.main:
            print(f"resume: {message}", file=sys.stderr)

    @timing.timed("checkpoints")
    def _load(self) -> dict | None:
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # a checkpoint is written atomically, but the disk may still fail
            self._say(f"{self.path} is unreadable ({type(err).__name__}): starting over")
            return None
        if state.get("key") != self.key:
            self._say(f"{self.path} belongs to a run with other params or inputs: starting over")
            self.stale_run_id = state.get("run_id")
            return None
        return state

    def claim(self, run_id: str) -> None:
        """This process owns the folder now, logging to MLflow run `run_id`."""
        self.run_id = run_id
        if self.main:
            self.folder.mkdir(parents=True, exist_ok=True)
            done = None if self.done is None else str(self.done.resolve())
            owner = {"pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id, "done": done}
            (self.folder / OWNER).write_text(json.dumps(owner))

    @timing.timed("checkpoints")
    def save(self, state: dict) -> None:
        if self.main:
            save_torch(self.path, {**state, "key": self.key, "run_id": self.run_id})

    @timing.timed("checkpoints")
    def clear(self) -> None:
        if self.main:
            shutil.rmtree(self.folder, ignore_errors=True)
