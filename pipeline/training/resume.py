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
"""

from __future__ import annotations

import hashlib
import json
import shutil
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


class Resume:
    """One stage cell's checkpoint folder."""

    def __init__(self, stage: str, key: str, root: Path, main: bool = True):
        self.main = main  # under torchrun, only rank 0 writes; every rank reads
        self.folder = root / stage
        self.path = self.folder / "state.pt"
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

    @timing.timed("checkpoints")
    def save(self, state: dict) -> None:
        if self.main:
            save_torch(self.path, {**state, "key": self.key, "run_id": self.run_id})

    @timing.timed("checkpoints")
    def clear(self) -> None:
        if self.main:
            shutil.rmtree(self.folder, ignore_errors=True)
