"""One grid cell per GPU on a multi-GPU machine.

With several GPUs, no torchrun and `runtime.device: auto`, a stage takes the first GPU that no
other stage holds: an exclusive lock per GPU, held until the process exits (the operating system
releases it even after a kill). So `dvc queue start -j <number of GPUs>` runs one experiment's
stage on each GPU, and a stage that finds every GPU taken waits for one.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

LOCK_DIR = Path(os.environ.get("EMP_GPU_LOCK_DIR", tempfile.gettempdir()))

_held: dict[int, IO] = {}  # this process's claimed GPU, with its lock file kept open


def claim(count: int, lock_dir: Path = LOCK_DIR, poll_s: float = 5.0) -> int:
    """The index of a GPU (of `count`) that no other process holds; waits while all are held."""
    if _held:
        return next(iter(_held))
    waiting = False
    while True:
        for index in range(count):
            handle = open(lock_dir / f"emp-pruning-gpu{index}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            _held[index] = handle
            return index
        if not waiting:
            print(f"gpus: all {count} GPUs are held by other stages; waiting for one", file=sys.stderr, flush=True)
            waiting = True
        time.sleep(poll_s)


def release() -> None:
    for handle in _held.values():
        handle.close()
    _held.clear()
